"""Model stack `<model>.<env>`: the program is `modules.programs.model_program`."""

import os
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, REPO_ROOT)

from modules.programs import run_model_stack  # noqa: E402

run_model_stack(REPO_ROOT)
