"""Regenerate the reviewed snapshots: `make snapshots` (then review the diff like code).

- plan-<env>.json: `modelform plan --env <env> --format json` of the fixture specs
  (tests/fixtures/specs, a copy of the samples);
- pipeline-<model>.json: the retraining pipeline definitions of the prod plan, readable.

The code version (the source archive's content hash) is replaced by `<code-version>`: it changes
with every edit of model_code/, which these snapshots are not about; tests pin its format and use.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
CODE_VERSION = re.compile(r"/code/([0-9a-f]{12})/")


def without_code_version(text: str) -> str:
    """Every occurrence of the code version (found where it names the code's S3 prefix)."""
    for version in set(CODE_VERSION.findall(text)):
        text = text.replace(version, "<code-version>")
    return re.sub(r"<code-version>[0-9a-f]{52}", "<code-sha256>", text)  # the archive's full hash


def plan_text(environment: str) -> str:
    sys.path.insert(0, str(REPO))
    from modelform.plan import plan_environment, plan_json
    from modelform.spec import load_specs

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        specs = load_specs(["tests/fixtures/specs"], root=str(REPO))
        return without_code_version(plan_json(plan_environment(specs, environment, progress=False)))
    finally:
        os.chdir(cwd)


def pipelines(plan_document: dict) -> dict[str, str]:
    found = {}
    for stack in plan_document["stacks"]:
        for resource in stack["resources"]:
            if resource["type"] == "aws:sagemaker/pipeline:Pipeline":
                definition = json.loads(resource["inputs"]["pipelineDefinition"])
                found[stack["stack"].rsplit(".", 1)[0]] = json.dumps(definition, indent=2, sort_keys=True) + "\n"
    return found


def main() -> None:
    for environment in ("dev", "staging", "prod"):
        text = plan_text(environment)
        (HERE / f"plan-{environment}.json").write_text(text)
        if environment == "prod":
            for model, definition in pipelines(json.loads(text)).items():
                (HERE / f"pipeline-{model}.json").write_text(definition)


if __name__ == "__main__":
    main()
