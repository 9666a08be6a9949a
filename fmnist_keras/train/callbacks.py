"""Callbacks a run adds to Keras' own: divergence, epoch extras, atomic checkpoints and
the one line each epoch prints."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import keras


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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
    """The one line each epoch prints (Keras' own progress output is off)."""

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy",
            "learning_rate", "epoch_time_s")

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        parts = [f"{key} {logs[key]:.4g}" for key in self.KEYS if key in logs]
        print(f"epoch {epoch + 1}/{self.epochs}: " + ", ".join(parts), flush=True)
