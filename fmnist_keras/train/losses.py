"""The training loss and accuracy: integer labels, or distillation targets.

A training batch's labels are either integers ``(B,)`` or, when a run distils
(`fmnist_keras.train.distill`), rows ``(B, classes + 1)``: the teachers' probabilities,
then the integer label. Validation and test batches always carry integers. Both the loss and
the accuracy take either form, so one compiled model trains on the first and is
validated on the second.
"""

from __future__ import annotations

import keras


def _carries_targets(y_true, y_pred) -> bool:
    """Whether ``y_true`` holds distillation rows (decided from the static shapes)."""
    return len(y_true.shape) == 2 and y_true.shape[-1] == y_pred.shape[-1] + 1


def _labels(y_true, y_pred):
    labels = y_true[:, -1] if _carries_targets(y_true, y_pred) else y_true
    return keras.ops.reshape(keras.ops.cast(labels, "int32"), [-1])


@keras.saving.register_keras_serializable(package="fmnist_keras")
class SparseCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits on integer labels, with optional label smoothing (Keras'
    sparse loss has none; its dense one needs one-hot labels, which the accuracy metric
    and the pipelines would then have to carry).

    On distillation rows (teacher probabilities ``p``, then the label) it is Hinton et
    al.'s loss: ``(1 - distill_weight) * CE(label, softmax(z)) + distill_weight * T**2 *
    CE(p, softmax(z / T))`` with ``T = distill_temperature``, where ``p`` was computed
    at the same temperature; ``T**2`` keeps the soft term's gradients at the hard
    term's scale as ``T`` grows.
    """

    def __init__(self, label_smoothing: float = 0.0, distill_weight: float = 0.0,
                 distill_temperature: float = 1.0, name="sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.distill_weight = distill_weight
        self.distill_temperature = distill_temperature

    def call(self, y_true, y_pred):
        one_hot = keras.ops.one_hot(_labels(y_true, y_pred), keras.ops.shape(y_pred)[-1],
                                    dtype=y_pred.dtype)
        hard = keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=True, label_smoothing=self.label_smoothing)
        if not _carries_targets(y_true, y_pred):
            return hard
        temperature = self.distill_temperature
        soft = keras.losses.categorical_crossentropy(
            keras.ops.cast(y_true[:, :-1], y_pred.dtype), y_pred / temperature,
            from_logits=True) * temperature ** 2
        return (1.0 - self.distill_weight) * hard + self.distill_weight * soft

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "distill_weight": self.distill_weight,
                "distill_temperature": self.distill_temperature}


@keras.saving.register_keras_serializable(package="fmnist_keras")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Keras' ``accuracy`` on integer labels, which also reads the label column of
    distillation rows (the teachers' argmax need not be the label)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(self.correct, name=name, dtype=dtype)

    @staticmethod
    def correct(y_true, y_pred):
        predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
        return keras.ops.cast(predicted == _labels(y_true, y_pred), "float32")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
