import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fmnist_keras.data.sources import DATASETS

ROOT = Path(__file__).resolve().parents[2]
INFO = DATASETS["fashion_mnist"]


def test_model_card_from_a_finished_run(tmp_path, data_dir):
    from fmnist_keras.config import resolve_config
    from fmnist_keras.report.cards import count_confusions, read_recipe, write_model_card
    from fmnist_keras.train.engine import train
    from fmnist_keras.train.rundir import RunDir

    config = resolve_config("mnist_net", recipe="mnist_final", overrides={
        "epochs": 1, "max_train_samples": 256, "validation_size": 128,
        "model_kwargs": {"channels": [4] * 7}, "test_time_flip": True, "test_time_shift": 1})
    run = tmp_path / "run"
    train(config, run, data_dir=data_dir, verbose=False)
    card = write_model_card(run, tmp_path / "saved_models" / "tiny", "python scripts/train.py ...",
                            data_dir=data_dir)
    text = card.read_text()
    assert text.startswith("# tiny\n")
    assert "| trainable parameters | " in text and "python scripts/train.py ..." in text
    assert text.count("\n| 7 | ") == 1                         # one row per class
    assert (card.parent / "confusion_matrix.png").stat().st_size > 1000
    assert count_confusions(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist() == [[1, 0], [1, 1]]
    assert read_recipe(card.parent) == RunDir(run).read_config()   # what a teacher check reads
    with pytest.raises(ValueError, match="no model card with its recipe"):
        read_recipe(tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert f"evaluated once) | {results['test_accuracy']:.4f} |" in text
    assert (f"| test accuracy with flip and 1-pixel shift test-time augmentation | "
            f"{results['test_accuracy_flip_shift_tta']:.4f} |") in text
    last = write_model_card(run, tmp_path / "saved_models" / "last", "cmd", data_dir=data_dir,
                            checkpoint="last").read_text()
    assert "| test accuracy (last epoch, 1; no selection) | " in last
    assert "test-time augmentation" not in last      # the run evaluated best.keras with it
    # The times the training run measured beside other processes say so.
    (run / "results.json").write_text(json.dumps({**results, "cpu_share_others": 0.5}))
    shared = write_model_card(run, tmp_path / "saved_models" / "shared", "cmd",
                              data_dir=data_dir).read_text()
    assert "s per epoch; other processes took 50% of the CPU meanwhile) |" in shared
    assert " ms (other processes took 50% of the CPU meanwhile) |" in shared
    # A fixed schedule's card is its last model's by default, with the run's TTA figures.
    train(config.replace(select="last"), tmp_path / "fixed", data_dir=data_dir, verbose=False)
    fixed = write_model_card(tmp_path / "fixed", tmp_path / "saved_models" / "fixed", "cmd",
                             data_dir=data_dir).read_text()
    assert "| test accuracy (last epoch, 1; no selection) | " in fixed
    assert "| test accuracy with flip test-time augmentation | " in fixed
    with pytest.raises(ValueError, match="checkpoint must be one of best, last"):
        write_model_card(run, tmp_path / "x", "cmd", data_dir=data_dir, checkpoint="final")


def test_a_card_says_when_other_processes_shared_the_cpu_during_training():
    from fmnist_keras.report.cards import shared_cpu_note

    assert shared_cpu_note(0.5) == "other processes took 50% of the CPU meanwhile"
    assert shared_cpu_note(0.02) == ""
    assert shared_cpu_note(None) == ""                   # older runs
    assert shared_cpu_note(float("nan")) == ""           # no /proc to read


def test_a_card_of_a_run_that_held_nothing_out_has_no_validation_row():
    from fmnist_keras.report.cards import accuracy_rows

    results = {"epochs": 3}
    held_out = pd.DataFrame({"val_accuracy": [0.5, 0.9]})
    nothing_held_out = pd.DataFrame({"val_accuracy": [np.nan, np.nan]})
    assert accuracy_rows("last", results, held_out, 0.9)[-1] == \
        "| validation accuracy (last epoch) | 0.9000 |"
    assert not any("validation" in row
                   for row in accuracy_rows("last", results, nothing_held_out, 0.9))
    assert not any("validation" in row
                   for row in accuracy_rows("last", results, pd.DataFrame({"x": [1]}), 0.9))
