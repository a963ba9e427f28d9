"""The model as the server uses it: loaded once, called with whole batches of encoded rows."""

from __future__ import annotations

import numpy as np
import torch

from .codec import Codec

if __package__ and __package__.startswith("model_code"):
    from ..tabular import load_model, to_predictions
else:  # pragma: no cover - in the image, model_code's files are on PYTHONPATH
    from tabular import load_model, to_predictions  # type: ignore[no-redef]


class ServedModel:
    """The network, its feature schema and the codec for its requests."""

    def __init__(self, model_dir: str):
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.network, self.schema = load_model(model_dir, self.device)
        self.codec = Codec(self.schema)

    def predict(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Predictions for a batch: P(positive class) [n], class probabilities [n, k] or values [n]."""
        rows = numeric.shape[0]
        with torch.inference_mode():
            raw = self.network(
                torch.from_numpy(numeric).to(self.device, non_blocking=True),
                torch.from_numpy(categorical).to(self.device, non_blocking=True),
            )
        shaped = raw.reshape(rows, -1) if self.schema.outputs > 1 else raw.reshape(rows)
        return to_predictions(shaped, self.schema)
