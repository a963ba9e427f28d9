"""Small synthetic tabular data sets with a known signal, one per problem type."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make(problem_type: str, rows: int, seed: int = 0) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(rows, 4))
    region = generator.choice(["north", "south", "east", "west"], size=rows)
    effect = pd.Series(region).map({"north": 1.0, "south": -1.0, "east": 0.5, "west": -0.5}).to_numpy()
    signal = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + effect
    frame = pd.DataFrame(
        {"amount": x[:, 0] * 100 + 500, "age": x[:, 1], "score": x[:, 2], "tenure": x[:, 3], "region": region}
    )
    if problem_type == "binary_classification":
        frame["label"] = (signal + 0.3 * generator.normal(size=rows) > 0).astype(int)
    elif problem_type == "multiclass_classification":
        frame["label"] = np.select([signal < -0.8, signal < 0.8], ["low", "mid"], "high")
    else:
        frame["label"] = 10 * signal + 50 + generator.normal(size=rows)
    return frame


def write_channels(folder, problem_type: str, rows: int = 3000, *, parquet: bool = False) -> dict[str, str]:
    """train/validation/test folders under `folder`; the train split in two files."""
    paths = {}
    for split, count, seed in (("train", rows, 0), ("validation", rows // 4, 1), ("test", rows // 4, 2)):
        path = folder / split
        path.mkdir(parents=True)
        frame = make(problem_type, count, seed)
        halves = [frame.iloc[: count // 2], frame.iloc[count // 2 :]] if split == "train" else [frame]
        for index, part in enumerate(halves):
            if parquet:
                part.to_parquet(path / f"part-{index}.parquet", index=False)
            else:
                part.to_csv(path / f"part-{index}.csv", index=False)
        paths[split] = str(path)
    return paths
