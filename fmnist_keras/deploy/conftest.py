"""The deployment tests' shared model: small, trained for one epoch, and its reference
probabilities computed in Keras."""

import keras
import pytest
import tensorflow as tf

from fmnist_keras.data.pipeline import Normalization
from fmnist_keras.data.sources import DATASETS, load_splits
from fmnist_keras.models import build_model

INFO = DATASETS["fashion_mnist"]


@pytest.fixture(scope="package")
def trained(data_dir):
    """A small model trained for a few steps, and some test images."""
    keras.utils.set_random_seed(0)
    splits = load_splits("fashion_mnist", data_dir=data_dir, max_train_samples=512)
    model = build_model("mnist_net", channels=(4, 8, 4, 8, 8, 8, 8))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    normalise = Normalization(INFO.mean, INFO.std)
    model.fit(normalise(splits.x_train[..., None]), splits.y_train, epochs=1, verbose=0)
    return model, splits.x_test[:8]


@pytest.fixture(scope="package")
def keras_probabilities():
    """Softmax of a Keras model on raw uint8 images, normalised as the export does."""

    def probabilities(model, images):
        logits = model(Normalization(INFO.mean, INFO.std)(images[..., None]), training=False)
        return tf.nn.softmax(logits).numpy()

    return probabilities
