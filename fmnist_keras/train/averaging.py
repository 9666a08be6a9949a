"""Batch-norm statistics for a weight average.

Keras' ``use_ema`` averages the trainable variables only: at the end of ``fit`` the
model holds the averaged kernels, gammas and betas beside the moving means and
variances of the *raw* weights' activations, which the averaged weights do not
produce. The averaged model is then normalised with another model's statistics. The
usual fix, as ``torch.optim.swa_utils.update_bn`` does for SWA, is one pass over
training batches that recomputes every batch-norm layer's statistics as a plain
average over the batches, with the averaged weights in place.
"""

from __future__ import annotations

import itertools

import keras


def batch_norm_layers(model) -> list:
    """Every batch-norm layer of ``model``, nested models included."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_batch_norm_statistics(model, batches, max_batches: int | None = None) -> int:
    """Replaces every batch-norm layer's moving mean and variance by their average over
    ``batches`` (images, or ``(images, labels)`` pairs), run through ``model`` in
    training mode; the weights are left as they are.

    Each layer's momentum is set to ``1 - 1/k`` for the k-th batch, so its moving
    statistics become the running mean of the per-batch statistics, whatever they
    held before, and is restored afterwards.

    Returns:
        The number of batches used (0 leaves the model unchanged).
    """
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, batch in enumerate(itertools.islice(batches, max_batches), start=1):
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / count
            model(images, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return count
