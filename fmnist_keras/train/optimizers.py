"""The optimisers: Keras' SGD and Adam with per-variable learning-rate multipliers, and
PyTorch's form of SGD for the reference recipes.

Keras' SGD keeps the learning rate inside its momentum buffer (``m = mu m - lr g``;
``w += m``), PyTorch's does not (``b = mu b + g``; ``w -= lr b``). With a constant rate
the two are the same; right after a learning-rate drop Keras' buffer still carries
steps taken at the old rate, so the first steps are larger than PyTorch's. The
references trained with PyTorch's.
"""

from __future__ import annotations

import fnmatch

import keras
from keras import ops


def multiplier_for(path: str, multipliers: dict) -> float:
    """The factor of the first pattern (``fnmatch``) that matches a variable's path."""
    return next((float(factor) for pattern, factor in multipliers.items()
                 if fnmatch.fnmatchcase(path, pattern)), 1.0)


def check_multipliers(multipliers: dict, model) -> None:
    """Every pattern names at least one trainable variable of ``model``."""
    paths = [variable.path for variable in model.trainable_variables]
    for pattern in multipliers:
        if not fnmatch.filter(paths, pattern):
            examples = ", ".join(paths[:2] + paths[-2:])
            raise ValueError(
                f"lr_multipliers (--lr-multiplier) pattern {pattern!r} names no trainable "
                f"variable of {model.name} (paths look like {examples}); fix the pattern, "
                "e.g. '*_bn/beta' for the batch-norm biases.")


class LearningRateMultipliers:
    """Per-variable learning rates, as parameter groups in PyTorch: ``lr_multipliers``
    maps glob patterns of variable paths (``"*_bn/beta"``) to a factor on the rate
    (the first matching pattern wins; others: 1). Weight decay of the decoupled kind
    keeps the plain rate; the coupled kind is in the gradient, so it is scaled too,
    as in a PyTorch parameter group."""

    def __init__(self, *args, lr_multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_multipliers = dict(lr_multipliers or {})
        self._factors = []

    def build(self, variables):
        super().build(variables)
        self._factors = [multiplier_for(variable.path, self.lr_multipliers)
                         for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factors[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = ops.multiply(learning_rate, factor)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": self.lr_multipliers}


class _TorchMomentum(keras.optimizers.SGD):
    """SGD with momentum (and Nesterov) in ``torch.optim.SGD``'s form (dampening 0;
    weight decay is the model's L2 term, as the references' coupled decay)."""

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            self.assign_sub(variable, ops.multiply(gradient, learning_rate))
            return
        momentum = ops.cast(self.momentum, variable.dtype)
        buffer = self.momentums[self._get_variable_index(variable)]
        self.assign(buffer, ops.add(ops.multiply(buffer, momentum), gradient))
        step = ops.add(gradient, ops.multiply(buffer, momentum)) if self.nesterov else buffer
        self.assign_sub(variable, ops.multiply(step, learning_rate))


@keras.saving.register_keras_serializable(package="fmnist_keras")
class SGD(LearningRateMultipliers, keras.optimizers.SGD):
    """Keras' SGD, with `LearningRateMultipliers`."""


@keras.saving.register_keras_serializable(package="fmnist_keras")
class TorchSGD(LearningRateMultipliers, _TorchMomentum):
    """PyTorch's SGD (`_TorchMomentum`), with `LearningRateMultipliers`."""


@keras.saving.register_keras_serializable(package="fmnist_keras")
class Adam(LearningRateMultipliers, keras.optimizers.Adam):
    """Keras' Adam, with `LearningRateMultipliers`."""
