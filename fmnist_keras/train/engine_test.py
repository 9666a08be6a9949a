import json
import re

import keras
import numpy as np
import pandas as pd
import pytest

from fmnist_keras.testing import InterruptAt
from fmnist_keras.train import engine
from fmnist_keras.train.averaging import batch_norm_layers
from fmnist_keras.train.callbacks import MEASURED_COLUMNS, TrainingDiverged
from fmnist_keras.train.rundir import RunDir, RunDirectoryError


def test_one_epoch_run_writes_only_its_run_dir(tmp_path, data_dir, tiny_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    row = engine.train(tiny_config(), tmp_path / "run", data_dir=data_dir, verbose=False)
    run = RunDir(tmp_path / "run")
    for path in (run.config_path, run.history_path, run.model_path("best"),
                 run.model_path("last"), run.results_path):
        assert path.is_file(), path
    assert any(run.tensorboard_dir.rglob("events.out.tfevents*"))
    assert not run.backup_dir.exists() and not list(run.path.glob("*.partial.keras"))
    assert [p.name for p in tmp_path.iterdir()] == ["run"]       # nothing written elsewhere
    results = run.results()
    assert results["network"] == "mnist_net" and results["epochs"] == 1
    assert results["trainable_params"] == row["trainable_params"]
    assert 0.0 <= results["test_accuracy"] <= 1.0
    assert results["resolved"] == {"mixed_precision": False,
                                   "device": engine.device_description()}


def test_auto_is_saved_as_auto_and_resolved_in_results(tmp_path, data_dir, tiny_config):
    from fmnist_keras.hardware import bfloat16_is_native

    engine.train(tiny_config(mixed_precision="auto"), tmp_path / "run", data_dir=data_dir,
                 verbose=False)
    run = RunDir(tmp_path / "run")
    assert run.read_config()["mixed_precision"] == "auto"
    assert run.results()["resolved"]["mixed_precision"] is bfloat16_is_native()


def test_a_run_resumed_on_another_machine_keeps_its_precision(tmp_path, data_dir,
                                                              tiny_config, monkeypatch):
    """Started where ``auto`` means float32 and resumed where it means bfloat16, a run
    stays float32 and names both machines; --overwrite starts a new run, unpinned."""
    class RecordPolicy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            policies.append(keras.mixed_precision.global_policy().name)

    def on_machine(name, bfloat16):
        monkeypatch.setattr(engine, "resolve_mixed_precision", lambda setting: bfloat16)
        monkeypatch.setattr(engine, "device_description", lambda: name)

    config, run, policies = tiny_config(epochs=2, mixed_precision="auto"), RunDir(tmp_path), []
    on_machine("CPU: first", bfloat16=False)
    with pytest.raises(KeyboardInterrupt):
        engine.train(config, run, data_dir=data_dir, extra_callbacks=[InterruptAt(1)],
                     verbose=False)
    on_machine("CPU: second", bfloat16=True)
    engine.train(config, run, data_dir=data_dir, extra_callbacks=[RecordPolicy()],
                 verbose=False)
    assert policies == ["float32"]
    assert run.starts() == [{"epoch": 0, "mixed_precision": False, "device": "CPU: first"},
                            {"epoch": 1, "mixed_precision": False, "device": "CPU: second"}]
    assert run.results()["resolved"] == {"mixed_precision": False,
                                         "device": "CPU: first; CPU: second"}
    engine.train(config, run, data_dir=data_dir, overwrite=True,
                 extra_callbacks=[RecordPolicy()], verbose=False)
    assert policies[-1] == "mixed_bfloat16"
    assert run.starts() == [{"epoch": 0, "mixed_precision": True, "device": "CPU: second"}]


def test_interrupted_run_resumes_at_the_next_epoch(tmp_path, data_dir, tiny_config):
    config = tiny_config(epochs=3, schedule="step", step_size=1, gamma=0.5)
    run = RunDir(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        engine.train(config, run, data_dir=data_dir, extra_callbacks=[InterruptAt(1)],
                     verbose=False)
    assert run.history()["epoch"].tolist() == [0]
    assert not run.finished()
    engine.train(config, run, data_dir=data_dir, verbose=False)
    history = run.history()
    assert history["epoch"].tolist() == [0, 1, 2]
    # The schedule continued from the restored iteration count: 0.01 halves each epoch.
    np.testing.assert_allclose(history["learning_rate"], [0.01, 0.005, 0.0025], rtol=1e-5)


def test_epochs_record_the_cpu_share_of_other_processes_and_old_histories_keep_their_columns(
        tmp_path, data_dir, tiny_config):
    config, run = tiny_config(epochs=2), RunDir(tmp_path / "run")
    engine.train(config, run, data_dir=data_dir, verbose=False)
    assert run.history()["cpu_share_others"].between(0, 1).all()
    assert 0 <= run.results()["cpu_share_others"] <= 1
    # A run that began before the column existed resumes without it: every CSV row
    # keeps the header's columns.
    old = RunDir(tmp_path / "old")
    with pytest.raises(KeyboardInterrupt):
        engine.train(config, old, data_dir=data_dir, extra_callbacks=[InterruptAt(1)],
                     verbose=False)
    old.history().drop(columns="cpu_share_others").to_csv(old.history_path, index=False)
    engine.train(config, old, data_dir=data_dir, verbose=False)
    assert "cpu_share_others" not in old.history() and len(old.history()) == 2
    assert "cpu_share_others" not in old.results()


def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path, data_dir,
                                                                 tiny_config):
    class PoisonWeights(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.params and getattr(self, "epoch", 0) == 1 and batch == 1:
                kernel = self.model.get_layer("conv8").kernel
                kernel.assign(kernel * np.nan)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    run = RunDir(tmp_path / "run")
    with pytest.raises(TrainingDiverged, match="epoch 2, step 2"):
        engine.train(tiny_config(epochs=3, steps_per_execution=1), run, data_dir=data_dir,
                     extra_callbacks=[PoisonWeights()], verbose=False)
    last = run.load_model("last")
    assert all(np.isfinite(w).all() for w in last.get_weights())
    assert run.restored_epoch() == 1


def test_existing_run_dir_is_never_overwritten(tmp_path, data_dir, tiny_config):
    run = RunDir(tmp_path / "run")
    engine.train(tiny_config(), run, data_dir=data_dir, verbose=False)
    before = run.results_path.read_text()
    with pytest.raises(RunDirectoryError, match="finished run"):
        engine.train(tiny_config(), run, data_dir=data_dir, verbose=False)
    with pytest.raises(RunDirectoryError, match="differs in \\['seed'\\]"):
        engine.train(tiny_config(seed=1), run, data_dir=data_dir, verbose=False)
    assert run.results_path.read_text() == before
    engine.train(tiny_config(seed=1), run, data_dir=data_dir, overwrite=True, verbose=False)
    assert json.loads(run.results_path.read_text())["seed"] == 1


def test_each_epoch_prints_one_line(tmp_path, data_dir, tiny_config, capsys):
    engine.train(tiny_config(epochs=2), tmp_path / "run", data_dir=data_dir)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]


def test_coupled_weight_decay_is_l2_on_every_parameter(tiny_config):
    config = tiny_config(weight_decay=1e-2)
    engine.configure_runtime(config)
    model = engine.build_and_compile(config, 10, 4)
    expected = 0.5 * 1e-2 * sum(float(np.sum(np.square(v))) for v in model.trainable_variables)
    assert len(model.losses) == len(model.trainable_variables)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)


def test_steps_per_execution_reaches_the_compiled_model(tiny_config):
    config = tiny_config(steps_per_execution=8)
    engine.configure_runtime(config)
    assert engine.build_and_compile(config, 10, 4).steps_per_execution == 8


def test_evaluation_batches_at_its_own_size_and_training_at_the_recipes(tiny_config,
                                                                       data_dir):
    config = tiny_config(batch_size=4, eval_batch_size=100)
    _, datasets = engine.datasets_for(config, data_dir)
    assert next(iter(datasets["train"]))[0].shape[0] == 4
    assert next(iter(datasets["val"]))[0].shape[0] == 100
    assert next(iter(datasets["test"]))[0].shape[0] == 100
    _, datasets = engine.datasets_for(tiny_config(batch_size=4), data_dir)
    assert next(iter(datasets["test"]))[0].shape[0] == 4    # unset: the training batch


@pytest.mark.parametrize("deterministic", [True, False])
def test_a_resumed_run_is_the_uninterrupted_run(tmp_path, data_dir, tiny_config, deterministic):
    """Killed after epoch 2 and resumed, a run ends with the same history and, with
    --deterministic, the same weights as the run that was never interrupted: the data
    order, every augmentation draw and the dropout masks follow from (seed, epoch)."""
    config = tiny_config(epochs=3, augment=["rotate", "crop", "flip", "erase"],
                         deterministic=deterministic, steps_per_execution=1)
    whole, resumed = RunDir(tmp_path / "whole"), RunDir(tmp_path / "resumed")
    engine.train(config, whole, data_dir=data_dir, verbose=False)
    with pytest.raises(KeyboardInterrupt):
        engine.train(config, resumed, data_dir=data_dir, extra_callbacks=[InterruptAt(2)],
                     verbose=False)
    assert resumed.history()["epoch"].tolist() == [0, 1]
    engine.train(config, resumed, data_dir=data_dir, verbose=False)
    columns = [c for c in whole.history().columns if c not in MEASURED_COLUMNS]
    if deterministic:
        pd.testing.assert_frame_equal(whole.history()[columns], resumed.history()[columns])
        for a, b in zip(whole.load_model("last").get_weights(),
                        resumed.load_model("last").get_weights()):
            np.testing.assert_array_equal(a, b)
    else:   # the same draws; float rounding may differ in the last digits
        pd.testing.assert_frame_equal(whole.history()[columns], resumed.history()[columns],
                                      atol=1e-4)


def test_a_run_paused_at_its_deadline_continues_into_the_uninterrupted_run(tmp_path, data_dir,
                                                                           tiny_config):
    """--stop-after pauses on an epoch boundary, unfinished and with nothing evaluated,
    at least one epoch per call; continued, the run (a moving average included, which
    fit writes into the model when it stops) ends as if it had never paused."""
    config = tiny_config(epochs=3, ema_momentum=0.9, select="last", deterministic=True,
                         steps_per_execution=1)
    whole, paused = RunDir(tmp_path / "whole"), RunDir(tmp_path / "paused")
    engine.train(config, whole, data_dir=data_dir, verbose=False)
    for epochs_done in (1, 2):
        assert engine.train(config, paused, data_dir=data_dir, verbose=False,
                            stop_after_minutes=1e-6) is None
        assert paused.history()["epoch"].tolist() == list(range(epochs_done))
        assert not paused.finished() and paused.backup_dir.is_dir()
    engine.train(config, paused, data_dir=data_dir, verbose=False, stop_after_minutes=1e-6)
    assert paused.finished()     # the last epoch finishes the run, whatever the deadline
    columns = [c for c in whole.history().columns if c not in MEASURED_COLUMNS]
    pd.testing.assert_frame_equal(whole.history()[columns], paused.history()[columns])
    for a, b in zip(whole.load_model("last").get_weights(),
                    paused.load_model("last").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_best_keras_is_the_best_validation_epoch_and_the_test_set_is_scored_once_on_it(
        tmp_path, data_dir, tiny_config, monkeypatch):
    scored = []
    original = engine.tta_accuracy

    def recording(model, dataset, flip=True, shift=0, fill=0.0):
        scored.append((model.get_weights(), flip, shift))
        return original(model, dataset, flip, shift, fill)

    monkeypatch.setattr(engine, "tta_accuracy", recording)
    run = RunDir(tmp_path / "run")
    config = tiny_config(epochs=4, lr=0.05)
    results = engine.train(config, run, data_dir=data_dir, verbose=False)
    history = run.history()
    best_epoch = int(history["val_accuracy"].idxmax())
    assert results["selected_epoch"] == best_epoch + 1
    splits, datasets = engine.datasets_for(config, data_dir)
    best = run.load_model("best")
    assert original(best, datasets["val"], flip=False) == pytest.approx(
        history["val_accuracy"].iloc[best_epoch], abs=1e-6)
    assert [(flip, shift) for _, flip, shift in scored] == [(False, 0)]   # once, plain
    for scored_weight, best_weight in zip(scored[0][0], best.get_weights()):
        np.testing.assert_array_equal(scored_weight, best_weight)
    assert results["test_accuracy"] == original(best, datasets["test"], flip=False)


def test_ema_of_the_weights_follows_the_formula_and_is_what_the_model_ends_with(tiny_config):
    config = tiny_config(optimizer="sgd", lr=0.1, momentum=0.0, schedule="constant",
                         step_size="none", ema_momentum=0.9, select="last")
    optimizer = engine.make_optimizer(config, steps_per_epoch=10)
    weight = keras.Variable(np.array([1.0, -2.0], "float32"))
    average, gradients = None, [np.array([0.5, 1.0], "float32"), np.array([-1.0, 0.2], "float32"),
                                np.array([0.3, 0.3], "float32")]
    for step, gradient in enumerate(gradients):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), weight)])
        value = weight.numpy()
        average = value if step == 0 else 0.9 * average + 0.1 * value
    optimizer.finalize_variable_values([weight])
    np.testing.assert_allclose(weight.numpy(), average, rtol=1e-6)


def test_a_fixed_schedule_evaluates_and_keeps_the_averaged_final_model(tmp_path, data_dir,
                                                                      tiny_config):
    config = tiny_config(epochs=2, validation_size=0, select="last", ema_momentum=0.9,
                         deterministic=True)
    averaged = engine.train(config, tmp_path / "ema", data_dir=data_dir, verbose=False)
    raw = engine.train(config.replace(ema_momentum=0.0), tmp_path / "raw", data_dir=data_dir,
                       verbose=False)
    assert averaged["selected_epoch"] == raw["selected_epoch"] == 2
    # A fixed schedule's model is last.keras: no best.keras, and it is what loads.
    assert not RunDir(tmp_path / "ema").model_path("best").exists()
    ema_weights = RunDir(tmp_path / "ema").load_model().get_weights()
    raw_weights = RunDir(tmp_path / "raw").load_model("last").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(ema_weights, raw_weights))
    # With --ema-bn-batches the same averaged weights get their own BN statistics.
    engine.train(config.replace(ema_bn_batches=2), tmp_path / "ema_bn", data_dir=data_dir,
                 verbose=False)
    model, recomputed = (RunDir(tmp_path / name).load_model("last") for name in ("ema", "ema_bn"))
    statistics = {v.path for layer in batch_norm_layers(model)
                  for v in (layer.moving_mean, layer.moving_variance)}
    for before, after in zip(model.weights, recomputed.weights):
        if before.path in statistics:
            assert not np.allclose(before.numpy(), after.numpy())
        else:
            np.testing.assert_array_equal(before.numpy(), after.numpy())


def test_the_speed_run_techniques_reach_the_compiled_model(tiny_config, data_dir):
    config = tiny_config(patch_whitening=True, dirac_init=True,
                         lr_multipliers={"*_bn/beta": 16.0},
                         model_kwargs={"channels": [18, 4, 4, 4, 4, 4, 4]})
    engine.configure_runtime(config)
    splits, _ = engine.datasets_for(config, data_dir)
    model = engine.build_and_compile(config, 10, 4, engine.whitening_images(splits))
    assert not model.get_layer("conv1").trainable
    kernel = model.get_layer("conv2").kernel.numpy()
    np.testing.assert_array_equal(kernel[1, 1, :4, :4], np.eye(4))
    assert model.optimizer.lr_multipliers == {"*_bn/beta": 16.0}


@pytest.mark.parametrize("overrides, message", [
    ({"patch_whitening": True, "model_kwargs": {"channels": [20, 4, 4, 4, 4, 4, 4]}},
     "needs mnist_net's first convolution conv1 to have an even number of filters up to 18"),
    ({"lr_multipliers": {"*/bta": 2.0}}, "pattern '*/bta' names no trainable variable"),
])
def test_a_technique_the_model_cannot_take_stops_before_training(tiny_config, data_dir,
                                                                  overrides, message):
    config = tiny_config(**overrides)
    splits, _ = engine.datasets_for(config, data_dir)
    with pytest.raises(ValueError, match=re.escape(message)):
        engine.build_and_compile(config, 10, 4, engine.whitening_images(splits))
