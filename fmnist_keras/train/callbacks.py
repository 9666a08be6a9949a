"""Callbacks a run adds to Keras' own: divergence, epoch extras, atomic checkpoints, a
deadline and the one line each epoch prints."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import time
from pathlib import Path

import keras
import tensorflow as tf

from fmnist_keras.timing import Deadline, cpu_times, others_cpu_share


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


# The history columns that measure the machine, not the training: a resumed run
# repeats every other column of the uninterrupted one.
MEASURED_COLUMNS = ("epoch_time_s", "cpu_share_others")


class EpochExtras(keras.callbacks.Callback):
    """Adds the epoch's wall time, learning rate and (optionally) test accuracy to the
    epoch logs, so that CSVLogger and TensorBoard record them.

    With ``record_cpu_share``, also ``cpu_share_others``: the share of the CPU that
    other processes took during the epoch (``timing.others_cpu_share``), so an epoch
    time taken beside another job shows it. Off for a run resumed from a history
    without that column, whose CSV rows must keep the header's columns.
    """

    def __init__(self, test_dataset=None, record_cpu_share=True):
        super().__init__()
        self.test_dataset = test_dataset
        self.record_cpu_share = record_cpu_share

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        self.cpu_at_start = cpu_times()
        # The rate of the epoch's first iteration: the one its epoch number promises.
        self.learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_time_s"] = time.perf_counter() - self.started
        if self.record_cpu_share:
            logs["cpu_share_others"] = others_cpu_share(self.cpu_at_start, cpu_times())
        logs["learning_rate"] = self.learning_rate
        if self.test_dataset is not None:
            logs["test_accuracy"] = float(
                self.model.evaluate(self.test_dataset, verbose=0, return_dict=True)["accuracy"])


class CheckpointError(RuntimeError):
    """A checkpoint of the run cannot be read, or written; the message says what to do."""


def _no_space(error: OSError) -> bool:
    return getattr(error, "errno", None) == errno.ENOSPC or "No space left" in str(error)


def _disk_full(path) -> CheckpointError:
    return CheckpointError(
        f"no space left on the device of {path}; the last good checkpoint is kept: free "
        "some space and run the same command to resume")


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves to ``<name>.partial.keras`` and renames it into place,
    so an interruption during a save never leaves a truncated ``best.keras`` or
    ``last.keras`` behind (the previous one stays until the new one is complete)."""

    def __init__(self, filepath, **kwargs):
        self.final_path = Path(filepath)
        super().__init__(str(self.final_path.with_suffix(".partial.keras")), **kwargs)

    def _save_model(self, epoch, batch, logs):
        partial = Path(self.filepath)
        try:
            super()._save_model(epoch, batch, logs)
        except OSError as error:
            partial.unlink(missing_ok=True)
            if _no_space(error):
                raise _disk_full(self.final_path) from None
            raise
        if partial.exists():
            os.replace(partial, self.final_path)


class ReseedEachEpoch(keras.callbacks.Callback):
    """Makes everything an epoch draws a function of (run seed, epoch), so that a run
    resumed at epoch k draws what the uninterrupted run drew from epoch k on.

    At the start of each epoch it sets the training pipeline's ``epoch`` variable (its
    order and augmentation follow from it, `fmnist_keras.data.pipeline`) and the state
    of every Keras SeedGenerator in the model (dropout, Shake-Shake), whose counters a
    backup does not save.
    """

    def __init__(self, seed: int, epoch_variable=None):
        super().__init__()
        self.seed, self.epoch_variable = seed, epoch_variable

    def __deepcopy__(self, memo):
        # keras-tuner deep-copies a search's callbacks for every trial: a copied variable
        # would leave the pipeline's own at epoch 0, every epoch drawing the same views.
        return ReseedEachEpoch(self.seed, self.epoch_variable)

    def on_epoch_begin(self, epoch, logs=None):
        if self.epoch_variable is not None:
            self.epoch_variable.assign(epoch)
        generators = [v for v in self.model.variables if v.name == "seed_generator_state"]
        for index, state in enumerate(generators):
            key = tf.random.experimental.stateless_fold_in(
                tf.constant([self.seed, epoch], tf.int64), index)
            state.assign(keras.ops.convert_to_tensor([int(key[0]) % 2**31, 0], state.dtype))


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, with each backup written whole or not at all.

    Keras writes the weights and then the epoch number in place, so a kill between the
    two leaves a new model beside an old epoch. Here both go to ``backup.partial/``,
    which then replaces ``backup/`` by renames (the previous one waits in
    ``backup.previous/`` for the instant between them); a resume finds one complete
    backup. A backup that cannot be read stops the run with one line naming the file
    instead of a traceback or a silent fresh start, and a full disk with one line
    saying the last good backup is kept.
    """

    def __init__(self, backup_dir, **kwargs):
        self.final_dir = Path(backup_dir)
        self.partial_dir = self.final_dir.with_name(self.final_dir.name + ".partial")
        self.previous_dir = self.final_dir.with_name(self.final_dir.name + ".previous")
        super().__init__(str(self.partial_dir), double_checkpoint=False, **kwargs)

    def on_train_begin(self, logs=None):
        if not self.final_dir.exists() and self.previous_dir.exists():
            os.replace(self.previous_dir, self.final_dir)    # killed between the renames
        shutil.rmtree(self.partial_dir, ignore_errors=True)
        shutil.rmtree(self.previous_dir, ignore_errors=True)
        if not self.final_dir.exists():
            return
        weights = self.final_dir / Path(self._weights_path).name
        try:
            epoch = json.loads((self.final_dir / "training_metadata.json").read_text())["epoch"]
            if not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(weights)
        except Exception as error:   # h5py, JSON and Keras each raise their own
            raise CheckpointError(
                f"{weights.parent} is corrupt or truncated ({type(error).__name__}); "
                f"delete {weights.parent} to train again from the start, or pass "
                "--overwrite to replace the run") from None
        self.model._initial_epoch = epoch

    def _save_model(self):
        try:
            shutil.rmtree(self.partial_dir, ignore_errors=True)
            super()._save_model()
        except OSError as error:
            shutil.rmtree(self.partial_dir, ignore_errors=True)
            if _no_space(error):
                raise _disk_full(self.final_dir) from None
            raise
        if self.final_dir.exists():
            os.replace(self.final_dir, self.previous_dir)
        os.replace(self.partial_dir, self.final_dir)
        shutil.rmtree(self.previous_dir, ignore_errors=True)


class StopBeforeDeadline(keras.callbacks.Callback):
    """Stops training at the end of the first epoch after which one more, as long as
    the longest so far, would end past ``deadline`` (a ``clock()`` time).

    For a machine held for a fixed time: the run stops on an epoch boundary, after the
    backup and the checkpoints of that epoch are written (Keras reads ``stop_training``
    once every epoch-end callback has run), and the same command continues it
    elsewhere, instead of being killed mid-epoch or ending unwritten. At least one epoch
    trains. ``stopped_after`` is the number of the last finished epoch (None when the
    run finished first).
    """

    def __init__(self, deadline: float, clock=time.monotonic):
        super().__init__()
        self.deadline, self.clock = Deadline(deadline), clock
        self.stopped_after = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        another_fits = self.deadline.another_fits(self.started, self.clock())
        last = epoch + 1 == (self.params or {}).get("epochs")
        if not another_fits and not last:
            self.model.stop_training = True
            self.stopped_after = epoch + 1


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
