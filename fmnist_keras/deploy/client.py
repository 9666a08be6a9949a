"""The client side of TF Serving: request bodies, image files, signature checks.

The TF Serving server cannot be installed here (it ships as a Docker image and in
Google's apt repository), so the client contract is checked against the exported
signature instead: a REST ``{"instances": ...}`` body and a gRPC ``PredictRequest``
must both decode to exactly the tensors the signature accepts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from fmnist_keras.data import DataError, read_idx
from fmnist_keras.deploy.export import SERVING_INPUT

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def rest_body(images: np.ndarray, signature: str = "serving_default") -> dict:
    """The JSON body of ``POST /v1/models/NAME:predict`` (row format)."""
    return {"signature_name": signature, "instances": np.asarray(images).tolist()}


def grpc_request(images: np.ndarray, model_name: str, signature: str = "serving_default"):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for the images."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    request.inputs[SERVING_INPUT].CopyFrom(tf.make_tensor_proto(np.asarray(images)))
    return request


def signature_spec(loaded, signature: str = "serving_default") -> tf.TensorSpec:
    """The input a signature accepts: its dtype, and the documented shape
    ``[batch, 28, 28]`` (the serving signatures declare none; ``serving_tflite`` does)."""
    spec = loaded.signatures[signature].structured_input_signature[1][SERVING_INPUT]
    if spec.shape.rank is None and "serving_tflite" in loaded.signatures:
        shaped = loaded.signatures["serving_tflite"].structured_input_signature[1]
        spec = tf.TensorSpec(shaped[SERVING_INPUT].shape, spec.dtype, SERVING_INPUT)
    return spec


def tensor_from_rest(body: dict, spec: tf.TensorSpec) -> tf.Tensor:
    """Decodes a REST body the way TF Serving does: the instances, as the signature's
    dtype. Raises ValueError naming the expected shape when they do not fit."""
    values = np.asarray(body["instances"])
    check_shape(values.shape, spec)
    if spec.dtype == tf.uint8 and (values.min() < 0 or values.max() > 255):
        raise ValueError(f"pixel values must be 0..255 for uint8 input; received "
                         f"{values.min()}..{values.max()} (use serving_float to clip).")
    return tf.constant(values, dtype=spec.dtype)


def tensor_from_grpc(request, spec: tf.TensorSpec) -> tf.Tensor:
    proto = request.inputs[SERVING_INPUT]
    if tf.dtypes.as_dtype(proto.dtype) != spec.dtype:
        raise ValueError(f"input {SERVING_INPUT!r} must be {spec.dtype.name}; received "
                         f"{tf.dtypes.as_dtype(proto.dtype).name}.")
    values = tf.make_ndarray(proto)
    check_shape(values.shape, spec)
    return tf.constant(values)


def check_shape(shape, spec: tf.TensorSpec) -> None:
    if not spec.shape.is_compatible_with(shape):
        expected = "[batch, " + ", ".join(str(d) for d in spec.shape[1:]) + "]"
        raise ValueError(f"input {SERVING_INPUT!r} must have shape {expected} "
                         f"({spec.dtype.name}); received {list(shape)}.")


def load_image_file(path) -> np.ndarray:
    """An image file as a 28x28 uint8 array that looks like Fashion-MNIST: grey,
    a light object on a dark background, the object scaled to fit and centred.

    Photos on a light background (their border brighter than mid-grey) are inverted.

    Raises:
        DataError: naming the file when it cannot be read as an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = ImageOps.exif_transpose(image).convert("L")
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"{path}: not a readable image ({error}).") from None
    pixels = np.asarray(grey)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 127:
        grey = ImageOps.invert(grey)
    grey.thumbnail((28, 28), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (28, 28), 0)
    canvas.paste(grey, ((28 - grey.width) // 2, (28 - grey.height) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def load_inputs(path) -> tuple[list[str], np.ndarray]:
    """Images from a file: an image file (one image) or an IDX images file (all)."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [str(path)], load_image_file(path)[None]
    images = read_idx(path)
    if images.ndim != 3:
        raise DataError(f"{path}: an IDX file of {images.ndim} dimensions is not images.")
    return [f"{path}[{i}]" for i in range(len(images))], images
