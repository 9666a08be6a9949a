import hashlib

import pytest
import yaml

from fmnist_keras.config import TrainConfig
from fmnist_keras.train.rundir import RunDir, RunDirectoryError, load_trained


def test_default_run_dir_depends_on_the_config_only(tiny_config):
    first, again = RunDir.default_for(tiny_config()), RunDir.default_for(tiny_config())
    other = RunDir.default_for(tiny_config(seed=1))
    assert first.path == again.path != other.path
    assert first.path.parent.name == "runs"
    assert first.path.name.startswith("mnist_net_mnist_final_seed0_")


def test_missing_files_are_named(tmp_path):
    run = RunDir(tmp_path)
    for call, name in ((run.read_config, "config.yaml"), (run.history, "history.csv"),
                       (run.results, "results.json"), (run.load_model, "config.yaml"),
                       (lambda: run.load_model("best"), "best.keras")):
        with pytest.raises(RunDirectoryError, match=name):
            call()
    with pytest.raises(ValueError, match="checkpoint must be one of best, last"):
        run.model_path("final")
    with pytest.raises(FileNotFoundError, match="expected a run directory or an existing"):
        load_trained(tmp_path / "model.h5")


def test_prepare_writes_the_config_and_resumes_only_the_same_one(tmp_path, tiny_config):
    run = RunDir(tmp_path / "run")
    assert run.prepare(tiny_config()) is False
    assert run.read_config()["arch"] == "mnist_net" and run.dataset_info().name == "mnist"
    assert run.prepare(tiny_config()) is True
    with pytest.raises(RunDirectoryError, match="differs in \\['epochs'\\]"):
        run.prepare(tiny_config(epochs=2))


def test_a_run_saved_before_a_config_key_existed_still_resumes(tmp_path, tiny_config):
    run = RunDir(tmp_path / "run")
    run.prepare(tiny_config())
    saved = yaml.safe_load(run.config_path.read_text())
    del saved["teacher"], saved["distill_weight"]           # keys at their defaults
    run.config_path.write_text(yaml.safe_dump(saved))
    assert run.prepare(tiny_config()) is True
    with pytest.raises(RunDirectoryError, match="differs in \\['distill_weight', 'teacher'\\]"):
        run.prepare(tiny_config(teacher=("runs/teacher",), distill_weight=0.5))
    # Default directories are named by the values that differ from the defaults, so
    # keys added later (at their defaults) do not move them: all defaults, no values.
    empty = hashlib.sha1(b"{}").hexdigest()[:8]
    assert RunDir.default_for(TrainConfig()).path.name == f"resnet14s_custom_seed0_{empty}"


def test_trimming_the_history_keeps_the_rows_it_keeps_as_written(tmp_path):
    # CSVLogger ends its rows with the csv module's "\r\n"; a rewrite by pandas would not.
    rows = [b"epoch,accuracy,val_accuracy\r\n"] + [
        f"{epoch},0.{epoch}5,0.{epoch}\r\n".encode() for epoch in range(4)]
    run = RunDir(tmp_path)
    run.history_path.write_bytes(b"".join(rows))
    assert run.trim_history(4) == 0.3
    assert run.history_path.read_bytes() == b"".join(rows)
    assert run.trim_history(2) == 0.1
    assert run.history_path.read_bytes() == b"".join(rows[:3])
