"""Wall-clock timing of repeated calls, shared by training's batch-1 figure and the
inference benchmarks."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf


def time_calls(call, runs: int = 200, warmup: int = 20) -> dict:
    """Wall times of ``call()`` in ms after a warm-up: mean and percentiles."""
    for _ in range(warmup):
        call()
    timings = np.empty(runs)
    for index in range(runs):
        started = time.perf_counter()
        call()
        timings[index] = time.perf_counter() - started
    timings *= 1000
    return {"mean_ms": float(timings.mean()), "p50_ms": float(np.percentile(timings, 50)),
            "p90_ms": float(np.percentile(timings, 90)), "p99_ms": float(np.percentile(timings, 99))}


def keras_batch1_latency_ms(model, runs: int = 200, warmup: int = 20) -> float:
    """Median wall time in ms of one traced forward pass on a single image.

    The model call is wrapped in a ``tf.function`` (inference mode) so the figure is
    the graph's, not Python's eager dispatch.
    """
    image = tf.zeros((1, *model.input_shape[1:]), tf.float32)
    forward = tf.function(lambda x: model(x, training=False))
    return time_calls(lambda: forward(image).numpy(), runs, warmup)["p50_ms"]
