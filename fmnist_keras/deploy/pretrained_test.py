import keras
import numpy as np
import pytest

import fmnist_keras
from fmnist_keras.data.pipeline import make_dataset
from fmnist_keras.data.sources import load_arrays, load_splits
from fmnist_keras.deploy.pretrained import load_teacher
from fmnist_keras.train.distill import TeacherError, teacher_probabilities


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


def test_an_exported_model_teaches_with_its_own_probabilities(data_dir):
    """mnist_8k trained with seed 0's 1,000-image hold-out (its card's recipe)."""
    splits = load_splits("mnist", validation_size=1000, seed=0, data_dir=data_dir,
                         max_train_samples=300)
    teacher = load_teacher("mnist_8k", "mnist", "standard", splits)
    images = make_dataset(splits.x_train, splits.y_train, splits.info, 100)
    probabilities = teacher_probabilities([teacher], images, temperature=1.0)
    own = np.asarray(fmnist_keras.load_pretrained("mnist_8k")(splits.x_train.astype("float32")))
    np.testing.assert_allclose(probabilities, own, atol=1e-4)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")   # as a bfloat16 run's
    try:
        in_bfloat16_run = teacher_probabilities(
            [load_teacher("mnist_8k", "mnist", "standard", splits)], images)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    np.testing.assert_allclose(in_bfloat16_run, own, atol=1e-4)   # the export stays float32
    # At a temperature, the softmax of its log-probabilities: flatter, same ranking.
    soft = teacher_probabilities([teacher], images, temperature=4.0)
    assert (soft.max(axis=1) < probabilities.max(axis=1)).all()
    np.testing.assert_array_equal(soft.argmax(axis=1), probabilities.argmax(axis=1))

    other_hold_out = load_splits("mnist", validation_size=1000, seed=1, data_dir=data_dir,
                                 max_train_samples=300)
    with pytest.raises(TeacherError, match=r"'mnist_8k' is not accepted: it trained on \d+ of "
                                           r"this run's 1000 held-out images"):
        load_teacher("mnist_8k", "mnist", "standard", other_hold_out)
    with pytest.raises(TeacherError, match="it trained on mnist"):
        load_teacher("mnist_8k", "fashion_mnist", "standard", other_hold_out)
