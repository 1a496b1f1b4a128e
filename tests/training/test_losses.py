"""The training loss against torch.nn.CrossEntropyLoss (ignore_index=-100, class weights, label smoothing)."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.training.losses import balanced_class_weights, masked_cross_entropy

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(6,), (3, 5)])
def test_matches_torch_cross_entropy(weighted, smoothing, shape):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=shape + (4,)).astype(np.float32) * 3
    labels = rng.integers(0, 4, size=shape).astype(np.int32)
    labels.flat[::3] = -100
    weights = np.array([0.5, 2.0, 1.0, 3.0], np.float32) if weighted else None
    loss_sum, weight = masked_cross_entropy(tf.constant(logits), tf.constant(labels),
                                            class_weights=None if weights is None else tf.constant(weights),
                                            label_smoothing=smoothing)
    reference = torch.nn.CrossEntropyLoss(weight=None if weights is None else torch.from_numpy(weights),
                                          ignore_index=-100, label_smoothing=smoothing, reduction="mean")
    expected = reference(torch.from_numpy(logits.reshape(-1, 4)), torch.from_numpy(labels.reshape(-1)).long())
    assert float(loss_sum / weight) == pytest.approx(float(expected), abs=1e-5)


def test_balanced_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 10 + [1] * 30 + [3] * 5)
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 3]), y=y)
    weights = balanced_class_weights(np.bincount(y, minlength=4))
    np.testing.assert_allclose(weights[[0, 1, 3]], expected, rtol=1e-6)
    assert weights[2] == 0.0
