"""A fleet of specs validates as a whole (the generator of bench/validate_scale.py, which measures
how fast against parsing the YAML alone; timings belong in bench/, not in tests)."""

from __future__ import annotations

import sys


from modelform.spec import load_specs
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import validate_scale  # noqa: E402


def test_thousand_specs_validate(tmp_path):
    """A fleet of 1,000 generated specs validates, every model in every environment; how fast,
    against parsing the YAML alone, is measured by bench/validate_scale.py (timings are no test)."""
    validate_scale.generate(tmp_path, 1000)
    specs = load_specs([str(tmp_path / "specs")], root=str(tmp_path))
    assert specs.errors == []
    assert len(specs.models("prod")) == 1000 and all(m.protect for m in specs.models("prod"))
    assert not any(m.protect for m in specs.models("dev"))
