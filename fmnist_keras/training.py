"""Training a model with a recipe: the run directory, resume, selection, results.

A run directory holds::

    config.yaml       the resolved TrainConfig (a resume must match it)
    history.csv       one row per epoch (CSVLogger), no gap and no repeat across resumes
    tensorboard/      TensorBoard logs
    backup/           BackupAndRestore's state: weights, optimiser, epoch
    best.keras        the model with the best validation accuracy (the selected one)
    last.keras        the model after the last finished epoch
    results.json      the final figures, written once when the run ends

Model selection is on the validation hold-out; the test set is evaluated once, on the
selected model. A per-epoch test accuracy (``log_test_accuracy``) is only a
comparison with the references, which selected on the test set.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml

from fmnist_keras import augment as augment_lib
from fmnist_keras import benchmark, data, results
from fmnist_keras.models import build_model
from fmnist_keras.models.analysis import parameter_counts
from fmnist_keras.recipes import TrainConfig
from fmnist_keras.schedules import build_schedule

OPTIMIZERS = ("sgd", "adam")
WEIGHT_DECAY_MODES = ("coupled", "decoupled")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class RunDirectoryError(RuntimeError):
    """The run directory holds another run, or a finished one."""


class FinishedRunError(RunDirectoryError):
    """The run directory holds this very run, finished."""


class StopOnNaN(keras.callbacks.Callback):
    """Raises `TrainingDiverged` at the first non-finite loss.

    Raising (rather than setting ``stop_training`` like Keras' TerminateOnNaN) skips
    the epoch-end callbacks, so neither the backup nor ``last.keras`` is overwritten
    with the diverged weights.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"loss became {loss} at epoch {self.epoch + 1}, step {batch + 1}; the last "
                "good checkpoint is kept: lower --lr or add warm-up (--warmup-epochs) and "
                "run again with --overwrite.")


class EpochExtras(keras.callbacks.Callback):
    """Adds the epoch's wall time, learning rate and (optionally) test accuracy to the
    epoch logs, so that CSVLogger and TensorBoard record them."""

    def __init__(self, test_dataset=None):
        super().__init__()
        self.test_dataset = test_dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        # The rate of the epoch's first iteration: the one its epoch number promises.
        self.learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_time_s"] = time.perf_counter() - self.started
        logs["learning_rate"] = self.learning_rate
        if self.test_dataset is not None:
            logs["test_accuracy"] = float(
                self.model.evaluate(self.test_dataset, verbose=0, return_dict=True)["accuracy"])


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves to ``<name>.partial.keras`` and renames it into place,
    so an interruption during a save never leaves a truncated ``best.keras`` or
    ``last.keras`` behind (the previous one stays until the new one is complete)."""

    def __init__(self, filepath, **kwargs):
        self.final_path = Path(filepath)
        super().__init__(str(self.final_path.with_suffix(".partial.keras")), **kwargs)

    def _save_model(self, epoch, batch, logs):
        super()._save_model(epoch, batch, logs)
        partial = Path(self.filepath)
        if partial.exists():
            os.replace(partial, self.final_path)


class EpochSummary(keras.callbacks.Callback):
    """One line per epoch, after Keras' progress bar."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy",
                "learning_rate", "epoch_time_s")
        parts = [f"{key} {logs[key]:.4g}" for key in keys if key in logs]
        print(f"epoch {epoch + 1}/{self.epochs}: " + ", ".join(parts), flush=True)


def configure_runtime(config: TrainConfig) -> None:
    """Seeds every generator and sets the dtype policy; call before building models."""
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if config.mixed_precision else "float32")


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """SGD or Adam on the recipe's schedule; decoupled weight decay goes here."""
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}.")
    if config.weight_decay_mode not in WEIGHT_DECAY_MODES:
        raise ValueError(f"Unknown weight_decay_mode {config.weight_decay_mode!r}; "
                         f"known: {', '.join(WEIGHT_DECAY_MODES)}.")
    decoupled = config.weight_decay if config.weight_decay_mode == "decoupled" else None
    schedule = build_schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=config.momentum,
                                    nesterov=config.nesterov, weight_decay=decoupled)
    # epsilon as in torch.optim.Adam, which the MNIST reference used
    return keras.optimizers.Adam(schedule, epsilon=1e-8, weight_decay=decoupled)


def apply_coupled_weight_decay(model, weight_decay: float) -> None:
    """The references' weight decay: ``weight_decay * w`` added to the gradient of
    every trainable variable (kernels, biases, BN gamma and beta), i.e. an L2 term
    ``weight_decay / 2 * ||w||^2`` in the loss, before momentum."""
    for variable in model.trainable_variables:
        variable.regularizer = keras.regularizers.L2(weight_decay / 2)


@keras.saving.register_keras_serializable(package="fmnist_keras")
class SparseCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits on integer labels, with optional label smoothing
    (Keras' sparse loss has none; its dense one needs one-hot labels, which the
    accuracy metric and the pipelines would then have to carry)."""

    def __init__(self, label_smoothing: float = 0.0, name="sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        num_classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.one_hot(keras.ops.reshape(keras.ops.cast(y_true, "int32"), [-1]),
                                   num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            labels, y_pred, from_logits=True, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def load_checkpoint(path, compile: bool = False):
    """A ``.keras`` checkpoint of a run, for inference by default. Importing this module
    registers the custom loss, and ``fmnist_keras.models`` the custom layers, so any
    run's checkpoint loads."""
    return keras.saving.load_model(path, compile=compile)


def build_and_compile(config: TrainConfig, info: data.DatasetInfo, steps_per_epoch: int):
    model = build_model(config.arch, num_classes=info.num_classes, **config.model_kwargs)
    if config.weight_decay and config.weight_decay_mode == "coupled":
        apply_coupled_weight_decay(model, config.weight_decay)
    model.compile(optimizer=make_optimizer(config, steps_per_epoch),
                  loss=SparseCrossentropy(config.label_smoothing),
                  metrics=["accuracy"], jit_compile=config.jit_compile)
    return model


def make_strategy(distribute: str | None):
    """None (default device), or a tf.distribute strategy by name."""
    if distribute in (None, "none"):
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if not devices:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise ValueError(f"Unknown distribution {distribute!r}; known: none, mirrored.")


def split_cpu(num_devices: int) -> None:
    """Splits the CPU into logical devices (to try MirroredStrategy without GPUs).
    Must run before TensorFlow initialises its devices."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


def prepare_run_dir(run_dir: Path, config: TrainConfig, overwrite: bool) -> bool:
    """Creates or checks the run directory; returns True when resuming.

    Raises:
        RunDirectoryError: when it holds a finished run or another config, unless
            ``overwrite`` (which deletes it first).
    """
    config_path = run_dir / "config.yaml"
    if run_dir.exists() and overwrite:
        shutil.rmtree(run_dir)
    if config_path.exists():
        saved = yaml.safe_load(config_path.read_text())
        if saved != config.to_dict():
            changed = sorted(k for k in set(saved) | set(config.to_dict())
                             if saved.get(k) != config.to_dict().get(k))
            raise RunDirectoryError(
                f"{run_dir} holds a run with another config (differs in {changed}); "
                "choose another --run-dir, or pass --overwrite to replace it.")
        if (run_dir / "results.json").exists():
            raise FinishedRunError(
                f"{run_dir} holds a finished run; choose another --run-dir, or pass "
                "--overwrite to replace it.")
        return True
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return False


def restored_epoch(run_dir: Path) -> int:
    """The number of finished epochs the backup holds (0 without a backup)."""
    metadata = run_dir / "backup" / "training_metadata.json"
    if not metadata.exists():
        return 0
    return int(json.loads(metadata.read_text())["epoch"])


def trim_history(history_path: Path, epochs_done: int) -> float | None:
    """Drops history rows the backup does not cover (a crash between the CSV row and
    the backup), and returns the best validation accuracy so far."""
    if not history_path.exists() or history_path.stat().st_size == 0:
        return None
    history = pd.read_csv(history_path)
    history = history[history["epoch"] < epochs_done]
    history.to_csv(history_path, index=False)
    if "val_accuracy" in history and len(history):
        return float(history["val_accuracy"].max())
    return None


def datasets_for(config: TrainConfig, data_dir=None):
    """Loads the splits and builds the training, validation and test pipelines."""
    splits = data.load_splits(config.dataset, config.split, config.validation_size,
                              config.seed, data_dir, config.max_train_samples)

    def pipeline(images, labels, training=False):
        return augment_lib.make_dataset(
            images, labels, splits.info, config.batch_size, training=training,
            augment=config.augment, seed=config.seed, **config.augment_options())

    return splits, {
        "train": pipeline(splits.x_train, splits.y_train, training=True),
        "val": pipeline(splits.x_val, splits.y_val) if len(splits.x_val) else None,
        "test": pipeline(splits.x_test, splits.y_test),
    }


def train(config: TrainConfig, run_dir, data_dir=None, overwrite: bool = False,
          results_table=results.DEFAULT_TABLE, distribute: str | None = None,
          extra_callbacks=(), verbose: int | None = None) -> dict:
    """Trains, selects on validation, tests once, and records the run.

    Starting again after an interruption resumes from the last finished epoch with the
    optimiser state and schedule position of that epoch.

    Returns:
        The run's results (also in ``run_dir/results.json`` and the results table).
    """
    run_dir = Path(run_dir)
    if verbose is None:  # a live progress bar on a terminal, one line per epoch in a log
        verbose = 1 if sys.stdout.isatty() else 2
    augment_lib.parse_augmentations(config.augment)
    resuming = prepare_run_dir(run_dir, config, overwrite)
    configure_runtime(config)
    splits, datasets = datasets_for(config, data_dir)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    strategy = make_strategy(distribute)
    with strategy.scope():
        model = build_and_compile(config, splits.info, steps_per_epoch)

    history_path = run_dir / "history.csv"
    best_so_far = trim_history(history_path, restored_epoch(run_dir)) if resuming else None
    monitor = "val_accuracy" if datasets["val"] is not None else "accuracy"
    callbacks = [
        StopOnNaN(),
        EpochExtras(datasets["test"] if config.log_test_accuracy else None),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        # Kept after fit (delete_checkpoint=False) so a crash before results.json
        # resumes into the evaluation instead of training again; removed after it.
        keras.callbacks.BackupAndRestore(str(run_dir / "backup"), double_checkpoint=True,
                                         delete_checkpoint=False),
        AtomicModelCheckpoint(run_dir / "best.keras", monitor=monitor, mode="max",
                              save_best_only=True, initial_value_threshold=best_so_far),
        AtomicModelCheckpoint(run_dir / "last.keras"),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard")),
        keras.callbacks.ProgbarLogger(),  # placed here so it ends its line before the summary
        EpochSummary(config.epochs),
        *extra_callbacks,
    ]
    model.fit(datasets["train"], validation_data=datasets["val"], epochs=config.epochs,
              callbacks=callbacks, verbose=verbose, shuffle=False)
    return finish_run(config, run_dir, splits, datasets, results_table,
                      replicas=strategy.num_replicas_in_sync)


def shifted(images, dy: int, dx: int, fill: float):
    """NHWC images moved down by ``dy`` and right by ``dx`` pixels (negative: up, left),
    with ``fill`` entering at the edges."""
    pad = max(abs(dy), abs(dx))
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=fill)
    height, width = images.shape[1], images.shape[2]
    return padded[:, pad - dy:pad - dy + height, pad - dx:pad - dx + width]


def tta_accuracy(model, dataset, flip: bool = True, shift: int = 0, fill: float = 0.0) -> float:
    """Accuracy of the mean softmax over test-time views of each image (test-time
    augmentation for models trained with flips and crops): the image, its mirror image
    (``flip``), and each of those moved ``shift`` pixels up, down, left and right with
    the background value ``fill`` entering at the edge."""
    moves = ((shift, 0), (-shift, 0), (0, shift), (0, -shift)) if shift else ()
    correct = total = 0
    for images, labels in dataset:
        views = [images, images[:, :, ::-1]] if flip else [images]
        views += [shifted(view, dy, dx, fill) for view in views for dy, dx in moves]
        probabilities = sum(tf.nn.softmax(tf.cast(model(view, training=False), tf.float32))
                            for view in views)
        correct += int(tf.reduce_sum(tf.cast(
            tf.argmax(probabilities, axis=-1, output_type=tf.int32) == labels, tf.int32)))
        total += int(tf.shape(labels)[0])
    return correct / total


def finish_run(config, run_dir: Path, splits, datasets, results_table, replicas=1) -> dict:
    """Evaluates the selected model on the test set once and writes the results."""
    history = pd.read_csv(run_dir / "history.csv")
    selected = keras.saving.load_model(run_dir / "best.keras")
    metric = "val_accuracy" if "val_accuracy" in history else "accuracy"
    best_row = history.loc[history[metric].idxmax()]
    test = selected.evaluate(datasets["test"], verbose=0, return_dict=True)
    counts = parameter_counts(selected)
    row = {
        "network": config.arch,
        **counts.as_dict(),
        "train_accuracy": float(best_row["accuracy"]),
        "val_accuracy": float(best_row.get("val_accuracy", np.nan)),
        "test_accuracy": float(test["accuracy"]),
        "selected_epoch": int(best_row["epoch"]) + 1,
        "epochs": int(len(history)),
        "time_per_epoch_s": float(history["epoch_time_s"].mean()),
        "training_minutes": float(history["epoch_time_s"].sum() / 60),
        "inference_ms_batch1": benchmark.keras_batch1_latency_ms(selected),
        "batch_size": config.batch_size,
        "recipe": config.recipe or "",
        "seed": config.seed,
        "dataset": config.dataset,
        "split": config.split,
        "train_examples": len(splits.x_train),
        "replicas": replicas,
        "run_dir": str(run_dir),
    }
    if config.test_time_flip:
        row["test_accuracy_flip_tta"] = tta_accuracy(selected, datasets["test"])
    if config.test_time_shift:
        black = -splits.info.mean / splits.info.std  # a zero pixel, normalised
        views = "flip_shift" if config.test_time_flip else "shift"
        row[f"test_accuracy_{views}_tta"] = tta_accuracy(
            selected, datasets["test"], flip=config.test_time_flip,
            shift=config.test_time_shift, fill=black)
    if "test_accuracy" in history:
        # The references' way (best epoch chosen on the test set), for comparison only.
        row["best_test_accuracy_reference_style"] = float(history["test_accuracy"].max())
        row["last_epoch_test_accuracy"] = float(history["test_accuracy"].iloc[-1])
    results.append_row(results_table, row)
    (run_dir / "results.json").write_text(json.dumps(row, indent=2))
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    return row
