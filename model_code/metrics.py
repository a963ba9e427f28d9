"""Quality metrics per problem type, in numpy alone (no scikit-learn in the containers).

The names are the spec language's (`monitoring.quality`, `training.evaluation`):
binary — auc, pr_auc, accuracy, precision, recall, f1, log_loss;
multiclass — accuracy, macro_f1, macro_precision, macro_recall, weighted_f1, log_loss;
regression — rmse, mae, mse, mape, r2.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney U statistic, ties counted half."""
    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: precision at each positive, averaged (step-wise area under PR)."""
    labels = np.asarray(labels).astype(bool)
    if labels.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    hits = labels[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].mean())


def _precision_recall_f1(truth: np.ndarray, predicted: np.ndarray, positive) -> tuple[float, float, float]:
    true_positive = float(np.sum((predicted == positive) & (truth == positive)))
    predicted_positive = float(np.sum(predicted == positive))
    actual_positive = float(np.sum(truth == positive))
    precision = true_positive / predicted_positive if predicted_positive else 0.0
    recall = true_positive / actual_positive if actual_positive else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    labels = np.asarray(labels).astype(int)
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1 - _EPS)
    predicted = (probabilities >= threshold).astype(int)
    precision, recall, f1 = _precision_recall_f1(labels, predicted, 1)
    return {
        "auc": roc_auc(labels, probabilities),
        "pr_auc": pr_auc(labels, probabilities),
        "accuracy": float(np.mean(predicted == labels)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "log_loss": float(-np.mean(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))),
    }


def multiclass_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    labels = np.asarray(labels).astype(int)
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1.0)
    predicted = probabilities.argmax(axis=1)
    classes = np.arange(probabilities.shape[1])
    per_class = np.array([_precision_recall_f1(labels, predicted, c) for c in classes])
    support = np.array([np.sum(labels == c) for c in classes], dtype=np.float64)
    present = support > 0
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "macro_precision": float(per_class[present, 0].mean()),
        "macro_recall": float(per_class[present, 1].mean()),
        "macro_f1": float(per_class[present, 2].mean()),
        "weighted_f1": float(np.sum(per_class[:, 2] * support) / support.sum()),
        "log_loss": float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels]))),
    }


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    errors = predicted - truth
    total = np.sum((truth - truth.mean()) ** 2)
    nonzero = np.abs(truth) > _EPS
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "mse": float(np.mean(errors**2)),
        "mape": float(np.mean(np.abs(errors[nonzero] / truth[nonzero])) * 100) if nonzero.any() else float("nan"),
        "r2": float(1 - np.sum(errors**2) / total) if total > 0 else float("nan"),
    }


def quality_metrics(problem_type: str, truth: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """`truth`: class codes (classification) or values; `predictions`: what the model returns."""
    if problem_type == "binary_classification":
        return binary_metrics(truth, predictions)
    if problem_type == "multiclass_classification":
        return multiclass_metrics(truth, predictions)
    return regression_metrics(truth, predictions)
