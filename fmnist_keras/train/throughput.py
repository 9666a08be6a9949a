"""Training speed: images/s of a config's model and of its input pipeline alone."""

from __future__ import annotations

import math
import time

from fmnist_keras.train.engine import (
    build_and_compile,
    configure_runtime,
    datasets_for,
    whitening_images,
)


def pipeline_throughput(dataset, batch_size: int, batches: int = 100) -> float:
    """Images/s the input pipeline alone delivers (after one warm-up batch)."""
    iterator = iter(dataset.repeat())
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - started)


def training_throughput(config, data_dir=None, steps: int = 30, warmup_steps: int = 5) -> dict:
    """Training images/s of a config's model, pipeline and compile settings.

    Times ``steps`` optimiser steps after ``warmup_steps`` (tracing, oneDNN and XLA
    compilation excluded), and separately the input pipeline alone. Both counts are
    rounded up to whole calls of ``steps_per_execution`` steps.
    """
    per_call = config.steps_per_execution
    steps, warmup_steps = (per_call * math.ceil(n / per_call) for n in (steps, warmup_steps))
    resolved = configure_runtime(config)
    splits, datasets = datasets_for(config, data_dir)
    model = build_and_compile(config, splits.info.num_classes,
                              math.ceil(len(splits.x_train) / config.batch_size),
                              whitening_images(splits))
    train = datasets["train"].repeat()
    model.fit(train, steps_per_epoch=warmup_steps, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0)
    model_seconds = time.perf_counter() - started
    return {"arch": config.arch, "model_kwargs": config.model_kwargs or "",
            "batch_size": config.batch_size,
            "mixed_precision": resolved["mixed_precision"], "device": resolved["device"],
            "jit_compile": config.jit_compile,
            "steps_per_execution": config.steps_per_execution,
            "augment": ",".join(config.augment) or "none",
            "train_images_per_s": round(steps * config.batch_size / model_seconds, 1),
            "pipeline_images_per_s": round(pipeline_throughput(
                datasets["train"], config.batch_size, steps), 1)}
