"""Knowledge distillation (Hinton et al., 2015): the training batches carry, beside
each label, the mean predicted probabilities of trained teachers, which the loss
(`fmnist_keras.train.losses.SparseCrossentropy`) weighs against the label.

The teachers see each training image once, unaugmented, before training; the student
then matches those probabilities on its augmented views. That costs one inference pass
instead of one per step, and a small rotation or crop barely moves a teacher's
prediction. A teacher is a run directory here (an exported model with its model card
is one too, through `fmnist_keras.deploy.pretrained.load_teacher`), so that what it
trained on is known: a teacher that trained on images this run holds out would leak
their labels into the model selected on them, and is refused.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from fmnist_keras.data.sources import DataSplits, run_indices
from fmnist_keras.train.rundir import RunDir


class TeacherError(ValueError):
    """A teacher that cannot be used for this run; the message says why and the fix."""


def _refuse(path, reason: str):
    raise TeacherError(f"teacher (--teacher) = {str(path)!r} is not accepted: {reason}.")


def check_trained_on(path, trained_on: dict, dataset: str, split: str, splits: DataSplits):
    """Refuses a teacher whose training config (``trained_on``: a run's config) names
    other data than this run's, or whose training images include this run's hold-out.

    Raises:
        TeacherError: naming the mismatch and the fix.
    """
    if (trained_on["dataset"], trained_on["split"]) != (dataset, split):
        _refuse(path, f"it trained on {trained_on['dataset']} ({trained_on['split']} split), "
                f"this run on {dataset} ({split} split)")
    if len(splits.val_indices):
        teacher_trained_on, _ = run_indices(splits.split_size, trained_on["validation_size"],
                                            trained_on["seed"],
                                            trained_on.get("max_train_samples"))
        seen = np.intersect1d(teacher_trained_on, splits.val_indices)
        if len(seen):
            _refuse(path, f"it trained on {len(seen)} of this run's {len(splits.val_indices)} "
                    f"held-out images; use a teacher trained with --validation-size "
                    f"{len(splits.val_indices)} and this run's --seed")


def load_teacher(path, dataset: str, split: str, splits: DataSplits):
    """The model a finished run selected, checked against this run's data: a model of
    this run's normalised images to logits.

    Raises:
        TeacherError: the path is not a finished run, or it trained on another dataset
            or split, or on images this run holds out.
    """
    run = RunDir(path)
    if not run.finished():
        _refuse(path, "expected the directory of a finished run (with results.json) or a "
                "trained model's name or folder under saved_models/")
    config = run.read_config()
    check_trained_on(path, config, dataset, split, splits)
    if run.dataset_info() != splits.info:   # same dataset (checked), other statistics
        _refuse(path, "it standardised its images with another dataset's statistics "
                f"(normalise_with {config.get('normalise_with')}); use a teacher with "
                "this run's --normalise-with")
    return run.load_model(config["select"])


def teacher_probabilities(teachers, images: tf.data.Dataset,
                          temperature: float = 1.0) -> np.ndarray:
    """The teachers' mean softmax of ``logits / temperature`` over a dataset of
    ``(normalised images, labels)`` batches, as an ``(N, classes)`` float32 array.
    A teacher is called on a batch, in inference mode, and returns logits."""
    per_teacher = []
    for teacher in teachers:
        predict = tf.function(lambda x, model=teacher: tf.nn.softmax(
            tf.cast(model(x), tf.float32) / temperature))
        per_teacher.append(np.concatenate([predict(x).numpy() for x, _ in images]))
    return np.mean(per_teacher, axis=0).astype(np.float32)


def distillation_targets(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``(N, classes + 1)``: the teachers' probabilities, then the label, the rows a
    distilling run's training batches carry (`fmnist_keras.train.losses`)."""
    return np.concatenate([probabilities.astype(np.float32),
                           np.asarray(labels, np.float32)[:, None]], axis=1)
