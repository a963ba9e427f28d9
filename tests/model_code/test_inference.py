"""The SageMaker serving functions: CSV and JSON round trips, and clear 400s for bad requests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model_code import inference, train
from model_code.tabular import encode, load_model, read_table, to_predictions
from tests.model_code.synthetic import write_channels


@pytest.fixture(scope="module", params=["binary_classification", "multiclass_classification", "regression"])
def served(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    channels = write_channels(folder / "data", request.param, rows=800)
    train.train(
        train.parse_args(
            [
                "--epochs",
                "2",
                "--problem_type",
                request.param,
                "--train",
                channels["train"],
                "--validation",
                channels["validation"],
                "--model-dir",
                str(folder / "model"),
                "--output-dir",
                str(folder / "out"),
                "--checkpoint-dir",
                str(folder / "ckpt"),
                "--hidden",
                "32",
            ]
        )
    )
    test = read_table(channels["test"]).head(5)
    network, schema = load_model(str(folder / "model"))
    numeric, categorical, _ = encode(test, schema)
    expected = to_predictions(network(numeric, categorical), schema)
    return inference.model_fn(str(folder / "model")), test, expected


def _answer(model, body, content_type="application/json", accept="application/json"):
    text, media_type = inference.output_fn(inference.predict_fn(inference.input_fn(body, content_type), model), accept)
    assert media_type == "application/json"
    return json.loads(text)


def test_csv_round_trip_in_schema_order(served):
    model, test, expected = served
    features = model.schema.features
    body = "\n".join(",".join(str(v) for v in row) for row in test[features].itertuples(index=False)).encode()
    answer = _answer(model, body, "text/csv")
    assert np.allclose(np.array(answer["predictions"]), expected, atol=1e-5)
    if model.schema.problem_type == "multiclass_classification":
        assert answer["classes"] == ["high", "low", "mid"] and np.allclose(np.sum(answer["predictions"], axis=1), 1)


def test_a_batch_transform_assembles_one_prediction_line_per_input_row(served):
    # Batch scoring sends mini-batches of CSV rows with Accept text/csv and joins the answers as
    # they are (AssembleWith None): line N of the output must be the prediction of input row N.
    model, test, expected = served
    rows = [",".join(str(v) for v in row) for row in test[model.schema.features].itertuples(index=False)]
    answers = []
    for mini_batch in (rows[:2], rows[2:]):
        body = ("\n".join(mini_batch) + "\n").encode()
        text, media_type = inference.output_fn(
            inference.predict_fn(inference.input_fn(body, "text/csv"), model), "text/csv"
        )
        assert media_type == "text/csv" and text.endswith("\n")
        answers.append(text)
    lines = "".join(answers).splitlines()
    assert len(lines) == len(rows)
    values = np.array([[float(v) for v in line.split(",")] for line in lines])
    assert np.allclose(values.reshape(np.asarray(expected).shape), expected, atol=1e-5)


def test_json_objects_lists_and_single_instance(served):
    model, test, expected = served
    features = model.schema.features
    records = json.loads(test[features].to_json(orient="records"))
    assert np.allclose(_answer(model, json.dumps({"instances": records}))["predictions"], expected, atol=1e-5)
    rows = test[features].values.tolist()
    assert np.allclose(_answer(model, json.dumps(rows))["predictions"], expected, atol=1e-5)
    single = _answer(model, json.dumps(records[0]), "application/json; charset=utf-8")["predictions"]
    assert np.allclose(single, expected[:1], atol=1e-5)


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        (b"", "text/csv", "the request body is empty"),
        (b"1,2,3\n", "text/csv", "each row needs 5 values in this order: amount, age, score, tenure, region (got 3)"),
        (b"500,1,2,x,north\n", "text/csv", "feature 'tenure' is numeric, but a request holds 'x'"),
        (b"1,2,3,4,north\n1,2\n", "text/csv", "rows have different numbers of values: [2, 5]"),
        (
            b"{not json",
            "application/json",
            "the request is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (
            b'{"instances": 3}',
            "application/json",
            'JSON requests hold {"instances": [...]}, a list of instances, or one instance object',
        ),
        (
            b'[{"amount": 1}, [1, 2]]',
            "application/json",
            "JSON instances are all lists (schema order) or all objects (by feature name)",
        ),
        (
            b'{"amount": 1, "colour": "red"}',
            "application/json",
            "unknown feature(s): colour; the model uses amount, age, score, tenure, region",
        ),
        (b"\xff\xfe", "text/csv", "the request body is not UTF-8 text"),
        (
            b"1,2,3,4,north",
            "application/x-npy",
            "unsupported content type 'application/x-npy'; use text/csv or application/json",
        ),
    ],
)
def test_malformed_requests_are_400_with_a_reason(served, body, content_type, message):
    model, _, _ = served
    with pytest.raises(inference.BadRequest) as raised:
        inference.predict_fn(inference.input_fn(body, content_type), model)
    assert (raised.value.status_code, str(raised.value)) == (400, message)


def test_missing_values_are_refused_unless_optional_and_accept_types_negotiated(served):
    model, _, _ = served
    with pytest.raises(inference.BadRequest, match="feature 'age' is missing in row 1; the model requires it"):
        _answer(model, b"500,,0.1,0.2,north\n", "text/csv")
    with pytest.raises(inference.BadRequest, match="feature 'region' is missing in row 1; the model requires it"):
        _answer(model, b'{"amount": 1, "age": 1, "score": 1, "tenure": 1}', "application/json")
    model.schema.optional = ["age", "region"]
    try:
        assert len(_answer(model, b"500,,0.1,0.2,\n", "text/csv")["predictions"]) == 1
    finally:
        model.schema.optional = []
    with pytest.raises(inference.BadRequest, match="feature 'amount' must be a finite number; a request holds 'inf'"):
        _answer(model, b"inf,1,0.1,0.2,north\n", "text/csv")
    assert inference.output_fn({"predictions": [0.5, 0.25]}, "text/csv") == ("0.5\n0.25\n", "text/csv")
    axios = "application/json, text/plain, */*"
    assert inference.output_fn({"predictions": [0.5]}, axios) == ('{"predictions": [0.5]}', "application/json")
    with pytest.raises(inference.NotAcceptable, match="unsupported accept type 'image/png'") as refused:
        inference.output_fn({"predictions": []}, "image/png")
    assert refused.value.status_code == 406
    with pytest.raises(inference._ToolkitError, match="non-finite prediction") as fault:
        inference.output_fn({"predictions": [float("nan")]}, "application/json")
    assert fault.value.status_code == 500
    too_many = ("1,2,3,4,north\n" * (inference.MAX_ROWS + 1)).encode()
    with pytest.raises(inference.BadRequest, match="10001 rows in one request; at most 10000"):
        inference.input_fn(too_many, "text/csv")
    assert model.device == torch.device("cuda" if torch.cuda.is_available() else "cpu")  # passes on GPU hosts too
