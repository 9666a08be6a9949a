"""Helpers shared by the tests (as keras-hub's test case is): stand-ins for faults."""

import keras


class InterruptAt(keras.callbacks.Callback):
    """Stands for a kill: raises KeyboardInterrupt when the given epoch begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def producers(model, name: str) -> list[str]:
    """The names of the operations whose outputs the layer ``name`` consumes, looking
    through the zero-padding layers that strided convolutions put before them."""
    inputs = model.get_layer(name).input
    names = []
    for tensor in inputs if isinstance(inputs, (list, tuple)) else [inputs]:
        operation = tensor._keras_history.operation
        while operation.__class__.__name__ == "ZeroPadding2D":
            operation = operation.input._keras_history.operation
        names.append(operation.name)
    return names


def probe(model, names, images):
    """The outputs of the named layers on ``images`` (inference mode), by name."""
    import numpy as np

    outputs = [model.get_layer(name).output for name in names]
    values = keras.Model(model.input, outputs)(images, training=False)
    return {name: np.asarray(value) for name, value in zip(names, values)}
