"""Learning-rate schedules on the iteration count, built from a `TrainConfig`.

The references step PyTorch schedulers once per epoch (MultiStepLR, StepLR) or once
per iteration (cosine). Here everything is a Keras `LearningRateSchedule` of the
optimiser's iteration counter, so the schedule position is part of the optimiser
state and survives a resume. Epoch-based milestones become iteration boundaries:
epoch ``m`` starts at iteration ``m * steps_per_epoch`` and uses the decayed rate.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fmnist_keras")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Ramps linearly from 0 to the wrapped schedule's value over ``warmup_steps``."""

    def __init__(self, schedule, warmup_steps):
        self.schedule = schedule
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        ramp = ops.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
        return self.schedule(step) * ramp

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


def milestone_epochs(config) -> list[int]:
    """The epochs at which the rate is multiplied by ``gamma``."""
    if config.schedule == "step":
        return list(range(config.step_size, config.epochs, config.step_size))
    return sorted(int(m) for m in config.milestones)


def build_schedule(config, steps_per_epoch: int):
    """The config's learning rate as a function of the iteration count (the config
    has checked the schedule's name and its arguments)."""
    warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "cosine":
        total = max(1, config.epochs * steps_per_epoch - warmup_steps)
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup_steps else config.lr, decay_steps=total,
            alpha=config.min_lr / config.lr if config.lr else 0.0,
            warmup_target=config.lr if warmup_steps else None, warmup_steps=warmup_steps)
    if config.schedule == "constant":
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay([0], [config.lr] * 2)
    else:
        milestones = milestone_epochs(config)
        # PiecewiseConstantDecay switches after ``step > boundary``; iteration
        # ``m * steps_per_epoch`` is the first of epoch m and must be decayed.
        boundaries = [m * steps_per_epoch - 1 for m in milestones]
        values = [config.lr * config.gamma ** i for i in range(len(milestones) + 1)]
        if not boundaries:
            boundaries, values = [0], [config.lr] * 2
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return LinearWarmup(schedule, warmup_steps) if warmup_steps else schedule
