"""Write pipeline-<model>.json from plan-prod.json: the retraining pipeline definitions, readable.

Run by `make snapshots` after the plans are regenerated; tests/test_training_pipeline.py
compares the live definitions with these files.
"""

import json
import pathlib

HERE = pathlib.Path(__file__).parent

plan = json.loads((HERE / "plan-prod.json").read_text())
for stack in plan["stacks"]:
    for resource in stack["resources"]:
        if resource["type"] == "aws:sagemaker/pipeline:Pipeline":
            model = stack["stack"].rsplit(".", 1)[0]
            definition = json.loads(resource["inputs"]["pipelineDefinition"])
            (HERE / f"pipeline-{model}.json").write_text(json.dumps(definition, indent=2, sort_keys=True) + "\n")
