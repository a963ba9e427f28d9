"""Feature drift between a baseline (the training data) and current traffic, vectorised.

Scores grow with drift:
- `psi` — population stability index over 10 baseline-quantile bins (categories for text
  features): sum((c - b) * ln(c / b)), empty bins floored at 1e-4;
- `ks` — the two-sample Kolmogorov-Smirnov statistic D = sup |F_baseline - F_current|, exact;
  numeric features only;
- `jensen_shannon` — the Jensen-Shannon *distance* (base 2, in [0, 1]) between the same binned
  distributions as PSI.

Each feature is scored in its own thread (numpy's sort and searchsorted release the GIL):
sorted copies of the column, then a few `searchsorted` calls; PSI and JS sort only the baseline
and bin the current values. bench/drift.py compares 1M rows x 100 features with a per-feature
`scipy.stats.ks_2samp` loop.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np

METHODS = ("psi", "ks", "jensen_shannon")
BINS = 10
_FLOOR = 1e-4


def _clean_sorted(column: np.ndarray) -> np.ndarray:
    """A contiguous float64 copy of one column, NaN removed, sorted in place."""
    values = np.array(column, dtype=np.float64)
    values = values[~np.isnan(values)]
    values.sort()
    return values


def ks_statistic(baseline: np.ndarray, current: np.ndarray) -> float:
    """Exact two-sample KS D for two *sorted* 1-d samples without NaN.

    The supremum is reached at a sample point of either distribution. Between consecutive
    baseline points F_baseline is flat, so it suffices to compare, at each baseline point x_k,
    k/n with F_current(x_k) (right limit) and (k-1)/n with F_current(x_k-) (left limit); ties
    are handled by taking the maximum over all k."""
    n, m = len(baseline), len(current)
    if n == 0 or m == 0:
        return float("nan")
    right = np.searchsorted(current, baseline, side="right") / m
    left = np.searchsorted(current, baseline, side="left") / m
    steps = np.arange(1, n + 1) / n
    return float(max(np.max(steps - right), np.max(left - (steps - 1.0 / n)), 0.0))


def _binned(baseline: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares of both samples in BINS baseline-quantile bins (`baseline` sorted, without NaN)."""
    edges = np.unique(baseline[np.clip((np.arange(1, BINS) * len(baseline)) // BINS, 0, len(baseline) - 1)])
    expected = np.diff(np.concatenate(([0], np.searchsorted(baseline, edges, side="left"), [len(baseline)]))) / len(
        baseline
    )
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    return expected, actual


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.maximum(expected, _FLOOR)
    actual = np.maximum(actual, _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def jensen_shannon(expected: np.ndarray, actual: np.ndarray) -> float:
    p = expected / expected.sum() if expected.sum() else expected
    q = actual / actual.sum() if actual.sum() else actual
    middle = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return float(np.sqrt(max(0.0, (kl(p, middle) + kl(q, middle)) / 2)))


def _column_score(baseline: np.ndarray, current: np.ndarray, method: str) -> float:
    base = _clean_sorted(baseline)
    if method == "ks":
        return ks_statistic(base, _clean_sorted(current))
    now = np.asarray(current, dtype=np.float64)
    now = now[~np.isnan(now)]
    if len(base) == 0 or len(now) == 0:
        return float("nan")
    expected, actual = _binned(base, now)
    return psi(expected, actual) if method == "psi" else jensen_shannon(expected, actual)


def numeric_drift(baseline: np.ndarray, current: np.ndarray, method: str, workers: Optional[int] = None) -> np.ndarray:
    """One score per column of two (rows x features) matrices. Columns are scored in parallel
    threads (numpy's sort and searchsorted release the GIL), one per CPU by default."""
    if method not in METHODS:
        raise ValueError(f"drift method must be one of {', '.join(METHODS)} (got {method!r})")
    baseline, current = np.asarray(baseline), np.asarray(current)
    columns = range(baseline.shape[1])
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return np.array(list(pool.map(lambda j: _column_score(baseline[:, j], current[:, j], method), columns)))


def categorical_drift(baseline: np.ndarray, current: np.ndarray, method: str) -> float:
    """PSI or JS distance between category frequencies (unseen categories pooled as one)."""
    if method == "ks":
        raise ValueError("the KS statistic is defined for numeric features only")
    categories, base_counts = np.unique(baseline.astype(str), return_counts=True)
    index = {value: position for position, value in enumerate(categories)}
    now_values, now_counts = np.unique(current.astype(str), return_counts=True)
    actual = np.zeros(len(categories) + 1)
    for value, count in zip(now_values, now_counts):
        actual[index.get(value, len(categories))] += count
    expected = np.append(base_counts, 0).astype(float)
    expected /= max(expected.sum(), 1)
    actual /= max(actual.sum(), 1)
    return psi(expected, actual) if method == "psi" else jensen_shannon(expected, actual)
