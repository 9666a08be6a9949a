import pytest

from fmnist_keras.config import resolve_config
from fmnist_keras.train.schedules import build_schedule

STEPS = 100


def lr_at(schedule, step):
    return float(schedule(step))


def test_mnist_step_schedule_decays_every_six_epochs():
    schedule = build_schedule(resolve_config("mnist_final"), STEPS)
    assert lr_at(schedule, 0) == pytest.approx(0.01)
    assert lr_at(schedule, 6 * STEPS - 1) == pytest.approx(0.01)
    assert lr_at(schedule, 6 * STEPS) == pytest.approx(0.001)
    assert lr_at(schedule, 12 * STEPS) == pytest.approx(0.0001)


def test_wrn_multistep_schedule():
    schedule = build_schedule(resolve_config("wrn28_10"), STEPS)
    expected = {0: 0.1, 60 * STEPS - 1: 0.1, 60 * STEPS: 0.02, 120 * STEPS: 0.004,
                160 * STEPS: 0.0008, 199 * STEPS: 0.0008}
    for step, lr in expected.items():
        assert lr_at(schedule, step) == pytest.approx(lr, rel=1e-5)


def test_shake_shake_cosine_per_iteration():
    schedule = build_schedule(resolve_config("shake_shake26_2x64d"), STEPS)
    total = 1800 * STEPS
    assert lr_at(schedule, 0) == pytest.approx(0.1)
    assert lr_at(schedule, total // 2) == pytest.approx(0.05, rel=1e-4)
    assert lr_at(schedule, total // 4) == pytest.approx(0.05 * (1 + 2 ** -0.5), rel=1e-4)
    assert lr_at(schedule, total) == pytest.approx(0.0, abs=1e-7)


def test_cosine_floor_and_warmup():
    config = resolve_config("shake_shake26_2x64d", overrides={"min_lr": 0.01, "epochs": 10,
                                                              "warmup_epochs": 1})
    schedule = build_schedule(config, STEPS)
    assert lr_at(schedule, 0) < 0.01
    assert lr_at(schedule, STEPS) == pytest.approx(0.1, rel=1e-3)
    assert lr_at(schedule, 10 * STEPS) == pytest.approx(0.01, rel=1e-3)


def test_multistep_warmup_ramps_then_follows():
    config = resolve_config("wrn28_10", overrides={"warmup_epochs": 2})
    schedule = build_schedule(config, STEPS)
    assert lr_at(schedule, STEPS - 1) == pytest.approx(0.05)
    assert lr_at(schedule, 60 * STEPS) == pytest.approx(0.02)

