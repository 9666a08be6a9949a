"""Faults lose nothing: a kill while a checkpoint is written, a corrupt backup, a full
disk. Each fault is simulated at the call that writes the file."""

import errno

import keras
import numpy as np
import pytest

from fmnist_keras.testing import InterruptAt
from fmnist_keras.train import engine
from fmnist_keras.train.callbacks import CheckpointError
from fmnist_keras.train.rundir import RunDir, RunDirectoryError


def fail_on_call(monkeypatch, method, call_number, error, partial_bytes=b"\x89HDF\r\n"):
    """Makes ``keras.Model.<method>`` write a few bytes to its file and raise ``error``
    on its ``call_number``-th call (a kill or a full disk in the middle of a write)."""
    original, calls = getattr(keras.Model, method), []

    def failing(self, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) == call_number:
            with open(filepath, "wb") as handle:
                handle.write(partial_bytes)
            raise error
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, method, failing)
    return calls


def test_a_kill_while_a_model_is_saved_leaves_the_previous_one(tmp_path, data_dir, tiny_config,
                                                             monkeypatch):
    run = RunDir(tmp_path / "run")
    fail_on_call(monkeypatch, "save", 3, KeyboardInterrupt())  # epoch 2's first model file
    with pytest.raises(KeyboardInterrupt):
        engine.train(tiny_config(epochs=3), run, data_dir=data_dir, verbose=False)
    monkeypatch.undo()
    for checkpoint in ("best", "last"):
        assert run.load_model(checkpoint).count_params() > 0     # epoch 1's, whole


def test_a_kill_while_the_backup_is_written_resumes_from_the_one_before(
        tmp_path, data_dir, tiny_config, monkeypatch):
    run = RunDir(tmp_path / "run")
    config = tiny_config(epochs=3, deterministic=True, steps_per_execution=1)
    fail_on_call(monkeypatch, "save_weights", 2, KeyboardInterrupt())   # epoch 2's backup
    with pytest.raises(KeyboardInterrupt):
        engine.train(config, run, data_dir=data_dir, verbose=False)
    monkeypatch.undo()
    assert run.restored_epoch() == 1
    engine.train(config, run, data_dir=data_dir, verbose=False)
    assert run.history()["epoch"].tolist() == [0, 1, 2]
    whole = RunDir(tmp_path / "whole")
    engine.train(config, whole, data_dir=data_dir, verbose=False)
    for a, b in zip(whole.load_model("last").get_weights(), run.load_model("last").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_corrupt_backup_is_one_line_naming_it(tmp_path, data_dir, tiny_config):
    run = RunDir(tmp_path / "run")
    config = tiny_config(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        engine.train(config, run, data_dir=data_dir, verbose=False,
                     extra_callbacks=[InterruptAt(2)])
    weights = next(run.backup_dir.glob("*.weights.h5"))
    weights.write_bytes(weights.read_bytes()[:200])                    # truncated
    with pytest.raises(CheckpointError) as error:
        engine.train(config, run, data_dir=data_dir, verbose=False)
    message = str(error.value)
    assert message.startswith(f"{run.backup_dir} is corrupt or truncated (")
    assert "delete" in message and "--overwrite" in message and "\n" not in message
    (run.backup_dir / "training_metadata.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match="training_metadata.json is corrupt"):
        engine.train(config, run, data_dir=data_dir, verbose=False)


def test_a_lost_backup_is_never_a_silent_fresh_start(tmp_path, data_dir, tiny_config):
    run = RunDir(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        engine.train(tiny_config(epochs=3), run, data_dir=data_dir, verbose=False,
                     extra_callbacks=[InterruptAt(2)])
    for path in run.backup_dir.iterdir():
        path.unlink()
    run.backup_dir.rmdir()
    with pytest.raises(RunDirectoryError, match="records 2 finished epoch\\(s\\) but has no backup"):
        engine.train(tiny_config(epochs=3), run, data_dir=data_dir, verbose=False)


def test_a_full_disk_stops_with_one_line_and_keeps_the_last_good_checkpoint(
        tmp_path, data_dir, tiny_config, monkeypatch):
    run = RunDir(tmp_path / "run")
    config = tiny_config(epochs=3)
    fail_on_call(monkeypatch, "save_weights", 2,
                 OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(CheckpointError, match="no space left on the device of .*backup; the "
                       "last good checkpoint is kept"):
        engine.train(config, run, data_dir=data_dir, verbose=False)
    monkeypatch.undo()
    assert run.restored_epoch() == 1 and run.load_model("last").count_params() > 0
    engine.train(config, run, data_dir=data_dir, verbose=False)         # space freed: resumes
    assert run.history()["epoch"].tolist() == [0, 1, 2] and run.finished()

