"""Request bodies to model inputs and predictions to response bodies, in NumPy (no pandas per
request), with every refusal a `Refused(status, one-line reason)`.

Requests:
- `text/csv`: rows without a header, the feature columns in `feature_schema.json` order; numeric
  columns as numbers, categorical columns as text; an empty cell is a missing value;
- `application/json`: `{"instances": [...]}` or a bare list, each instance a list in schema order or
  an object keyed by feature name; one object is one instance; `null` is a missing value.
A missing value is accepted only for the schema's `optional` features (those the model saw missing
in training); numbers must be finite; unknown features, ragged rows and more than `MAX_ROWS` rows
are refused (400). Unknown categories are code 0, as in training.

Responses: `application/json` `{"predictions": [...]}` (P(positive class), class probabilities with
`classes`, or values), or `text/csv`, one line per row. A non-finite prediction is the model's
fault, reported as `ModelFault` (500), never written as `NaN` into a body.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

#: Largest request accepted, in rows: bigger batches belong in batch transform.
MAX_ROWS = 10_000
JSON = "application/json"
CSV = "text/csv"
ANSWERS = (JSON, CSV)


class Refused(Exception):
    """A request the server will not answer with a prediction: an HTTP status and one line."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class ModelFault(Exception):
    """The model produced something that cannot be sent (a non-finite prediction)."""


@dataclass(frozen=True)
class Rows:
    """One request's rows as the network's inputs: standardised numbers and category codes."""

    numeric: np.ndarray  # float32 [n, numeric features]
    categorical: np.ndarray  # int64 [n, categorical features]

    def __len__(self) -> int:
        return self.numeric.shape[0]


def request_media_type(content_type: str) -> str:
    """`text/csv` or `application/json` (parameters such as charset ignored), else 415."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in (CSV, JSON):
        return media_type
    shown = content_type or "none"
    raise Refused(415, f"unsupported Content-Type '{shown}'; send text/csv or application/json")


def response_media_type(accept: str) -> str:
    """The best answer type the client accepts (RFC 9110 q-values and wildcards), else 406."""
    if not accept.strip():
        return JSON
    best, best_q = "", 0.0
    for position, part in enumerate(accept.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        wanted, q = pieces[0].lower(), 1.0
        for parameter in pieces[1:]:
            if parameter.lower().startswith("q="):
                try:
                    q = float(parameter[2:])
                except ValueError:
                    q = 0.0
        for offer in ANSWERS:
            if q > best_q and _matches(wanted, offer):
                best, best_q = offer, q
    if not best:
        raise Refused(406, f"cannot answer Accept '{accept}'; this model answers application/json or text/csv")
    return best


def _matches(wanted: str, offer: str) -> bool:
    if wanted in ("*/*", "*", offer):
        return True
    kind, _, sub = wanted.partition("/")
    return sub == "*" and offer.startswith(kind + "/")


class Codec:
    """Decoding and encoding for one model's feature schema (`tabular.FeatureSchema`)."""

    def __init__(self, schema: Any):
        self.schema = schema
        self.features: list[str] = list(schema.features)
        self.optional = frozenset(schema.optional)
        numeric_index = {name: i for i, name in enumerate(schema.numeric)}
        categorical_index = {name: i for i, name in enumerate(schema.categorical)}
        # Per feature position: (is numeric, column in its matrix, mean, std, vocabulary codes).
        self._columns: list[tuple[bool, int, float, float, dict[str, int]]] = []
        for name in self.features:
            if name in numeric_index:
                i = numeric_index[name]
                self._columns.append((True, i, schema.numeric_mean[i], schema.numeric_std[i], {}))
            else:
                vocabulary = schema.categorical[name]
                codes = {value: code + 1 for code, value in enumerate(vocabulary)}
                self._columns.append((False, categorical_index[name], 0.0, 1.0, codes))
        self._by_name = {name: position for position, name in enumerate(self.features)}
        self._order = ", ".join(self.features)

    # --- requests --------------------------------------------------------------------------------

    def decode(self, body: bytes, media_type: str) -> Rows:
        if not body.strip():
            raise Refused(400, "the request body is empty")
        if media_type == CSV:
            return self._from_csv(body)
        return self._from_json(body)

    def _from_csv(self, body: bytes) -> Rows:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "the request body is not UTF-8 text") from None
        try:
            rows = [row for row in csv.reader(io.StringIO(text)) if row]
        except csv.Error as error:
            raise Refused(400, f"the CSV body cannot be read: {error}") from None
        self._check_count(len(rows))
        width = len(self.features)
        rows_out = self._empty(len(rows))
        for number, row in enumerate(rows, 1):
            if len(row) != width:
                raise Refused(
                    400, f"row {number} has {len(row)} values; each row needs {width} in this order: {self._order}"
                )
            for position, value in enumerate(row):
                self._put(rows_out, number - 1, position, value if value.strip() else None, number)
        return rows_out

    def _from_json(self, body: bytes) -> Rows:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise Refused(400, f"the request is not valid JSON: {error}") from None
        if isinstance(document, dict) and "instances" in document:
            instances = document["instances"]
        else:
            instances = document
        if isinstance(instances, dict):
            instances = [instances]
        if not isinstance(instances, list) or not instances:
            raise Refused(400, 'JSON requests hold {"instances": [...]}, a list of instances, or one instance object')
        self._check_count(len(instances))
        rows_out = self._empty(len(instances))
        width = len(self.features)
        for number, instance in enumerate(instances, 1):
            if isinstance(instance, list):
                if len(instance) != width:
                    raise Refused(
                        400, f"instance {number} has {len(instance)} values; each needs {width}: {self._order}"
                    )
                for position, value in enumerate(instance):
                    self._put(rows_out, number - 1, position, value, number)
            elif isinstance(instance, dict):
                unknown = sorted(str(key) for key in instance if key not in self._by_name)
                if unknown:
                    raise Refused(
                        400,
                        f"unknown feature(s) {', '.join(unknown)} in instance {number}; the model uses {self._order}",
                    )
                for position, name in enumerate(self.features):
                    self._put(rows_out, number - 1, position, instance.get(name), number)
            else:
                raise Refused(
                    400, f"instance {number} is neither a list (schema order) nor an object (by feature name)"
                )
        return rows_out

    def _check_count(self, count: int) -> None:
        if count > MAX_ROWS:
            raise Refused(413, f"{count} rows in one request; at most {MAX_ROWS} (use batch scoring for more)")

    def _empty(self, count: int) -> Rows:
        return Rows(
            np.zeros((count, len(self.schema.numeric)), dtype=np.float32),
            np.zeros((count, len(self.schema.categorical)), dtype=np.int64),
        )

    def _put(self, rows: Rows, row: int, position: int, value: Any, number: int) -> None:
        is_numeric, column, mean, std, codes = self._columns[position]
        name = self.features[position]
        if value is None:
            if name not in self.optional:
                raise Refused(400, f"feature '{name}' is missing in row {number}; the model requires it")
            return  # zeros: the training mean (numeric) or the unknown category (code 0)
        if is_numeric:
            rows.numeric[row, column] = (self._number(value, name, number) - mean) / std
        elif isinstance(value, (str, int, float, bool)):
            rows.categorical[row, column] = codes.get(value if isinstance(value, str) else str(value), 0)
        else:
            raise Refused(400, f"feature '{name}' in row {number} is categorical text, not {type(value).__name__}")

    @staticmethod
    def _number(value: Any, name: str, number: int) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise Refused(400, f"feature '{name}' is numeric, but row {number} holds {_shown(value)}")
        try:
            parsed = float(value)
        except (ValueError, OverflowError):
            raise Refused(400, f"feature '{name}' is numeric, but row {number} holds {_shown(value)}") from None
        if not math.isfinite(parsed):
            raise Refused(400, f"feature '{name}' must be a finite number; row {number} holds {_shown(value)}")
        return parsed

    # --- responses -------------------------------------------------------------------------------

    def encode(self, predictions: np.ndarray, media_type: str) -> bytes:
        if not np.isfinite(predictions).all():
            bad = int(np.flatnonzero(~np.isfinite(predictions.reshape(len(predictions), -1)).all(axis=1))[0]) + 1
            raise ModelFault(f"the model produced a non-finite prediction for row {bad}")
        values = predictions.tolist()
        if media_type == CSV:
            lines = (",".join(map(repr, v)) if isinstance(v, list) else repr(v) for v in values)
            return ("\n".join(lines) + "\n").encode()
        document: dict[str, Any] = {"predictions": values}
        if self.schema.problem_type == "multiclass_classification":
            document["classes"] = self.schema.classes
        return orjson.dumps(document)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
