"""Weights set by a rule rather than drawn: the speed runs' patch-whitening first
convolution and Dirac (identity) convolutions (airbench, arXiv 2404.00498).

Both act on a built model, so any architecture whose layers fit can take them; a model
that cannot fails with one line naming what is missing.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import layers

WHITENING_EPSILON = 5e-4   # airbench's; keeps flat directions (constant images) finite
WHITENING_IMAGES = 5000    # airbench estimates the covariance from 5,000 images


def first_convolution(model) -> layers.Conv2D:
    """The model's first layer with weights, which must be a plain 2-D convolution."""
    for layer in model.layers:
        if not layer.weights:
            continue
        if type(layer) is layers.Conv2D:   # not depthwise, separable or transposed
            return layer
        raise ValueError(
            f"patch_whitening (--patch-whitening) needs a model whose first layer with "
            f"weights is a Conv2D; {model.name}'s is {layer.name} ({type(layer).__name__}). "
            "Pass --no-patch-whitening.")
    raise ValueError(f"patch_whitening (--patch-whitening): {model.name} has no weights.")


def patch_whitening_kernel(images: np.ndarray, kernel_size: int,
                           epsilon: float = WHITENING_EPSILON,
                           directions: int | None = None) -> np.ndarray:
    """Filters that whiten the ``kernel_size`` patches of ``images`` (N, H, W, C).

    The eigenvectors ``v`` of the patches' second-moment matrix, each scaled by
    ``1 / sqrt(eigenvalue + epsilon)`` and taken with both signs (so a ReLU after it
    keeps both halves), largest eigenvalue first. On the patches the first half of the
    outputs has (nearly) identity covariance.

    Args:
        directions: the eigenvectors kept, largest eigenvalue first (default all
            ``k * k * C``). Fewer drop the flattest directions, the ones whitening
            amplifies most. 8 of a 3x3 kernel's 9 give 16 filters, and the layers after
            16 channels trained about 1.6x faster here than after 18 (docs/speed.md).

    Returns:
        A (k, k, C, 2 * directions) float32 kernel.
    """
    images = tf.convert_to_tensor(np.asarray(images, np.float32))
    channels = images.shape[-1]
    patches = tf.image.extract_patches(images, [1, kernel_size, kernel_size, 1],
                                       [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
    flat = tf.reshape(tf.cast(patches, tf.float64), [-1, patches.shape[-1]]).numpy()
    second_moment = flat.T @ flat / len(flat)
    eigenvalues, eigenvectors = np.linalg.eigh(second_moment)        # ascending
    eigenvalues = np.maximum(eigenvalues[::-1], 0.0)                 # round-off below 0
    filters = (eigenvectors[:, ::-1] / np.sqrt(eigenvalues + epsilon))[:, :directions]
    # extract_patches orders a patch's values (row, column, channel): a kernel's layout
    kernel = filters.reshape(kernel_size, kernel_size, channels, -1)
    return np.concatenate([kernel, -kernel], axis=-1).astype(np.float32)


def apply_patch_whitening(model, images: np.ndarray) -> layers.Conv2D:
    """Sets the first convolution to whiten ``images``' patches and freezes it.

    ``images`` are training images as the model sees them (normalised; training takes
    the first `WHITENING_IMAGES`). Every filter is a whitening one, so the convolution
    needs an even number of them up to ``2 * k * k * C`` (18 for a 3x3 kernel on one
    channel): both signs of that many eigenvectors, the largest first.

    Returns:
        The frozen layer.
    """
    conv = first_convolution(model)
    kernel_size, _ = conv.kernel_size
    channels = conv.kernel.shape[2]
    most = 2 * kernel_size * kernel_size * channels
    if conv.filters % 2 or conv.filters > most or conv.kernel_size[0] != conv.kernel_size[1]:
        raise ValueError(
            f"patch_whitening (--patch-whitening) needs {model.name}'s first convolution "
            f"{conv.name} to have an even number of filters up to {most} (2 x "
            f"{kernel_size}x{kernel_size}x{channels}: both signs of each eigenvector); it "
            f"has {conv.filters}. Build the model with that many (resnet: --model-arg "
            f"stem_width={most}) or pass --no-patch-whitening.")
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    conv.kernel.assign(patch_whitening_kernel(images, kernel_size,
                                              directions=conv.filters // 2))
    conv.trainable = False
    return conv


def apply_dirac(model, skip=()) -> list[str]:
    """Every 3x3 Conv2D (but those in ``skip``) starts as the identity on its first
    ``min(in, out)`` channels: those filters pass their own input channel through
    (a strided one subsamples it); the other filters keep their random draw. A deep
    net then starts close to a shallow one, and trains in fewer epochs (airbench).

    Returns:
        The names of the layers set.
    """
    names = []
    for layer in model.layers:
        if type(layer) is not layers.Conv2D or tuple(layer.kernel_size) != (3, 3) \
                or layer in skip:
            continue
        kernel = layer.kernel.numpy()
        identity = min(kernel.shape[2], kernel.shape[3])
        kernel[..., :identity] = 0.0
        kernel[1, 1, np.arange(identity), np.arange(identity)] = 1.0
        layer.kernel.assign(kernel)
        names.append(layer.name)
    if not names:
        raise ValueError(f"dirac_init (--dirac-init): {model.name} has no 3x3 Conv2D to "
                         "set. Pass --no-dirac-init.")
    return names
