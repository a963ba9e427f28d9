"""Validating many specs stays fast: a regression guard for bench/validate_scale.py.

Measured against a baseline taken in the same run on the same files (PyYAML's `safe_load` of
every spec), so a busy CI machine slows both sides alike. bench/results/validate_scale.json
records 5-6x; the guard fails only beyond 12x, where a quadratic step or a lost cache would land.
"""

from __future__ import annotations

import sys
import time

import yaml

from modelform.spec import load_specs
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import validate_scale  # noqa: E402

#: How much slower than parsing the YAML alone validation may be.
MAX_RATIO = 12.0


def test_thousand_specs_validate_within_a_multiple_of_parsing_them(tmp_path):
    validate_scale.generate(tmp_path, 1000)
    files = sorted((tmp_path / "specs").glob("*.yaml"))
    started = time.perf_counter()
    for path in files:
        yaml.safe_load(path.read_text())
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    specs = load_specs([str(tmp_path / "specs")], root=str(tmp_path))
    elapsed = time.perf_counter() - started
    assert specs.errors == []
    assert len(specs.models("prod")) == 1000 and all(m.protect for m in specs.models("prod"))
    assert elapsed / baseline < MAX_RATIO, (
        f"validation {elapsed:.2f} s = {elapsed / baseline:.1f}x parsing ({baseline:.2f} s)"
    )
