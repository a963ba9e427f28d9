"""Tabular data and the network: shared by training, evaluation and serving.

- `read_table(path)`: every CSV (with a header row) or Parquet file of a channel folder, in name
  order, as one DataFrame.
- `FeatureSchema`: what the model was trained on, written next to the weights
  (`feature_schema.json`): the label, the problem type, the feature columns in the order CSV
  requests must use, standardisation of numeric columns, vocabularies of string (categorical)
  columns, the classes, and the target scaling for regression.
- `encode(frame, schema)`: a DataFrame -> float32 numeric matrix, int64 category codes, target.
- `TabularNet`: embeddings for categorical columns, concatenated with the numeric columns, then an
  MLP. One logit for binary classification, one per class for multiclass, one value for regression.

Imports only numpy, pandas and torch: this folder ships alone into the containers.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import pandas as pd
import torch
from torch import nn

PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")
SCHEMA_FILE = "feature_schema.json"
WEIGHTS_FILE = "model.pt"


class DataError(ValueError):
    """The data cannot be used as given; the message says which file or column and why."""


# --- reading -------------------------------------------------------------------------------------


def data_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise DataError(f"no such file or folder: {path}")
    files = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(path)
        for name in names
        if name.endswith((".csv", ".parquet", ".pq")) and not name.startswith(".")
    )
    if not files:
        raise DataError(f"{path} holds no .csv or .parquet files")
    return files


def read_table(path: str) -> pd.DataFrame:
    """All CSV (header row) and Parquet files under `path`, concatenated in name order."""
    frames = []
    for file in data_files(path):
        try:
            frames.append(pd.read_parquet(file) if file.endswith((".parquet", ".pq")) else pd.read_csv(file))
        except Exception as exc:  # pandas raises many types; the caller needs the file name
            raise DataError(f"cannot read {file}: {exc}") from None
    columns = list(frames[0].columns)
    for file, frame in zip(data_files(path), frames):
        if list(frame.columns) != columns:
            raise DataError(f"{file} has columns {list(frame.columns)}, but the first file has {columns}")
    return pd.concat(frames, ignore_index=True)


# --- the schema ----------------------------------------------------------------------------------


@dataclass
class FeatureSchema:
    label: str
    problem_type: str
    features: list[str]  # every feature column, in the order CSV requests give them
    numeric: list[str]
    numeric_mean: list[float]
    numeric_std: list[float]
    categorical: dict[str, list[str]] = field(default_factory=dict)  # column -> vocabulary (code 0 = unknown)
    classes: list = field(default_factory=list)  # classification: label values; code = index
    # Features a request may leave out (missing in the training data too, so the model learned
    # what "missing" means); every other feature is required at serving time.
    optional: list[str] = field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0

    @property
    def outputs(self) -> int:
        return len(self.classes) if self.problem_type == "multiclass_classification" else 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSchema":
        return cls(**json.loads(text))

    def save(self, folder: str) -> None:
        with open(os.path.join(folder, SCHEMA_FILE), "w", encoding="utf-8") as handle:
            handle.write(self.to_json())

    @classmethod
    def load(cls, folder: str) -> "FeatureSchema":
        with open(os.path.join(folder, SCHEMA_FILE), encoding="utf-8") as handle:
            return cls.from_json(handle.read())


def fit_schema(frame: pd.DataFrame, label: str, problem_type: str) -> FeatureSchema:
    """Learn the schema from the training data."""
    if problem_type not in PROBLEM_TYPES:
        raise DataError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)} (got {problem_type!r})")
    if label not in frame.columns:
        raise DataError(f"label column '{label}' is not in the data (columns: {', '.join(map(str, frame.columns))})")
    if frame[label].isna().any():
        raise DataError(f"label column '{label}' has {int(frame[label].isna().sum())} missing values")
    features = [str(c) for c in frame.columns if c != label]
    if not features:
        raise DataError("the data has no feature columns besides the label")
    numeric = [
        c for c in features if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    categorical = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in features if c not in numeric}
    values = frame[numeric].to_numpy(dtype=np.float64) if numeric else np.zeros((len(frame), 0))
    mean = np.nanmean(values, axis=0) if len(values) else np.zeros(len(numeric))
    std = np.nanstd(values, axis=0) if len(values) else np.ones(len(numeric))
    schema = FeatureSchema(
        label=label,
        problem_type=problem_type,
        features=features,
        numeric=numeric,
        numeric_mean=[float(m) if math.isfinite(m) else 0.0 for m in mean],
        numeric_std=[float(s) if math.isfinite(s) and s > 1e-12 else 1.0 for s in std],
        categorical=categorical,
        optional=[c for c in features if frame[c].isna().any()],
    )
    target = frame[label]
    if problem_type == "regression":
        if not pd.api.types.is_numeric_dtype(target):
            raise DataError(f"regression needs a numeric label; '{label}' holds {target.dtype}")
        schema.target_mean = float(target.mean())
        schema.target_std = float(target.std(ddof=0)) or 1.0
    else:
        classes = sorted(target.unique().tolist(), key=lambda v: (str(type(v)), v))
        if problem_type == "binary_classification" and len(classes) != 2:
            raise DataError(
                f"binary classification needs exactly 2 label values; '{label}' has {len(classes)}: {classes[:10]}"
            )
        if problem_type == "multiclass_classification" and len(classes) < 2:
            raise DataError(f"multiclass classification needs at least 2 label values; '{label}' has {classes}")
        schema.classes = [c.item() if hasattr(c, "item") else c for c in classes]
    return schema


def encode(frame: pd.DataFrame, schema: FeatureSchema, *, with_target: bool = True):
    """(numeric float32 [n, k], categorical int64 [n, c], target or None) as torch tensors.

    Missing numeric values become the training mean (0 after standardisation); unknown or missing
    categories get code 0."""
    missing = [c for c in schema.features if c not in frame.columns]
    if missing:
        raise DataError(f"missing feature column(s): {', '.join(missing)}")
    numeric = np.zeros((len(frame), len(schema.numeric)), dtype=np.float32)
    for index, column in enumerate(schema.numeric):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() and not frame[column].isna().equals(values.isna()):
            bad = frame[column][values.isna() & frame[column].notna()].iloc[0]
            raise DataError(f"column '{column}' is numeric, but holds {bad!r}")
        standardised = (values.to_numpy(dtype=np.float64) - schema.numeric_mean[index]) / schema.numeric_std[index]
        numeric[:, index] = np.nan_to_num(standardised, nan=0.0)
    categorical = np.zeros((len(frame), len(schema.categorical)), dtype=np.int64)
    for index, (column, vocabulary) in enumerate(schema.categorical.items()):
        codes = {value: code + 1 for code, value in enumerate(vocabulary)}
        categorical[:, index] = frame[column].astype(str).map(codes).fillna(0).to_numpy(dtype=np.int64)
    target = None
    if with_target:
        if schema.label not in frame.columns:
            raise DataError(f"label column '{schema.label}' is not in the data")
        labels = frame[schema.label]
        if schema.problem_type == "regression":
            target = torch.from_numpy(
                ((labels.to_numpy(dtype=np.float64) - schema.target_mean) / schema.target_std).astype(np.float32)
            )
        else:
            lookup = {value: code for code, value in enumerate(schema.classes)}
            codes = labels.map(lambda v: lookup.get(v.item() if hasattr(v, "item") else v, -1)).to_numpy(dtype=np.int64)
            if (codes < 0).any():
                unseen = labels[codes < 0].iloc[0]
                raise DataError(f"label value {unseen!r} was not seen in training (classes: {schema.classes})")
            target = torch.from_numpy(codes.copy())
            if schema.problem_type == "binary_classification":
                target = target.float()
    return torch.from_numpy(numeric), torch.from_numpy(categorical), target


# --- the network ---------------------------------------------------------------------------------


def embedding_size(cardinality: int) -> int:
    """A common rule of thumb: grows with the vocabulary, capped at 16."""
    return int(min(16, max(2, round(1.6 * (cardinality + 1) ** 0.56))))


class TabularNet(nn.Module):
    def __init__(self, schema: FeatureSchema, hidden: int = 256, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.config = {"hidden": hidden, "layers": layers, "dropout": dropout}
        self.embeddings = nn.ModuleList(
            nn.Embedding(len(vocabulary) + 1, embedding_size(len(vocabulary)))
            for vocabulary in schema.categorical.values()
        )
        width = len(schema.numeric) + sum(e.embedding_dim for e in self.embeddings)
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        blocks.append(nn.Linear(width, schema.outputs))
        self.mlp = nn.Sequential(*blocks)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric] + [embedding(categorical[:, i]) for i, embedding in enumerate(self.embeddings)]
        output = self.mlp(torch.cat(parts, dim=1) if len(parts) > 1 else numeric)
        return output.squeeze(-1) if output.shape[-1] == 1 else output


def loss_function(schema: FeatureSchema) -> nn.Module:
    return {
        "binary_classification": nn.BCEWithLogitsLoss(),
        "multiclass_classification": nn.CrossEntropyLoss(),
        "regression": nn.MSELoss(),
    }[schema.problem_type]


def to_predictions(raw: torch.Tensor, schema: FeatureSchema) -> np.ndarray:
    """Network outputs -> what callers get: P(positive class), class probabilities, or values."""
    raw = raw.detach().float()
    if schema.problem_type == "binary_classification":
        return torch.sigmoid(raw).cpu().numpy()
    if schema.problem_type == "multiclass_classification":
        return torch.softmax(raw, dim=-1).cpu().numpy()
    return (raw * schema.target_std + schema.target_mean).cpu().numpy()


def save_model(model: TabularNet, schema: FeatureSchema, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    torch.save({"config": model.config, "state_dict": model.state_dict()}, os.path.join(folder, WEIGHTS_FILE))
    schema.save(folder)


def load_model(folder: str, device: Optional[torch.device] = None) -> tuple[TabularNet, FeatureSchema]:
    schema = FeatureSchema.load(folder)
    saved = torch.load(os.path.join(folder, WEIGHTS_FILE), map_location=device or "cpu", weights_only=True)
    model = TabularNet(schema, **saved["config"])
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return model.to(device or "cpu"), schema
