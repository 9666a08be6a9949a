import keras
import numpy as np
import tensorflow as tf

from fmnist_keras.train.evaluate import shifted, tta_accuracy


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
