import keras
import numpy as np
import pytest
import tensorflow as tf

from fmnist_keras.train.evaluate import shifted, tta_accuracy


def numpy_softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_tta_averages_the_probabilities_of_the_image_its_mirror_and_their_shifts():
    """A model whose answer changes with the flip (a dense layer over the pixels): the
    TTA accuracy is the accuracy of the mean softmax over exactly the promised views."""
    rng = np.random.default_rng(1)
    images = rng.normal(size=(64, 6, 6, 1)).astype("float32")
    labels = rng.integers(0, 3, 64).astype("int32")
    weights = rng.normal(size=(36, 3)).astype("float32")
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, use_bias=False)])
    model.layers[-1].set_weights([weights])
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)

    def probabilities(views):
        return sum(numpy_softmax(v.reshape(len(v), -1) @ weights) for v in views)

    def moved(view, dy, dx):
        padded = np.pad(view, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-1.0)
        return padded[:, 1 - dy:7 - dy, 1 - dx:7 - dx]

    mirror = images[:, :, ::-1]
    plain = (probabilities([images]).argmax(1) == labels).mean()
    flips = (probabilities([images, mirror]).argmax(1) == labels).mean()
    views = [images, mirror] + [moved(v, dy, dx) for v in (images, mirror)
                                for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    shifts = (probabilities(views).argmax(1) == labels).mean()
    assert len({plain, flips, shifts}) == 3                  # the views change the answer
    assert tta_accuracy(model, dataset, flip=False) == pytest.approx(plain)
    assert tta_accuracy(model, dataset) == pytest.approx(flips)
    assert tta_accuracy(model, dataset, shift=1, fill=-1.0) == pytest.approx(shifts)


def test_tta_accuracy_of_a_mirror_and_shift_invariant_model():
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, kernel_initializer="ones")])
    images = np.ones((4, 28, 28, 1), "float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.array([0, 0, 1, 1], "int32"))).batch(2)
    assert tta_accuracy(model, dataset) == 0.5   # ties go to class 0
    assert tta_accuracy(model, dataset, shift=1, fill=1.0) == 0.5


def test_shifted_moves_content_and_fills_the_edge():
    images = np.zeros((1, 4, 4, 1), "float32")
    images[0, 1, 2, 0] = 5.0
    moved = np.asarray(shifted(images, 1, -2, fill=-1.0))[0, :, :, 0]
    assert moved[2, 0] == 5.0                         # down 1, left 2
    assert (moved[0] == -1.0).all() and (moved[:, 2:] == -1.0).all()   # entered at the edges
    assert moved.shape == (4, 4) and (moved == 0.0).sum() == 16 - 4 - 6 - 1
