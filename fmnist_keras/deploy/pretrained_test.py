import numpy as np
import pytest

import fmnist_keras
from fmnist_keras.data.sources import load_arrays


def test_committed_models_are_listed():
    names = fmnist_keras.list_pretrained()
    assert {"mnist_8k", "fmnist_resnet14s_95"} <= set(names)


def test_pretrained_model_takes_raw_pixels_with_or_without_a_channel(data_dir):
    arrays = load_arrays("mnist", data_dir=data_dir, download=False)
    images, labels = arrays["test_images"][:500].astype("float32"), arrays["test_labels"][:500]
    model = fmnist_keras.load_pretrained("mnist_8k")
    probabilities = np.asarray(model(images))
    assert probabilities.shape == (500, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == labels).mean() > 0.98
    np.testing.assert_allclose(np.asarray(model(images[..., None])), probabilities, atol=1e-6)


def test_unknown_name_and_version_list_the_known_ones():
    with pytest.raises(ValueError, match="known: .*mnist_8k"):
        fmnist_keras.load_pretrained("mnist_9k")
    with pytest.raises(ValueError, match="mnist_8k has no version 7; versions: 1"):
        fmnist_keras.load_pretrained("mnist_8k", version=7)
