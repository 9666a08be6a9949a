"""Timing: batch-1 latency of Keras models, SavedModels and TFLite; training speed."""

from __future__ import annotations

import os
import platform
import time

import numpy as np
import tensorflow as tf

from fmnist_keras.export import tflite_flatbuffer

GOALS_MS = {"goal 5 ms": 5.0, "goal 1 ms": 1.0}


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


def device_description() -> str:
    """"GPU: <name>" when TensorFlow sees a GPU, else "CPU: <model name>"."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def _tflite_runner(saved_model_dir, calibration_images=None):
    flatbuffer = tflite_flatbuffer(saved_model_dir, calibration_images)
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    return interpreter.get_signature_runner("serving_default")


def format_accuracy(predict, images, labels, batch_size: int = 500) -> float:
    """Test accuracy of one deployment format (its ``class_id`` against ``labels``):
    quantization costs accuracy, so the fast format has to be scored too."""
    correct = 0
    for start in range(0, len(images), batch_size):
        outputs = predict(images=np.asarray(images[start:start + batch_size], np.uint8))
        correct += int((np.asarray(outputs["class_id"]) == labels[start:start + batch_size]).sum())
    return correct / len(images)


def serves_test_time_flip(saved_model_dir) -> bool:
    """Whether an export averages each image with its mirror (``--test-time-flip``)."""
    flag = getattr(tf.saved_model.load(str(saved_model_dir)), "test_time_flip", None)
    return bool(flag and flag[0].numpy())   # exports older than the option have none


def benchmark_serving(saved_model_dir, keras_model=None, runs: int = 300,
                      batch_sizes=(32, 256), calibration_images=None,
                      test_set=None) -> list[dict]:
    """Batch-1 latency and larger-batch throughput of an exported model, for the Keras
    model (when given), the SavedModel's ``serving_default``, TFLite in float32 and,
    given ``calibration_images``, TFLite in int8. With ``test_set`` (uint8 images,
    labels) every exported format is also scored."""
    loaded = tf.saved_model.load(str(saved_model_dir))
    signature = loaded.signatures["serving_default"]
    height, width = signature.structured_input_signature[1]["images"].shape[1:]
    candidates = {"saved_model": lambda images: signature(images=tf.constant(images))}
    if keras_model is not None:
        forward = tf.function(lambda x: keras_model(x, training=False))
        candidates["keras"] = lambda images: forward(
            tf.constant(images[..., None], tf.float32))
    tflite_formats = {"tflite": None}
    if calibration_images is not None:
        tflite_formats["tflite_int8"] = calibration_images
    for name, calibration in tflite_formats.items():
        try:
            candidates[name] = _tflite_runner(saved_model_dir, calibration)
        except Exception as error:  # a model TFLite cannot convert is reported, not fatal
            print(f"{name}: not converted ({type(error).__name__}: {error})")
    device = device_description()
    rows = []
    for name, predict in candidates.items():
        one = np.zeros((1, height, width), np.uint8)
        row = {"format": name, "device": device,
               **time_calls(lambda: _materialise(predict(images=one)), runs, runs // 10)}
        if test_set is not None and name != "keras":
            row["test_accuracy"] = format_accuracy(predict, *test_set)
        for goal, limit in GOALS_MS.items():
            row[goal] = "met" if row["p50_ms"] < limit else "missed"
        for batch_size in batch_sizes:
            batch = np.zeros((batch_size, height, width), np.uint8)
            timing = time_calls(lambda: _materialise(predict(images=batch)),
                                max(5, runs // 20), 3)
            row[f"images_per_s_batch{batch_size}"] = batch_size * 1000 / timing["mean_ms"]
        rows.append(row)
    return rows


def _materialise(outputs):
    """Forces the result to host memory (timing includes the copy a client pays)."""
    if isinstance(outputs, dict):
        return {key: np.asarray(value) for key, value in outputs.items()}
    return np.asarray(outputs)


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
    return {"arch": config.arch, "batch_size": config.batch_size,
            "mixed_precision": config.mixed_precision, "jit_compile": config.jit_compile,
            "augment": ",".join(config.augment) or "none",
            "train_images_per_s": round(steps * config.batch_size / model_seconds, 1),
            "pipeline_images_per_s": round(pipeline_throughput(
                datasets["train"], config.batch_size, steps), 1)}
