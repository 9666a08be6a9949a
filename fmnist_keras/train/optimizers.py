"""PyTorch's form of SGD, for the reference recipes.

Keras' SGD keeps the learning rate inside its momentum buffer (``m = mu m - lr g``;
``w += m``), PyTorch's does not (``b = mu b + g``; ``w -= lr b``). With a constant rate
the two are the same; right after a learning-rate drop Keras' buffer still carries
steps taken at the old rate, so the first steps are larger than PyTorch's. The
references trained with PyTorch's.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fmnist_keras")
class TorchSGD(keras.optimizers.SGD):
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
