"""Platform stack `<platform>.<env>`: the program is `modules.programs.platform_program`."""

import os
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, REPO_ROOT)

from modules.programs import run_platform_stack  # noqa: E402

run_platform_stack(REPO_ROOT)
