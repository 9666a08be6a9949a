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
    accuracy of an uncompiled model."""
    moves = ((shift, 0), (-shift, 0), (0, shift), (0, -shift)) if shift else ()
    correct = total = 0
    for images, labels in dataset:
        views = [images, images[:, :, ::-1]] if flip else [images]
        views += [shifted(view, dy, dx, fill) for view in views for dy, dx in moves]
        probabilities = sum(tf.nn.softmax(tf.cast(model(view, training=False), tf.float32))
                            for view in views)
        correct += int(tf.reduce_sum(tf.cast(
            tf.argmax(probabilities, axis=-1, output_type=tf.int32) == labels, tf.int32)))
        total += int(tf.shape(labels)[0])
    return correct / total
