"""SavedModels in TF Serving's layout, with a serving signature that takes raw images.

``saved_models/NAME/VERSION/`` holds ``saved_model.pb`` and ``variables/``; versions
increase and an existing version is never overwritten. Two signatures:

``serving_default``
    input ``images``: uint8 ``[batch, 28, 28]``, raw pixels as in the IDX files
    (0 = background). Normalisation happens inside the graph.
``serving_float``
    input ``images``: float32 ``[batch, 28, 28]`` in 0..255; values outside are
    clipped to 0..255 (documented, never wrapped).

Both return ``probabilities`` (float32 ``[batch, 10]``), ``class_id`` (int64
``[batch]``) and ``class_name`` (string ``[batch]``). Exported with ``test_time_flip``,
the probabilities are the mean over each image and its mirror image.

``serving_default`` also converts to TFLite (`tflite_flatbuffer`), in float32 or with
int8 weights and activations calibrated on training images; ``--tflite int8`` writes it
beside the versions as ``saved_models/NAME/VERSION.int8.tflite``, a name TF Serving
skips (it loads numeric folders only).
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fmnist_keras.data.pipeline import Normalization
from fmnist_keras.data.sources import DatasetInfo

SERVING_INPUT = "images"
OUTPUT_KEYS = ("probabilities", "class_id", "class_name")


def next_version(model_dir: Path) -> int:
    """1 + the highest numeric version folder under ``model_dir`` (1 when none)."""
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def float32_copy(model):
    """``model`` with every layer computing in float32, sharing nothing with it.

    Models trained with ``--mixed-precision`` compute in bfloat16; their variables are
    float32 already, so the copy is exact. A float32 graph is what batch-1 inference on
    a CPU wants, and TFLite cannot convert the bfloat16 casts.
    """
    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model

    def clone_in_float32(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=clone_in_float32)
    copy.set_weights(model.get_weights())
    return copy


def serving_archive(model, info: DatasetInfo,
                    test_time_flip: bool = False) -> keras.export.ExportArchive:
    """An ExportArchive of ``model`` (in float32) with the raw-image signatures
    described above. ``test_time_flip`` serves the mean softmax of each image and its
    mirror image (the flip test-time augmentation of training's evaluation), both
    views in one batch of the model."""
    model = float32_copy(model)
    normalise = Normalization(info.mean, info.std)
    class_names = tf.constant(info.class_names)
    height, width = model.input_shape[1:3]

    def probabilities_of(pixels):
        images = normalise(pixels[..., None])
        if test_time_flip:
            images = tf.concat([images, images[:, :, ::-1]], axis=0)
        probabilities = tf.nn.softmax(tf.cast(model(images, training=False), tf.float32))
        if test_time_flip:
            probabilities = tf.reduce_mean(tf.stack(tf.split(probabilities, 2)), axis=0)
        return probabilities

    def outputs(probabilities):
        class_id = tf.argmax(probabilities, axis=-1)
        return {"probabilities": probabilities, "class_id": class_id,
                "class_name": tf.gather(class_names, class_id)}

    def predict(pixels):
        # A loaded graph does not enforce the signature's TensorSpec, and a tensor of
        # another rank reaching oneDNN's convolution fails a CHECK that ends the whole
        # server process. So the image size is checked first (its message reaches the
        # client through TF Serving's error) and everything after works on a reshaped
        # [batch, height, width] tensor: a single image [height, width] is a batch of one.
        shape = tf.shape(pixels)
        rank = tf.size(shape)
        valid = tf.logical_and(
            tf.logical_or(tf.equal(rank, 2), tf.equal(rank, 3)),
            tf.reduce_all(tf.equal(shape[-2:], tf.constant([height, width]))))
        checked = tf.debugging.Assert(valid, [
            f"input '{SERVING_INPUT}' must have shape [batch, {height}, {width}]; received",
            shape])
        with tf.control_dependencies([checked]):
            pixels = tf.reshape(pixels, [-1, height, width])
        # oneDNN's batch normalization fails on an empty batch; it gets empty outputs.
        return outputs(tf.cond(tf.shape(pixels)[0] > 0, lambda: probabilities_of(pixels),
                               lambda: tf.zeros([0, info.num_classes], tf.float32)))

    archive = keras.export.ExportArchive()
    archive.track(model)
    # Saved with the graph, so benchmarks and cards can say which predictions they time.
    archive.add_variable_collection(
        "test_time_flip", [tf.Variable(test_time_flip, trainable=False)])
    # And the dataset, so that scoring an export needs no flag to know its test set.
    archive.add_variable_collection("dataset", [tf.Variable(info.name, trainable=False)])
    # The serving signatures declare no shape, so that no optimisation relies on one
    # a request may break (above); `serving_tflite` is the same model with its shape
    # declared and no guard, for the TFLite converter (which validates shapes itself,
    # and quantizes no model inside a conditional).
    archive.add_endpoint(
        "serving_default", predict,
        input_signature=[tf.TensorSpec(None, tf.uint8, name=SERVING_INPUT)])
    archive.add_endpoint(
        "serving_float", lambda pixels: predict(tf.clip_by_value(pixels, 0.0, 255.0)),
        input_signature=[tf.TensorSpec(None, tf.float32, name=SERVING_INPUT)])
    archive.add_endpoint(
        "serving_tflite", lambda pixels: outputs(probabilities_of(pixels)),
        input_signature=[tf.TensorSpec([None, height, width], tf.uint8, name=SERVING_INPUT)])
    return archive


def export_for_serving(model, info: DatasetInfo, name: str, base_dir="saved_models",
                       version: int | None = None, test_time_flip: bool = False) -> Path:
    """Writes ``base_dir/name/version/``; the version defaults to the next free one.

    The SavedModel is written to a temporary folder and renamed into place, so a
    crash never leaves a half-written version that TF Serving would try to load.

    Raises:
        ValueError: for a bad name, or a version that already exists.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"Model name {name!r} must be letters, digits, '_', '.' or '-'.")
    model_dir = Path(base_dir) / name
    version = version or next_version(model_dir)
    target = model_dir / str(version)
    if target.exists():
        raise ValueError(f"{target} already exists; versions are never overwritten "
                         f"(the next free one is {next_version(model_dir)}).")
    staging = model_dir / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    serving_archive(model, info, test_time_flip).write_out(str(staging), verbose=False)
    os.replace(staging, target)
    return target


TFLITE_FORMATS = ("float32", "int8")


def tflite_flatbuffer(saved_model_dir, calibration_images=None) -> bytes:
    """``serving_default`` of a SavedModel as a TFLite flatbuffer (converted from its
    shape-declaring twin ``serving_tflite``, and named ``serving_default`` in it).

    Without ``calibration_images`` the graph stays float32. With them (uint8
    ``[N, 28, 28]``, a few hundred training images) it is quantized after training:
    int8 weights and activations whose ranges are measured on those images, which is
    what makes a batch-1 call on a CPU 3-4x faster (docs/results.md). Ops with no
    int8 kernel (the class-name lookup) stay float, so the signature is unchanged:
    uint8 pixels in, float32 probabilities out.
    """
    loaded = tf.saved_model.load(str(saved_model_dir))
    shaped = loaded.signatures.get("serving_tflite", loaded.signatures["serving_default"])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([shaped], loaded)
    if calibration_images is not None:
        calibration_images = np.asarray(calibration_images, np.uint8)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            {SERVING_INPUT: image[None]} for image in calibration_images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
    with warnings.catch_warnings():
        # The converter calibrates with TensorFlow's own (deprecated) interpreter and
        # warns about it; the project runs TFLite through LiteRT (deploy.latency).
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return converter.convert()


def calibration_images(train_images, count: int = 500, seed: int = 0) -> np.ndarray:
    """A seeded sample of training images to measure int8 activation ranges on
    (never validation or test images, which score the quantized model)."""
    order = np.random.default_rng(seed).permutation(len(train_images))[:count]
    return np.asarray(train_images)[np.sort(order)]


def write_tflite(saved_model_dir, tflite_format: str = "int8",
                 calibration_images=None) -> Path:
    """Writes ``saved_models/NAME/VERSION.FORMAT.tflite`` beside the version folder.

    Raises:
        ValueError: for an unknown format, or int8 without calibration images.
    """
    if tflite_format not in TFLITE_FORMATS:
        raise ValueError(f"Unknown TFLite format {tflite_format!r}; known: "
                         f"{', '.join(TFLITE_FORMATS)}.")
    if (tflite_format == "int8") != (calibration_images is not None):
        raise ValueError("int8 TFLite needs calibration images, and only int8 uses them.")
    saved_model_dir = Path(saved_model_dir)
    path = saved_model_dir.parent / f"{saved_model_dir.name}.{tflite_format}.tflite"
    staging = path.with_name(f".{path.name}.partial")
    staging.write_bytes(tflite_flatbuffer(saved_model_dir, calibration_images))
    os.replace(staging, path)
    return path


def write_models_config(base_dir="saved_models", serving_root="/models") -> Path:
    """TF Serving's ``--model_config_file`` listing every model under ``base_dir``."""
    base_dir = Path(base_dir)
    names = sorted(p.name for p in base_dir.iterdir()
                   if p.is_dir() and any(v.name.isdigit() for v in p.iterdir()))
    entries = "".join(
        f'  config {{\n    name: "{name}"\n    base_path: "{serving_root}/{name}"\n'
        f'    model_platform: "tensorflow"\n  }}\n' for name in names)
    path = base_dir / "models.config"
    path.write_text(f"model_config_list {{\n{entries}}}\n")
    return path
