"""`python -m modelform` is `modelform`."""

from .cli import run

run()
