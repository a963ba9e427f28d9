"""Quality metrics against hand computations on small cases (no scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_code import metrics


def test_auc_counts_pairs_and_half_ties():
    # positives 0.8, 0.4; negatives 0.6, 0.4, 0.1: pairs (p > n) =
    # 0.8>all (3) + 0.4>0.1 (1) + tie 0.4=0.4 (0.5) = 4.5 of 6
    assert metrics.roc_auc(np.array([1, 0, 1, 0, 0]), np.array([0.8, 0.6, 0.4, 0.4, 0.1])) == pytest.approx(4.5 / 6)
    assert metrics.roc_auc(np.array([1, 1, 0]), np.array([0.9, 0.8, 0.1])) == 1.0
    assert math.isnan(metrics.roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_binary_threshold_metrics():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.7, 0.2, 0.6, 0.3, 0.1, 0.1, 0.1])
    result = metrics.binary_metrics(labels, scores)
    # predicted positive: 0.9, 0.7, 0.6 -> TP 2, FP 1, FN 1
    assert (result["precision"], result["recall"]) == pytest.approx((2 / 3, 2 / 3))
    assert result["f1"] == pytest.approx(2 / 3) and result["accuracy"] == pytest.approx(6 / 8)
    expected_loss = -np.mean(np.log([0.9, 0.7, 0.2, 0.4, 0.7, 0.9, 0.9, 0.9]))
    assert result["log_loss"] == pytest.approx(expected_loss)
    # ranked: 0.9(+) 0.7(+) 0.6(-) 0.3(-) 0.2(+): precision at positives 1, 1, 3/5
    assert result["pr_auc"] == pytest.approx((1 + 1 + 3 / 5) / 3)


def test_multiclass_metrics():
    labels = np.array([0, 0, 1, 1, 2])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7]])
    result = metrics.multiclass_metrics(labels, probabilities)
    # predicted 0, 1, 1, 1, 2: class 0 P=1 R=1/2 F=2/3; class 1 P=2/3 R=1 F=4/5; class 2 P=R=F=1
    assert result["accuracy"] == pytest.approx(4 / 5)
    assert result["macro_f1"] == pytest.approx((2 / 3 + 4 / 5 + 1) / 3)
    assert result["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 * 4 / 5 + 1) / 5)
    assert result["macro_precision"] == pytest.approx((1 + 2 / 3 + 1) / 3)


def test_regression_metrics():
    result = metrics.regression_metrics(np.array([2.0, 4.0, 6.0]), np.array([3.0, 4.0, 4.0]))
    # errors 1, 0, -2: mse 5/3, mae 1, mape (1/2 + 0 + 2/6)/3
    assert result["mse"] == pytest.approx(5 / 3) and result["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert result["mae"] == pytest.approx(1.0)
    assert result["mape"] == pytest.approx(100 * (0.5 + 0 + 1 / 3) / 3)
    assert result["r2"] == pytest.approx(1 - 5 / 8)


def test_metric_names_match_the_spec_language():
    from modelform.spec.rules import METRICS

    for problem_type, names in METRICS.items():
        truth = np.array([0, 1, 0, 1]) if problem_type != "regression" else np.array([1.0, 2.0, 3.0, 4.0])
        predictions = {
            "binary_classification": np.array([0.2, 0.8, 0.4, 0.6]),
            "multiclass_classification": np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]),
            "regression": np.array([1.1, 2.1, 2.9, 4.2]),
        }[problem_type]
        assert set(metrics.quality_metrics(problem_type, truth, predictions)) == set(names), problem_type
