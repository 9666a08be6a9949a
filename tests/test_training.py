import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fmnist_keras import training
from fmnist_keras.cli import report_main
from fmnist_keras.data import DATASETS
from fmnist_keras.recipes import resolve_config
from fmnist_keras.results import seed_summary

ROOT = Path(__file__).resolve().parents[1]
TINY = {"epochs": 1, "max_train_samples": 256, "validation_size": 128, "batch_size": 64,
        "model_kwargs": {"channels": [4, 4, 4, 4, 4, 4, 4]}}


def tiny_config(**overrides):
    return resolve_config("mnist_net", recipe="mnist_final", overrides={**TINY, **overrides})


class Interrupt(keras.callbacks.Callback):
    """Stands for a kill: raises when the given epoch begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_one_epoch_run_writes_run_dir_and_results_row(tmp_path, data_dir):
    table = tmp_path / "results.csv"
    row = training.train(tiny_config(), tmp_path / "run", data_dir=data_dir,
                         results_table=table, verbose=0)
    run = tmp_path / "run"
    for name in ("config.yaml", "history.csv", "best.keras", "last.keras", "results.json"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents*"))
    assert not (run / "backup").exists()
    assert not list(run.glob("*.partial.keras"))
    results = pd.read_csv(table)
    assert len(results) == 1
    assert results.loc[0, "network"] == "mnist_net"
    assert results.loc[0, "trainable_params"] == row["trainable_params"]
    assert 0.0 <= results.loc[0, "test_accuracy"] <= 1.0
    assert json.loads((run / "results.json").read_text())["epochs"] == 1


def test_interrupted_run_resumes_at_the_next_epoch(tmp_path, data_dir):
    config = tiny_config(epochs=3, schedule="step", step_size=1, gamma=0.5)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        training.train(config, run, data_dir=data_dir, results_table=tmp_path / "r.csv",
                       extra_callbacks=[Interrupt(epoch=1)], verbose=0)
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [0]
    assert not (run / "results.json").exists()
    training.train(config, run, data_dir=data_dir, results_table=tmp_path / "r.csv", verbose=0)
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2]
    # The schedule continued from the restored iteration count: 0.01 halves each epoch.
    np.testing.assert_allclose(history["learning_rate"], [0.01, 0.005, 0.0025], rtol=1e-5)


def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path, data_dir):
    class PoisonWeights(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.params and getattr(self, "epoch", 0) == 1 and batch == 1:
                kernel = self.model.get_layer("conv8").kernel
                kernel.assign(kernel * np.nan)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    run = tmp_path / "run"
    with pytest.raises(training.TrainingDiverged, match="epoch 2, step 2"):
        training.train(tiny_config(epochs=3), run, data_dir=data_dir,
                       results_table=tmp_path / "r.csv", extra_callbacks=[PoisonWeights()],
                       verbose=0)
    last = keras.saving.load_model(run / "last.keras")
    assert all(np.isfinite(w).all() for w in last.get_weights())
    assert training.restored_epoch(run) == 1


def test_existing_run_dir_is_never_overwritten(tmp_path, data_dir):
    run, table = tmp_path / "run", tmp_path / "r.csv"
    training.train(tiny_config(), run, data_dir=data_dir, results_table=table, verbose=0)
    before = (run / "results.json").read_text()
    with pytest.raises(training.RunDirectoryError, match="finished run"):
        training.train(tiny_config(), run, data_dir=data_dir, results_table=table, verbose=0)
    with pytest.raises(training.RunDirectoryError, match="differs in \\['seed'\\]"):
        training.train(tiny_config(seed=1), run, data_dir=data_dir, results_table=table,
                       verbose=0)
    assert (run / "results.json").read_text() == before
    training.train(tiny_config(seed=1), run, data_dir=data_dir, results_table=table,
                   overwrite=True, verbose=0)
    assert json.loads((run / "results.json").read_text())["seed"] == 1


def test_coupled_weight_decay_is_l2_on_every_parameter(data_dir):
    config = tiny_config(weight_decay=1e-2)
    training.configure_runtime(config)
    model = training.build_and_compile(config, DATASETS["mnist"], 4)
    expected = 0.5 * 1e-2 * sum(float(np.sum(np.square(v))) for v in model.trainable_variables)
    assert len(model.losses) == len(model.trainable_variables)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    result = run_cli("--arch", "mnist_net", "--recipe", "mnist_final", "--epochs", "1",
                     "--max-train-samples", "256", "--validation-size", "128",
                     "--distribute", "mirrored", "--cpu-devices", "2",
                     "--run-dir", str(tmp_path / "run"), "--results-table",
                     str(tmp_path / "r.csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (results["replicas"], results["epochs"]) == (2, 1)


@pytest.mark.parametrize("args, message", [
    (["--arch", "resnet50"], "invalid choice: 'resnet50' (choose from 'densenet_bc100_k12'"),
    (["--arch", "mnist_final", "--recipe", "imagenet"], "invalid choice: 'imagenet'"),
    (["--arch", "mnist_final", "--milestones", "5"], "--milestones needs --schedule multistep"),
    (["--arch", "mnist_final", "--cutout-size", "8"], "need cutout in --augment"),
    (["--arch", "mnist_final", "--augment", "mixup"], "Unknown augmentation(s) ['mixup']"),
])
def test_bad_command_lines_are_argparse_errors(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_data_is_one_line(tmp_path):
    env_args = ["--arch", "mnist_final", "--data-dir", str(tmp_path / "nowhere")]
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from fmnist_keras import data; "
         "data._download = lambda info: (_ for _ in ()).throw(OSError('offline')); "
         "from fmnist_keras.cli import train_main; train_main(sys.argv[1:])", *env_args],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2, result.stderr[-2000:]
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: mnist not found; looked in: ")
    assert "nowhere/mnist (--data-dir)" in last_line and "download failed: OSError: offline" in last_line


def test_report_writes_markdown_and_curves(tmp_path, data_dir):
    table = tmp_path / "results.csv"
    training.train(tiny_config(epochs=2), tmp_path / "run", data_dir=data_dir,
                   results_table=table, verbose=0)
    report_main(["--results-table", str(table), "--out", str(tmp_path / "results.md"),
                 "--curves-dir", str(tmp_path / "curves")])
    markdown = (tmp_path / "results.md").read_text().splitlines()
    assert markdown[0].startswith("| Network | Params (trainable) | Storage (MB) |")
    assert markdown[2].startswith("| mnist_net | ")
    assert len(markdown) == 3
    assert (tmp_path / "curves" / "run.png").stat().st_size > 1000


def test_epoch_comparison_puts_runs_beside_the_reference():
    from fmnist_keras.results import epoch_comparison

    reference = pd.DataFrame({"epoch": [0, 1], "test_accuracy": [0.97, 0.98]})
    run = pd.DataFrame({"epoch": [0, 1], "test_accuracy": [0.975, 0.9912]})
    lines = epoch_comparison({"seed0": run}, reference).splitlines()
    assert lines[0] == "| epoch | reference | seed0 |"
    assert lines[2:] == ["| 1 | 0.9700 | 0.9750 |", "| 2 | 0.9800 | 0.9912 |"]


def test_seed_summary_counts_runs_at_the_threshold(tmp_path):
    rows = [{"seed": seed, "selected_epoch": 15, "test_accuracy": acc,
             "training_minutes": 5.0, "last_epoch_test_accuracy": acc}
            for seed, acc in [(1, 0.9950), (0, 0.9938), (2, 0.9944)]]
    for index, row in enumerate(rows):
        (tmp_path / f"run{index}").mkdir()
        (tmp_path / f"run{index}" / "results.json").write_text(json.dumps(row))
    out = tmp_path / "seeds.md"
    report_main(["--seeds", *(str(tmp_path / f"run{i}") for i in range(3)),
                 "--threshold", "0.994", "--out", str(out)])
    lines = out.read_text().splitlines()
    assert lines[2] == "| 0 | 15 | 0.9938 | 0.9938 | 5.0 |"
    assert lines[5] == "| median | | 0.9944 | 0.9944 | 5.0 |"
    assert lines[-1] == "2 of 3 runs reach 99.40% or more at the last epoch (lowest 0.9938)."
    del rows[0]["last_epoch_test_accuracy"]
    with pytest.raises(ValueError, match="needs runs trained with --log-test-accuracy"):
        seed_summary(rows)


def test_auto_mixed_precision_resolves_to_a_boolean():
    assert resolve_config("mnist_final").mixed_precision is False
    auto = resolve_config("resnet14s").mixed_precision
    assert isinstance(auto, bool)
    assert resolve_config("resnet14s", overrides={"mixed_precision": False}).mixed_precision is False


def test_tta_accuracy_of_a_mirror_and_shift_invariant_model():
    import tensorflow as tf

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, kernel_initializer="ones")])
    images = np.ones((4, 28, 28, 1), "float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.array([0, 0, 1, 1], "int32"))).batch(2)
    assert training.tta_accuracy(model, dataset) == 0.5   # ties go to class 0
    assert training.tta_accuracy(model, dataset, shift=1, fill=1.0) == 0.5


def test_shifted_moves_content_and_fills_the_edge():
    images = np.zeros((1, 4, 4, 1), "float32")
    images[0, 1, 2, 0] = 5.0
    moved = np.asarray(training.shifted(images, 1, -2, fill=-1.0))[0, :, :, 0]
    assert moved[2, 0] == 5.0                         # down 1, left 2
    assert (moved[0] == -1.0).all() and (moved[:, 2:] == -1.0).all()   # entered at the edges
    assert moved.shape == (4, 4) and (moved == 0.0).sum() == 16 - 4 - 6 - 1


def test_sparse_crossentropy_smooths_integer_labels():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    labels = np.array([0, 2])
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(training.SparseCrossentropy(reduction=None)(labels, logits),
                               plain(labels, logits), rtol=1e-6)
    smoothed = training.SparseCrossentropy(0.3, reduction=None)(labels, logits)
    # smoothing 0.3 over 3 classes: targets 0.8 / 0.1 / 0.1
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    targets = np.full((2, 3), 0.1)
    targets[[0, 1], labels] = 0.8
    np.testing.assert_allclose(smoothed, -(targets * log_probs).sum(axis=1), rtol=1e-5)
    assert resolve_config(recipe="speedrun_resnet8").label_smoothing == 0.1
