"""SageMaker PyTorch serving functions: model_fn, input_fn, predict_fn, output_fn.

Requests (`input_fn`):
- `text/csv`: rows without a header, the feature columns in the order of `feature_schema.json`
  (`features`); numeric columns as numbers, categorical columns as text;
- `application/json`: `{"instances": [...]}` or a bare list, each instance either a list in
  schema order or an object keyed by feature name; a single object is one instance.
Responses (`output_fn`, `application/json`): `{"predictions": [...]}` with P(positive class)
for binary classification, `{"classes": [...], "predictions": [[p, ...], ...]}` for multiclass,
values for regression.

A malformed request raises `BadRequest` (HTTP 400 with a one-line reason): under the SageMaker
inference toolkit it is the toolkit's own error type with status 400, never a 500.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import torch

if __package__:
    from .tabular import FeatureSchema, TabularNet, encode, load_model, to_predictions
else:
    from tabular import FeatureSchema, TabularNet, encode, load_model, to_predictions  # type: ignore[no-redef]

try:  # inside the SageMaker PyTorch serving container
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except ImportError:  # laptops, tests and our own server

    class _ToolkitError(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code: int, message: str = "", phrase: str = ""):
            super().__init__(message)
            self.status_code, self.message, self.phrase = status_code, message, phrase


#: Largest request accepted, in rows: bigger batches belong in batch transform.
MAX_ROWS = 10_000


class _Refusal(_ToolkitError):
    """A request the model will not answer: an HTTP status and a one-line reason."""

    status, phrase = 400, "Bad Request"

    def __init__(self, message: str):
        super().__init__(self.status, message, self.phrase)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequest(_Refusal):
    """A request the model cannot answer; status 400 and a one-line reason."""


class NotAcceptable(_Refusal):
    """An Accept header the model cannot answer: status 406."""

    status, phrase = 406, "Not Acceptable"


class Model:
    """What model_fn returns: the network, its schema and its device."""

    def __init__(self, network: TabularNet, schema: FeatureSchema, device: torch.device):
        self.network, self.schema, self.device = network, schema, device


def model_fn(model_dir: str) -> Model:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    network, schema = load_model(model_dir, device)
    return Model(network, schema, device)


def _decode(body: Any) -> str:
    if isinstance(body, (bytes, bytearray)):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the request body is not UTF-8 text") from None
    return str(body)


def input_fn(body: Any, content_type: str) -> pd.DataFrame:
    """The request as a DataFrame of feature columns (validated against nothing yet: see predict_fn)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    text = _decode(body)
    if not text.strip():
        raise BadRequest("the request body is empty")
    if media_type == "text/csv":
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
        return _rows_frame(rows)
    if media_type == "application/json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise BadRequest(
                f"the request is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
        instances = document.get("instances") if isinstance(document, dict) and "instances" in document else document
        if isinstance(instances, dict):
            instances = [instances]
        if not isinstance(instances, list) or not instances:
            raise BadRequest('JSON requests hold {"instances": [...]}, a list of instances, or one instance object')
        if all(isinstance(i, dict) for i in instances):
            return _check_rows(pd.DataFrame.from_records(instances), len(instances))
        if all(isinstance(i, list) for i in instances):
            return _rows_frame(instances)
        raise BadRequest("JSON instances are all lists (schema order) or all objects (by feature name)")
    raise BadRequest(f"unsupported content type '{content_type}'; use text/csv or application/json")


def _rows_frame(rows: list[list]) -> pd.DataFrame:
    """Positional rows; columns are named from the schema in predict_fn (width checked there)."""
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise BadRequest(f"rows have different numbers of values: {sorted(widths)}")
    return _check_rows(pd.DataFrame(rows), len(rows))


def _check_rows(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    if rows > MAX_ROWS:
        raise BadRequest(f"{rows} rows in one request; at most {MAX_ROWS}")
    return frame


def predict_fn(data: pd.DataFrame, model: Model) -> dict[str, Any]:
    return predict_prepared(prepare(data, model), model)


def prepare(data: pd.DataFrame, model: Model) -> pd.DataFrame:
    """The request's rows as the schema's feature columns, validated (BadRequest otherwise).
    Separate from the prediction so a server can validate each request alone and batch them."""
    schema = model.schema
    if all(isinstance(c, int) for c in data.columns):  # positional rows (CSV or JSON lists)
        if data.shape[1] != len(schema.features):
            raise BadRequest(
                f"each row needs {len(schema.features)} "
                f"values in this order: {', '.join(schema.features)} (got {data.shape[1]})"
            )
        data = data.set_axis(schema.features, axis=1)
        for column in schema.numeric:  # CSV gives text: numeric columns must parse
            data[column] = _numeric(data[column], column)
    else:
        unknown = sorted(set(map(str, data.columns)) - set(schema.features))
        if unknown:
            raise BadRequest(f"unknown feature(s): {', '.join(unknown)}; the model uses {', '.join(schema.features)}")
        data = data.reindex(columns=schema.features)
        for column in schema.numeric:
            data[column] = _numeric(data[column], column)
    _refuse_missing(data, schema)
    return data  # numeric columns parsed above; unknown categories are code 0 by design


def _refuse_missing(data: pd.DataFrame, schema: FeatureSchema) -> None:
    """A feature the model never saw missing must be present: imputing it silently would answer
    with a made-up prediction. The schema's `optional` features may be missing."""
    optional = set(getattr(schema, "optional", []))
    for column in schema.features:
        if column in optional:
            continue
        values = data[column]
        missing = (
            values.isna() | (values.astype(str).str.strip() == "") if column not in schema.numeric else values.isna()
        )
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0]) + 1
            raise BadRequest(f"feature '{column}' is missing in row {row}; the model requires it")


def predict_prepared(data: pd.DataFrame, model: Model) -> dict[str, Any]:
    """Predictions for prepared rows (see `prepare`), any number of requests concatenated."""
    schema = model.schema
    numeric, categorical, _ = encode(data, schema, with_target=False)
    with torch.no_grad():
        raw = model.network(numeric.to(model.device), categorical.to(model.device))
    predictions = to_predictions(raw.reshape(len(data), -1) if schema.outputs > 1 else raw.reshape(len(data)), schema)
    result: dict[str, Any] = {"predictions": predictions.tolist()}
    if schema.problem_type == "multiclass_classification":
        result["classes"] = schema.classes
    return result


def _numeric(values: pd.Series, name: str) -> pd.Series:
    """Text or numbers -> floats; empty means missing; anything else is the caller's mistake."""
    blank = values.isna() | (values.astype(str).str.strip() == "")
    parsed = pd.to_numeric(values.where(~blank, np.nan), errors="coerce")
    bad = values[parsed.isna() & ~blank]
    if len(bad):
        raise BadRequest(f"feature '{name}' is numeric, but a request holds {bad.iloc[0]!r}")
    infinite = values[np.isinf(parsed.to_numpy(dtype=np.float64))]
    if len(infinite):
        raise BadRequest(f"feature '{name}' must be a finite number; a request holds {infinite.iloc[0]!r}")
    return parsed


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[str, str]:
    """JSON (also for `*/*`, `application/*` or no Accept) or CSV (one line per row); a
    non-finite prediction is the model's fault (500), never `NaN` in a body."""
    media_type = _answer_type(accept)
    values = np.asarray(prediction["predictions"], dtype=np.float64)
    if not np.isfinite(values).all():
        raise _ToolkitError(500, "the model produced a non-finite prediction", "Internal Server Error")
    if media_type == "text/csv":
        rows = prediction["predictions"]
        lines = (",".join(map(repr, row)) if isinstance(row, list) else repr(row) for row in rows)
        return "\n".join(lines) + "\n", "text/csv"
    return json.dumps(prediction, allow_nan=False), "application/json"


def _answer_type(accept: str) -> str:
    best, best_q = "", 0.0
    for part in (accept or "application/json").split(","):
        pieces = [p.strip().lower() for p in part.split(";")]
        q = next((_quality(p[2:]) for p in pieces[1:] if p.startswith("q=")), 1.0)
        for offer in ("application/json", "text/csv"):
            kind = offer.split("/")[0]
            if q > best_q and pieces[0] in ("*/*", "*", offer, f"{kind}/*"):
                best, best_q = offer, q
    if not best:
        raise NotAcceptable(f"unsupported accept type '{accept}'; this model answers application/json or text/csv")
    return best


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
