"""The training loss: cross-entropy from logits on integer labels, with smoothing."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="fmnist_keras")
class SparseCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits on integer labels, with optional label smoothing
    (Keras' sparse loss has none; its dense one needs one-hot labels, which the
    accuracy metric and the pipelines would then have to carry)."""

    def __init__(self, label_smoothing: float = 0.0, name="sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        num_classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.one_hot(keras.ops.reshape(keras.ops.cast(y_true, "int32"), [-1]),
                                   num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            labels, y_pred, from_logits=True, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
