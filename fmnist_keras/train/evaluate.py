"""Evaluation beyond Keras' ``evaluate``: test-time augmentation over several views."""

from __future__ import annotations

import tensorflow as tf


def shifted(images, dy: int, dx: int, fill: float):
    """NHWC images moved down by ``dy`` and right by ``dx`` pixels (negative: up, left),
    with ``fill`` entering at the edges."""
    pad = max(abs(dy), abs(dx))
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=fill)
    height, width = images.shape[1], images.shape[2]
    return padded[:, pad - dy:pad - dy + height, pad - dx:pad - dx + width]


def tta_accuracy(model, dataset, flip: bool = True, shift: int = 0, fill: float = 0.0) -> float:
    """Accuracy of the mean softmax over test-time views of each image (test-time
    augmentation for models trained with flips and crops): the image, its mirror image
    (``flip``), and each of those moved ``shift`` pixels up, down, left and right with
    the background value ``fill`` entering at the edge. With neither, the plain
    accuracy of an uncompiled model.

    A batch's views go through the model as one batch in one traced call: the speed
    run counts this time, and calling the model eagerly once per view took twice as
    long (``docs/speed.md``)."""
    moves = ((shift, 0), (-shift, 0), (0, shift), (0, -shift)) if shift else ()

    @tf.function(reduce_retracing=True)
    def predict(images):
        views = [images, images[:, :, ::-1]] if flip else [images]
        views += [shifted(view, dy, dx, fill) for view in views for dy, dx in moves]
        logits = tf.cast(model(tf.concat(views, axis=0), training=False), tf.float32)
        per_view = tf.reshape(tf.nn.softmax(logits), [len(views), tf.shape(images)[0], -1])
        return tf.argmax(tf.reduce_sum(per_view, axis=0), axis=-1, output_type=tf.int32)

    correct = total = 0
    for images, labels in dataset:
        correct += int(tf.reduce_sum(tf.cast(predict(images) == labels, tf.int32)))
        total += int(tf.shape(labels)[0])
    return correct / total
