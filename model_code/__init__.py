"""The code that ships alone into training, serving and monitoring containers.

Imports nothing from `modules/`; its dependencies are in `requirements.txt`. Each entry point
runs both as a script inside a SageMaker container (`python train.py ...`, with this folder as the
working directory) and as part of the package (`python -m model_code.train`, tests).
"""
