"""The run directory: every file a run writes, and the one place that names them.

A run directory holds::

    config.yaml       the TrainConfig as given (a resume must match it)
    starts.json       each start and resume: its first epoch, machine and precision
    history.csv       one row per epoch, no gap and no repeat across resumes
    tensorboard/      TensorBoard logs
    backup/           the training state of the last finished epoch (resume)
    best.keras        the model with the best validation accuracy (the selected one)
    last.keras        the model after the last finished epoch
    results.json      the final figures and the resolved run-time settings

Training (`fmnist_keras.train.engine`), the multi-worker loop, exports, model cards and
benchmarks all read and write through `RunDir`, so a run trained one way is exported,
benchmarked and described the same way as any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import keras
import pandas as pd
import yaml

from fmnist_keras import models  # noqa: F401 (registers the layers a saved run names)
from fmnist_keras.data.sources import DatasetInfo, dataset_info
from fmnist_keras.train import losses, schedules  # noqa: F401 (its loss and schedules)

CHECKPOINTS = ("best", "last")


class RunDirectoryError(RuntimeError):
    """The run directory holds another run, or a finished one, or lacks a file."""


class FinishedRunError(RunDirectoryError):
    """The run directory holds this very run, finished."""


def _defaults_of(config) -> dict:
    """The config class's default values, as ``config.yaml`` writes them."""
    return type(config)().to_dict()


class RunDir:
    """A run directory and the names of the files in it."""

    def __init__(self, path):
        self.path = Path(path)
        self.config_path = self.path / "config.yaml"
        self.history_path = self.path / "history.csv"
        self.tensorboard_dir = self.path / "tensorboard"
        self.backup_dir = self.path / "backup"
        self.checkpoints_dir = self.path / "checkpoints"   # the multi-worker loop's state
        self.results_path = self.path / "results.json"
        self.starts_path = self.path / "starts.json"

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self):   # a RunDir goes wherever a path does
        return str(self.path)

    @classmethod
    def default_for(cls, config, root="runs") -> "RunDir":
        """Same config, same directory (so running a command again resumes it); another
        config, another directory (so a new config never lands in an old run). The
        digest covers the values that differ from the defaults, so a field added to the
        config later leaves the directories of earlier runs where they were."""
        defaults = _defaults_of(config)
        changed = {key: value for key, value in config.to_dict().items()
                   if value != defaults[key]}
        digest = hashlib.sha1(json.dumps(changed, sort_keys=True).encode()).hexdigest()
        return cls(Path(root) / f"{config.arch}_{config.recipe or 'custom'}_seed{config.seed}"
                                f"_{digest[:8]}")

    def model_path(self, checkpoint: str = "best") -> Path:
        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}; "
                             f"received {checkpoint!r}.")
        return self.path / f"{checkpoint}.keras"

    # ------------------------------------------------------------- starting a run

    def prepare(self, config, overwrite: bool = False) -> bool:
        """Creates the directory for ``config``, or checks that it holds the same run
        unfinished; returns True when resuming.

        Raises:
            RunDirectoryError: when it holds another config, unless ``overwrite``
                (which deletes it first).
            FinishedRunError: when it holds this run, finished (unless ``overwrite``).
        """
        if self.path.exists() and overwrite:
            shutil.rmtree(self.path)
        if self.config_path.exists():
            # A key added to the config since the run started reads as its default.
            saved = {**_defaults_of(config), **self.read_config()}
            wanted = config.to_dict()
            if saved != wanted:
                changed = sorted(k for k in set(saved) | set(wanted)
                                 if saved.get(k) != wanted.get(k))
                raise RunDirectoryError(
                    f"{self.path} holds a run with another config (differs in {changed}); "
                    "choose another --run-dir, or pass --overwrite to replace it.")
            if self.finished():
                raise FinishedRunError(
                    f"{self.path} holds a finished run; choose another --run-dir, or pass "
                    "--overwrite to replace it.")
            return True
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        return False

    def starts(self) -> list[dict]:
        """Each start of the run, first to last: ``{"epoch", "device", "mixed_precision"}``."""
        return json.loads(self.starts_path.read_text()) if self.starts_path.exists() else []

    def pinned_precision(self) -> bool | None:
        """The precision the run first started with (None for a new run): a run resumed
        on another machine keeps it, whatever ``mixed_precision: auto`` would pick there,
        so that it stays one run."""
        starts = self.starts()
        return starts[0]["mixed_precision"] if starts else None

    def record_start(self, resolved: dict, epoch: int) -> None:
        """Appends a start at ``epoch`` on the machine and precision of ``resolved``."""
        starts = [*self.starts(), {"epoch": epoch, **resolved}]
        partial = self.starts_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(starts, indent=2))
        os.replace(partial, self.starts_path)

    def devices(self) -> str:
        """The machines the run trained on, in order of first use, ``"; "``-joined."""
        return "; ".join(dict.fromkeys(start["device"] for start in self.starts()))

    def restored_epoch(self) -> int:
        """The number of finished epochs the backup holds (0 without a backup).

        Raises:
            RunDirectoryError: when the history records finished epochs but no backup
                holds them (resuming would silently start over), or the backup's
                epoch cannot be read.
        """
        metadata = self.backup_dir / "training_metadata.json"
        for folder in (self.backup_dir, self.backup_dir.with_name("backup.previous")):
            if (folder / "training_metadata.json").exists():
                metadata = folder / "training_metadata.json"
                break
        else:
            recorded = len(self.history()) if self.history_path.exists() and \
                self.history_path.stat().st_size else 0
            if recorded:
                raise RunDirectoryError(
                    f"{self.path} records {recorded} finished epoch(s) but has no backup to "
                    "resume from; pass --overwrite to train again from the start.")
            return 0
        try:
            return int(json.loads(metadata.read_text())["epoch"])
        except (ValueError, KeyError, TypeError) as error:
            raise RunDirectoryError(
                f"{metadata} is corrupt ({type(error).__name__}); delete {metadata.parent} "
                "to train again from the start, or pass --overwrite to replace the run"
            ) from None

    def trim_history(self, epochs_done: int) -> float | None:
        """Drops history rows the backup does not cover (a crash between the CSV row and
        the backup), and returns the best validation accuracy so far.

        The rows kept stay as CSVLogger wrote them, byte for byte, so that a resumed
        history differs from an uninterrupted one only in its new rows (and a kept run
        directory's file changes only where it grew).
        """
        if not self.history_path.exists() or self.history_path.stat().st_size == 0:
            return None
        written = pd.read_csv(self.history_path)
        history = written[written["epoch"] < epochs_done]   # rows are in epoch order
        if len(history) < len(written):
            lines = self.history_path.read_bytes().splitlines(keepends=True)
            self.history_path.write_bytes(b"".join(lines[:1 + len(history)]))
        if "val_accuracy" in history and len(history):
            return float(history["val_accuracy"].max())
        return None

    # -------------------------------------------------------------- ending a run

    def write_results(self, row: dict) -> None:
        """Writes ``results.json`` (which marks the run finished) and drops the backup."""
        self.results_path.write_text(json.dumps(row, indent=2))
        for suffix in ("", ".partial", ".previous"):
            shutil.rmtree(self.backup_dir.with_name("backup" + suffix), ignore_errors=True)

    def finished(self) -> bool:
        return self.results_path.exists()

    # ------------------------------------------------------------ reading a run

    def read_config(self) -> dict:
        if not self.config_path.exists():
            raise RunDirectoryError(f"{self.path} has no config.yaml; is it a run directory?")
        return yaml.safe_load(self.config_path.read_text())

    def dataset_info(self) -> DatasetInfo:
        """The run's dataset with the statistics its images were standardised with."""
        config = self.read_config()
        return dataset_info(config.get("dataset", "fashion_mnist")).standardised_as(
            config.get("normalise_with"))

    def history(self) -> pd.DataFrame:
        if not self.history_path.exists():
            raise RunDirectoryError(f"{self.path} has no history.csv; has it trained an epoch?")
        return pd.read_csv(self.history_path)

    def results(self) -> dict:
        if not self.finished():
            raise RunDirectoryError(f"{self.path} has no results.json; is it a finished run?")
        return json.loads(self.results_path.read_text())

    def save_model(self, model, checkpoint: str = "last") -> None:
        """Writes ``best.keras`` or ``last.keras`` aside and renames it into place."""
        path = self.model_path(checkpoint)
        partial = path.with_suffix(".partial.keras")
        model.save(partial)
        os.replace(partial, path)

    def selected_checkpoint(self) -> str:
        """The checkpoint the run evaluated as its model: its config's ``select``."""
        return self.read_config().get("select", "best")

    def load_model(self, checkpoint: str | None = None):
        """The run's ``best`` or ``last`` model (default: the one it selected), for
        inference (not compiled)."""
        path = self.model_path(checkpoint or self.selected_checkpoint())
        if not path.exists():
            raise RunDirectoryError(f"{self.path} has no {path.name}; is it a finished run?")
        return load_checkpoint(path)


def load_checkpoint(path, compile: bool = False):
    """A ``.keras`` checkpoint of any run, for inference by default."""
    return keras.saving.load_model(path, compile=compile)


def load_trained(source, checkpoint: str | None = None):
    """A Keras model and its `DatasetInfo` (the run's normalisation) from a run
    directory (its ``best.keras`` or ``last.keras``, by default the one the run
    selected, and ``config.yaml``), or from a ``.keras`` file (info None)."""
    source = Path(source)
    if source.is_dir():
        run = RunDir(source)
        return run.load_model(checkpoint), run.dataset_info()
    if source.suffix != ".keras" or not source.exists():
        raise FileNotFoundError(f"{source}: expected a run directory or an existing .keras file.")
    return load_checkpoint(source), None
