"""Metrics against hand-computed and scikit-learn values."""

import math

import numpy as np
import pytest

import lucidnn
from lucidnn.errors import ShapeError
from lucidnn.train import accuracy, confusion_matrix, perplexity, top_k_accuracy

LOGITS = np.array([[2.0, 1.0, 0.1], [0.1, 0.2, 3.0], [1.0, 2.0, 0.5], [0.0, 0.1, 0.2]])
TARGET = np.array([0, 2, 0, 1])


def test_accuracy_from_logits_and_labels():
    assert accuracy(LOGITS, TARGET) == 0.5
    assert accuracy(lucidnn.tensor(LOGITS), lucidnn.tensor(TARGET)) == 0.5
    assert accuracy(np.array([0, 2, 1, 1]), TARGET) == 0.75


def test_top_k():
    assert top_k_accuracy(LOGITS, TARGET, k=1) == 0.5
    assert top_k_accuracy(LOGITS, TARGET, k=2) == 1.0
    with pytest.raises(ValueError, match="k must be in 1..3"):
        top_k_accuracy(LOGITS, TARGET, k=4)


def test_confusion_matrix_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    pred, true = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    np.testing.assert_array_equal(confusion_matrix(pred, true, 5), metrics.confusion_matrix(true, pred))
    assert confusion_matrix(LOGITS, TARGET).sum() == 4


def test_perplexity_and_errors():
    assert perplexity(math.log(65)) == pytest.approx(65)
    assert perplexity(1e4) == math.inf
    with pytest.raises(ShapeError, match="do not match target"):
        accuracy(LOGITS, TARGET[:3])
