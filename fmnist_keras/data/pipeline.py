"""The tf.data pipelines: normalisation, batching, shuffling and augmentation."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from fmnist_keras.data.augment import alternating_flip, build_augmenter
from fmnist_keras.data.sources import DatasetInfo


def map_in_parallel(dataset: tf.data.Dataset, function) -> tf.data.Dataset:
    """``dataset.map(function)`` on parallel calls, prefetched, with tf.data's
    autotuning off.

    While autotuning is on, deleting an iterator can block until the autotuning thread's
    next wake-up, and it wakes at 10 ms, 30 ms, 70 ms, ... after the iterator starts
    (the period doubles up to 60 s). Keras deletes the training iterator at the end of
    every epoch and an evaluation's at the end of each evaluation, so an epoch could
    idle until the next wake-up, up to 60 s. Without the tuning the batches are the
    same, the pipelines still deliver over 40 times what the speed run's net trains
    on, and the speed run trained in two thirds of the time (`docs/speed.md`, "Idle
    waits at the end of an epoch").
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.map(function, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE).with_options(options)


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
                 epoch: tf.Variable | None = None, targets: np.ndarray | None = None,
                 **augment_options) -> tf.data.Dataset:
    """A batched ``tf.data`` pipeline of normalised (B, 28, 28, 1) float32 images.

    Training pipelines shuffle and augment; others keep the order and only normalise.
    Everything a training epoch draws is a function of (``seed``, epoch, batch): the
    order is a stateless permutation keyed on the epoch, and each batch's augmentation
    a stateless draw keyed on its epoch and index. ``epoch`` is the variable that says
    which epoch the next pass is (`fmnist_keras.train.callbacks.ReseedEachEpoch` sets
    it); without one every pass is epoch 0. So a resumed run sees exactly the batches
    the uninterrupted run saw, and the map can run in parallel.

    ``targets`` (training only): one row per image that the batches carry instead of
    its label (a distilling run's teacher probabilities and label,
    `fmnist_keras.train.distill`).
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    labels = np.asarray(labels).astype(np.int32)
    normalise = Normalization(info.mean, info.std)
    if not training:
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
        return map_in_parallel(dataset, lambda x, y: (normalise(x), y))

    epoch = epoch if epoch is not None else tf.Variable(0, dtype=tf.int64, trainable=False)
    before, after = build_augmenter(augment, seed=seed, **augment_options)
    alternate = "flip" in augment and augment_options.get("alternate_flip", False)
    all_images = tf.constant(images)
    all_labels = tf.constant(labels if targets is None else np.asarray(targets, np.float32))
    batches = math.ceil(len(images) / batch_size)

    def one_epoch(_):
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), epoch.read_value()])
        order = tf.argsort(tf.random.stateless_uniform([len(images)], epoch_seed))
        indices = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return tf.data.Dataset.zip((indices, tf.data.Dataset.range(batches),
                                    tf.data.Dataset.from_tensors(epoch_seed).repeat()))

    def transform(indices, batch_index, epoch_seed):
        batch_seed = tf.random.experimental.stateless_fold_in(epoch_seed, batch_index)
        batch_images = tf.cast(tf.gather(all_images, indices), tf.float32)
        if alternate:
            batch_images = alternating_flip(batch_images, indices, epoch_seed[1], seed,
                                            len(images))
        for index, layer in enumerate(before):
            batch_images = layer(batch_images, training=True,
                                 seed=tf.random.experimental.stateless_fold_in(batch_seed, index))
        batch_images = normalise(batch_images)
        for index, layer in enumerate(after, start=len(before)):
            batch_images = layer(batch_images, training=True,
                                 seed=tf.random.experimental.stateless_fold_in(batch_seed, index))
        return batch_images, tf.gather(all_labels, indices)

    dataset = tf.data.Dataset.range(1).flat_map(one_epoch)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return map_in_parallel(dataset, transform)
