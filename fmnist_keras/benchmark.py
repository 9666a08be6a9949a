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


def training_throughput(config, data_dir=None, steps: int = 30, warmup_steps: int = 5) -> dict:
    """Training images/s of a config's model, pipeline and compile settings.

    Times ``steps`` optimiser steps after ``warmup_steps`` (tracing, oneDNN and XLA
    compilation excluded), and separately the input pipeline alone.
    """
    import math

    from fmnist_keras.training import build_and_compile, configure_runtime, datasets_for

    configure_runtime(config)
    splits, datasets = datasets_for(config, data_dir)
    model = build_and_compile(config, splits.info,
                              math.ceil(len(splits.x_train) / config.batch_size))
    train = datasets["train"].repeat()
    model.fit(train, steps_per_epoch=warmup_steps, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0)
    model_seconds = time.perf_counter() - started

    batches = iter(train)
    started = time.perf_counter()
    for _ in range(steps):
        next(batches)
    pipeline_seconds = time.perf_counter() - started
    return {"arch": config.arch, "batch_size": config.batch_size,
            "mixed_precision": config.mixed_precision, "jit_compile": config.jit_compile,
            "augment": ",".join(config.augment) or "none",
            "train_images_per_s": round(steps * config.batch_size / model_seconds, 1),
            "pipeline_images_per_s": round(steps * config.batch_size / pipeline_seconds, 1)}
