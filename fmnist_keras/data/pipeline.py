"""The tf.data pipelines: normalisation, batching, shuffling and augmentation."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from fmnist_keras.data.augment import build_augmenter
from fmnist_keras.data.sources import DatasetInfo


class Normalization(keras.layers.Layer):
    """Scales uint8 (or 0..255 float) pixels to 0..1, then standardises with a
    dataset's mean and std. Shared by the pipelines and the serving wrapper."""

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = float(mean), float(std)

    def call(self, images):
        images = keras.ops.cast(images, "float32") / 255.0
        return (images - self.mean) / self.std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}



def make_dataset(images: np.ndarray, labels: np.ndarray, info: DatasetInfo,
                 batch_size: int, training: bool = False, augment=(), seed: int = 0,
                 **augment_options) -> tf.data.Dataset:
    """A batched ``tf.data`` pipeline of normalised (B, 28, 28, 1) float32 images.

    Training pipelines shuffle (seeded, reshuffled every epoch) and augment; others
    keep the order and only normalise.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    if training:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=False)
    before, after = build_augmenter(augment if training else (), seed=seed, **augment_options)
    normalise = Normalization(info.mean, info.std)

    def transform(batch_images, batch_labels):
        batch_images = tf.cast(batch_images, tf.float32)
        for layer in before:
            batch_images = layer(batch_images, training=True)
        batch_images = normalise(batch_images)
        for layer in after:
            batch_images = layer(batch_images, training=True)
        return batch_images, batch_labels

    # One batch at a time: the layers' seed generators are shared state, and parallel
    # calls would draw from them in a racy order (a seed would no longer fix a batch).
    # Sequential augmentation still delivers far more than any model here trains on
    # (docs/speed.md); prefetch overlaps it with training.
    dataset = dataset.map(transform, num_parallel_calls=None if before or after else
                          tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
