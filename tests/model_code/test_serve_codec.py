"""Request parsing and answer encoding of the serving container: every refusal has its status and
reason; numbers are finite; missing features are refused unless optional; answers are valid JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_code.serve import codec
from model_code.tabular import FeatureSchema


def schema(problem_type: str = "binary_classification", optional=()) -> FeatureSchema:
    return FeatureSchema(
        label="label",
        problem_type=problem_type,
        features=["amount", "age", "region"],
        numeric=["amount", "age"],
        numeric_mean=[500.0, 0.0],
        numeric_std=[100.0, 2.0],
        categorical={"region": ["north", "south"]},
        classes=["high", "low", "mid"] if problem_type == "multiclass_classification" else [0, 1],
        optional=list(optional),
    )


def refusal(body: bytes, media_type: str = codec.CSV, optional=()) -> tuple[int, str]:
    with pytest.raises(codec.Refused) as caught:
        codec.Codec(schema(optional=optional)).decode(body, media_type)
    return caught.value.status, caught.value.reason


def test_csv_rows_are_standardised_and_categories_coded():
    rows = codec.Codec(schema()).decode(b"600,1,south\n400,-2,west\n", codec.CSV)
    assert rows.numeric.dtype == np.float32 and rows.categorical.dtype == np.int64
    assert rows.numeric.tolist() == [[1.0, 0.5], [-1.0, -1.0]]
    assert rows.categorical.tolist() == [[2], [0]]  # unknown category: code 0, as in training


def test_json_lists_objects_and_one_object_are_the_same_rows():
    decoder = codec.Codec(schema())
    forms = [
        b'{"instances": [[600, 1, "south"]]}',
        b'[[600, 1, "south"]]',
        b'{"instances": [{"amount": 600, "age": 1, "region": "south"}]}',
        b'{"amount": 600, "age": 1, "region": "south"}',
        b'[{"amount": "600", "age": 1.0, "region": "south"}]',
    ]
    for form in forms:
        rows = decoder.decode(form, codec.JSON)
        assert rows.numeric.tolist() == [[1.0, 0.5]] and rows.categorical.tolist() == [[2]], form


@pytest.mark.parametrize(
    "body, media_type, reason",
    [
        (b"", codec.CSV, "the request body is empty"),
        (b"inf,1,north", codec.CSV, "feature 'amount' must be a finite number; row 1 holds 'inf'"),
        (b"1e400,1,north", codec.CSV, "feature 'amount' must be a finite number; row 1 holds '1e400'"),
        (b"nan,1,north", codec.CSV, "feature 'amount' must be a finite number; row 1 holds 'nan'"),
        (b"abc,1,north", codec.CSV, "feature 'amount' is numeric, but row 1 holds 'abc'"),
        (b"1,2\n", codec.CSV, "row 1 has 2 values; each row needs 3 in this order: amount, age, region"),
        (b"\xff\xfe", codec.CSV, "the request body is not UTF-8 text"),
        (b'[[1e400, 1, "north"]]', codec.JSON, "the request is not valid JSON: number is infinity"),
        (b"[[1" + b"0" * 400 + b', 1, "north"]]', codec.JSON, "the request is not valid JSON: number is infinity"),
        (b'[[NaN, 1, "north"]]', codec.JSON, "the request is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, codec.JSON, "the request is not valid JSON: depth limit exceeded"),
        (b"{", codec.JSON, "the request is not valid JSON"),
        (b'[[true, 1, "north"]]', codec.JSON, "feature 'amount' is numeric, but row 1 holds True"),
        (b'[[1, 1, ["north"]]]', codec.JSON, "feature 'region' in row 1 is categorical text, not list"),
        (b"[1, 2]", codec.JSON, "instance 1 is neither a list (schema order) nor an object (by feature name)"),
        (b"[]", codec.JSON, 'JSON requests hold {"instances": [...]}'),
        (b'[{"amount": 1, "age": 2, "region": "x", "colour": 1}]', codec.JSON, "unknown feature(s) colour"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(body, media_type, reason):
    status, text = refusal(body, media_type)
    assert status == 400 and text.startswith(reason)


def test_missing_features_are_refused_unless_the_schema_marks_them_optional():
    # An object missing 2 of 3 features used to be imputed silently.
    assert refusal(b'{"age": 1}', codec.JSON) == (400, "feature 'amount' is missing in row 1; the model requires it")
    assert refusal(b",1,north", codec.CSV) == (400, "feature 'amount' is missing in row 1; the model requires it")
    assert refusal(b'[[null, 1, "north"]]', codec.JSON)[0] == 400
    rows = codec.Codec(schema(optional=["amount", "region"])).decode(b'{"age": 1}', codec.JSON)
    assert rows.numeric.tolist() == [[0.0, 0.5]] and rows.categorical.tolist() == [[0]]  # mean, unknown category


def test_more_rows_than_the_limit_is_413():
    body = b"1,1,north\n" * (codec.MAX_ROWS + 1)
    assert refusal(body)[0] == 413


@pytest.mark.parametrize(
    "content_type, expected",
    [("text/csv", codec.CSV), ("text/csv; charset=utf-8", codec.CSV), ("Application/JSON", codec.JSON)],
)
def test_request_media_types(content_type, expected):
    assert codec.request_media_type(content_type) == expected


@pytest.mark.parametrize("content_type", ["", "text/plain", "application/x-www-form-urlencoded"])
def test_other_content_types_are_415(content_type):
    with pytest.raises(codec.Refused) as caught:
        codec.request_media_type(content_type)
    assert caught.value.status == 415 and "send text/csv or application/json" in caught.value.reason


@pytest.mark.parametrize(
    "accept, expected",
    [
        ("", codec.JSON),
        ("*/*", codec.JSON),
        ("application/json, text/plain, */*", codec.JSON),  # axios's default
        ("text/csv", codec.CSV),
        ("text/*", codec.CSV),
        ("text/csv;q=0.5, application/json;q=0.9", codec.JSON),
        ("application/json;q=0.1, text/csv", codec.CSV),
    ],
)
def test_accept_negotiation(accept, expected):
    assert codec.response_media_type(accept) == expected


@pytest.mark.parametrize("accept", ["image/png", "text/html", "application/json;q=0"])
def test_accept_nothing_we_answer_is_406(accept):
    with pytest.raises(codec.Refused) as caught:
        codec.response_media_type(accept)
    assert caught.value.status == 406


def test_answers_are_valid_json_or_csv():
    binary = codec.Codec(schema())
    answer = binary.encode(np.array([0.25, 0.5], dtype=np.float32), codec.JSON)
    assert json.loads(answer) == {"predictions": [0.25, 0.5]}
    assert binary.encode(np.array([0.25, 0.5]), codec.CSV) == b"0.25\n0.5\n"
    multiclass = codec.Codec(schema("multiclass_classification"))
    document = json.loads(multiclass.encode(np.array([[0.5, 0.25, 0.25]]), codec.JSON))
    assert document == {"predictions": [[0.5, 0.25, 0.25]], "classes": ["high", "low", "mid"]}
    assert multiclass.encode(np.array([[0.5, 0.25, 0.25]]), codec.CSV) == b"0.5,0.25,0.25\n"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_prediction_is_a_model_fault_not_a_body(bad):
    with pytest.raises(codec.ModelFault, match="non-finite prediction for row 2"):
        codec.Codec(schema()).encode(np.array([0.5, bad]), codec.JSON)
