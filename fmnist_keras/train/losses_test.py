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


def log_softmax(logits):
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def test_distillation_rows_give_hintons_loss_and_the_labels_accuracy():
    from fmnist_keras.train.losses import LabelAccuracy

    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    # Teacher probabilities, then the label; the second row's teacher disagrees.
    rows = np.array([[0.6, 0.3, 0.1, 0], [0.1, 0.2, 0.7, 1]], np.float32)
    weight, temperature = 0.75, 3.0
    loss = SparseCrossentropy(0.0, weight, temperature, reduction=None)(rows, logits)
    hard = -log_softmax(logits)[[0, 1], [0, 1]]
    soft = -(rows[:, :3] * log_softmax(logits / temperature)).sum(axis=1) * temperature ** 2
    np.testing.assert_allclose(loss, (1 - weight) * hard + weight * soft, rtol=1e-5)
    # Temperature 1: the cross-entropy of the mixed target (1 - w) * one_hot + w * p.
    mixed = (1 - weight) * np.eye(3)[[0, 1]] + weight * rows[:, :3]
    np.testing.assert_allclose(SparseCrossentropy(0.0, weight, reduction=None)(rows, logits),
                               -(mixed * log_softmax(logits)).sum(axis=1), rtol=1e-5)

    accuracy = LabelAccuracy()
    accuracy.update_state(rows, logits)
    assert float(accuracy.result()) == 0.5          # row 0 right, row 1 (label 1) wrong
    accuracy.reset_state()
    accuracy.update_state(np.array([0, 2]), logits)   # integer labels, as validation
    assert float(accuracy.result()) == 1.0
