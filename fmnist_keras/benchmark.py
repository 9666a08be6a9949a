"""Batch-1 latency of a Keras model, the figure the results table reports."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf


def keras_batch1_latency_ms(model, runs: int = 200, warmup: int = 20) -> float:
    """Median wall time in ms of one traced forward pass on a single image.

    The model call is wrapped in a ``tf.function`` (inference mode) so the figure is
    the graph's, not Python's eager dispatch.
    """
    image = tf.zeros((1, *model.input_shape[1:]), tf.float32)
    forward = tf.function(lambda x: model(x, training=False))
    for _ in range(warmup):
        forward(image).numpy()
    timings = np.empty(runs)
    for index in range(runs):
        started = time.perf_counter()
        forward(image).numpy()
        timings[index] = time.perf_counter() - started
    return float(np.median(timings) * 1000)
