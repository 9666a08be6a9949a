import keras
import numpy as np

from fmnist_keras.train.losses import SparseCrossentropy


def test_sparse_crossentropy_smooths_integer_labels():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    labels = np.array([0, 2])
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(SparseCrossentropy(reduction=None)(labels, logits),
                               plain(labels, logits), rtol=1e-6)
    smoothed = SparseCrossentropy(0.3, reduction=None)(labels, logits)
    # smoothing 0.3 over 3 classes: targets 0.8 / 0.1 / 0.1
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    targets = np.full((2, 3), 0.1)
    targets[[0, 1], labels] = 0.8
    np.testing.assert_allclose(smoothed, -(targets * log_probs).sum(axis=1), rtol=1e-5)
