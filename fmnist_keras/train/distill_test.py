import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from fmnist_keras.data.sources import DATASETS, holdout_indices
from fmnist_keras.train import engine
from fmnist_keras.train.distill import (
    TeacherError,
    distillation_targets,
    load_teacher,
    teacher_probabilities,
)
from fmnist_keras.train.rundir import RunDir, RunDirectoryError


def test_targets_are_the_teachers_probabilities_then_the_label():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]], np.float32)
    targets = distillation_targets(np.array([2, 0]), probabilities)
    assert targets.dtype == np.float32
    np.testing.assert_array_equal(targets, np.array([[0.1, 0.7, 0.2, 2], [0.5, 0.25, 0.25, 0]],
                                                   np.float32))


def constant_logits(logits):
    """A model that ignores its input and predicts ``logits``."""
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(len(logits), kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(logits))
    return keras.Model(inputs, dense(inputs))


def test_teacher_probabilities_average_softened_softmaxes():
    images = tf.data.Dataset.from_tensor_slices((np.zeros((5, 2), np.float32),
                                                 np.zeros(5))).batch(2)
    first, second = np.array([2.0, 0.0, -2.0]), np.array([0.0, 1.0, 0.0])
    probabilities = teacher_probabilities(
        [constant_logits(first), constant_logits(second)], images, temperature=2.0)

    def softmax(z):
        return np.exp(z) / np.exp(z).sum()

    expected = (softmax(first / 2) + softmax(second / 2)) / 2
    assert probabilities.shape == (5, 3)
    np.testing.assert_allclose(probabilities, np.tile(expected, (5, 1)), rtol=1e-5)


def fake_run(path, **config):
    """A finished run directory with a config and no models."""
    path.mkdir()
    values = {"dataset": "mnist", "split": "standard", "validation_size": 5000, "seed": 0,
              "max_train_samples": None, "select": "last", **config}
    (path / "config.yaml").write_text(yaml.safe_dump(values))
    (path / "results.json").write_text(json.dumps({}))
    return path


def splits_holding_out(validation_size, seed, size=60000, info=DATASETS["mnist"]):
    return SimpleNamespace(val_indices=holdout_indices(size, validation_size, seed)[1],
                           split_size=size, info=info)


def test_a_teacher_that_trained_on_the_hold_out_is_refused(tmp_path):
    teacher = fake_run(tmp_path / "teacher", seed=0)
    with pytest.raises(TeacherError, match=r"trained on \d+ of this run's 5000 held-out "
                                           r"images; .*--validation-size 5000"):
        load_teacher(teacher, "mnist", "standard", splits_holding_out(5000, seed=1))
    # The same hold-out passes the check (and then finds no model in the fake run).
    with pytest.raises(RunDirectoryError, match="no last.keras"):
        load_teacher(teacher, "mnist", "standard", splits_holding_out(5000, seed=0))
    # Nothing held out: any teacher of the same data passes.
    with pytest.raises(RunDirectoryError, match="no last.keras"):
        load_teacher(teacher, "mnist", "standard", splits_holding_out(0, seed=3))


def test_teachers_of_other_data_or_unfinished_runs_are_refused(tmp_path):
    teacher = fake_run(tmp_path / "teacher", dataset="fashion_mnist")
    with pytest.raises(TeacherError, match="it trained on fashion_mnist"):
        load_teacher(teacher, "mnist", "standard", splits_holding_out(0, seed=0))
    with pytest.raises(TeacherError, match="the directory of a finished run"):
        load_teacher(tmp_path / "missing", "mnist", "standard", splits_holding_out(0, seed=0))
    # Same data, other statistics: its probabilities of this run's images would be wrong.
    standardised_elsewhere = fake_run(tmp_path / "other_statistics", normalise_with="fashion_mnist")
    with pytest.raises(TeacherError, match="another dataset's statistics .*--normalise-with"):
        load_teacher(standardised_elsewhere, "mnist", "standard", splits_holding_out(0, seed=0))


def test_a_distilled_run_trains_on_targets_and_scores_labels(tmp_path, data_dir, tiny_config):
    engine.train(tiny_config(), tmp_path / "teacher", data_dir=data_dir, verbose=False)
    student = tiny_config(teacher=(str(tmp_path / "teacher"),), distill_weight=0.5)
    _, datasets = engine.datasets_for(student, data_dir)
    _, targets = next(iter(datasets["train"]))
    assert targets.shape == (64, 11)
    np.testing.assert_allclose(tf.reduce_sum(targets[:, :10], axis=1), 1.0, rtol=1e-5)
    assert set(np.unique(targets[:, 10])) <= set(range(10))

    engine.train(student, tmp_path / "student", data_dir=data_dir, verbose=False)
    history = RunDir(tmp_path / "student").history()
    assert 0.0 <= history["accuracy"].iloc[0] <= 1.0
    assert 0.0 <= history["val_accuracy"].iloc[0] <= 1.0
