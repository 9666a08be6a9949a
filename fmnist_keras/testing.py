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
