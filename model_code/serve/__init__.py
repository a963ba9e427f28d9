"""`python -m model_code.serve --model-dir DIR [--port 8080]`: the serving container's HTTP server."""
