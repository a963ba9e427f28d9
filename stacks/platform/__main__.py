"""Platform stack `<platform>.<env>`: the program is `modelform.programs.platform_program`."""

import os
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "modules"))  # the package, also without an install

from modelform.programs import run_platform_stack  # noqa: E402

run_platform_stack(REPO_ROOT)
