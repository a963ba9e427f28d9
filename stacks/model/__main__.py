"""Model stack `<model>.<env>`: the program is `modelform.programs.model_program`."""

import os
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "modules"))  # the package, also without an install

from modelform.programs import run_model_stack  # noqa: E402

run_model_stack(REPO_ROOT)
