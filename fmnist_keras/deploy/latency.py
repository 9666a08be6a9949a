"""Inference speed and accuracy of an exported model: batch-1 latency of the Keras
model, the SavedModel and its TFLite forms (run by LiteRT's interpreter), and each
format's test accuracy."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from fmnist_keras.deploy.client import signature_spec
from fmnist_keras.deploy.export import tflite_flatbuffer
from fmnist_keras.hardware import device_description
from fmnist_keras.timing import time_calls

GOALS_MS = {"goal 5 ms": 5.0, "goal 1 ms": 1.0}


def _tflite_runner(saved_model_dir, calibration_images=None):
    flatbuffer = tflite_flatbuffer(saved_model_dir, calibration_images)
    interpreter = Interpreter(model_content=flatbuffer)
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


def exported_dataset(saved_model_dir) -> str | None:
    """The dataset an export was trained on (None for exports older than the record)."""
    name = getattr(tf.saved_model.load(str(saved_model_dir)), "dataset", None)
    return name[0].numpy().decode() if name else None


def benchmark_serving(saved_model_dir, keras_model=None, runs: int = 300,
                      batch_sizes=(32, 256), calibration_images=None,
                      test_set=None) -> list[dict]:
    """Batch-1 latency and larger-batch throughput of an exported model, for the Keras
    model (when given), the SavedModel's ``serving_default``, TFLite in float32 and,
    given ``calibration_images``, TFLite in int8. With ``test_set`` (uint8 images,
    labels) every exported format is also scored."""
    loaded = tf.saved_model.load(str(saved_model_dir))
    signature = loaded.signatures["serving_default"]
    height, width = signature_spec(loaded).shape[1:]
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


def concurrent_calls(predict, images, threads: int = 8, calls: int = 1000) -> dict:
    """``threads`` threads each calling ``predict(images=...)`` ``calls`` times on one
    loaded model, as a server's request threads do.

    Returns:
        ``outputs`` (each thread's last probabilities, to compare with one thread's),
        ``calls_per_s`` over all threads, and the ``threads`` and ``calls`` used.
    """
    import concurrent.futures
    import time

    def worker(_):
        for _ in range(calls):
            outputs = predict(images=images)
        return np.asarray(outputs["probabilities"])

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        outputs = list(pool.map(worker, range(threads)))
    seconds = time.perf_counter() - started
    return {"outputs": outputs, "calls_per_s": threads * calls / seconds,
            "threads": threads, "calls": calls}
