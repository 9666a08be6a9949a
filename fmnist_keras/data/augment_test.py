import numpy as np
import pytest
import tensorflow as tf

from fmnist_keras import data
from fmnist_keras.data import augment, pipeline

ONES = tf.ones((64, 28, 28, 1))


def masked_pixels(images):
    return (np.asarray(images) == 0).reshape(len(images), -1).sum(axis=1)


def test_cutout_inside_masks_the_whole_square():
    out = augment.Cutout(size=16, inside=True, seed=1)(ONES, training=True)
    assert masked_pixels(out).tolist() == [256] * 64


def test_cutout_anywhere_masks_less_at_the_borders():
    counts = masked_pixels(augment.Cutout(size=16, inside=False, seed=1)(ONES, training=True))
    assert counts.max() <= 256
    assert counts.min() < 256            # some squares hang over the border
    assert (counts > 0).all()            # the centre is always on the image


def test_cutout_probability_and_inference():
    out = augment.Cutout(size=8, probability=0.0, seed=1)(ONES, training=True)
    assert masked_pixels(out).sum() == 0
    out = augment.Cutout(size=8, seed=1)(ONES, training=False)
    assert masked_pixels(out).sum() == 0


def test_crop_keeps_shape_and_shifts_content():
    images = tf.reshape(tf.range(64 * 28 * 28, dtype=tf.float32) + 1, (64, 28, 28, 1))
    out = augment.RandomCropWithPadding(padding=4, seed=2)(images, training=True).numpy()
    assert out.shape == (64, 28, 28, 1)
    padded = np.pad(images.numpy(), ((0, 0), (4, 4), (4, 4), (0, 0)))
    offsets = set()
    for index in range(64):
        matches = [(dy, dx) for dy in range(9) for dx in range(9)
                   if np.array_equal(padded[index, dy:dy + 28, dx:dx + 28], out[index])]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 10             # drawn per image, not once per batch


def test_random_erasing_area_bounds():
    counts = masked_pixels(augment.RandomErasing(probability=1.0, seed=3)(ONES, training=True))
    assert counts.min() >= int(0.02 * 784 * 0.5)
    assert counts.max() <= int(0.4 * 784 * 1.3)


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match="known: rotate, crop, flip, cutout, erase"):
        augment.parse_augmentations("crop,mixup")


def _first_batch(seed, splits):
    dataset = pipeline.make_dataset(splits.x_train, splits.y_train, splits.info, 32,
                                   training=True, augment="rotate,crop,flip,cutout,erase",
                                   seed=seed)
    return next(iter(dataset))


def test_same_seed_same_batch(data_dir):
    splits = data.load_splits("fashion_mnist", data_dir=data_dir, max_train_samples=256)
    first_x, first_y = _first_batch(7, splits)
    again_x, again_y = _first_batch(7, splits)
    other_x, _ = _first_batch(8, splits)
    np.testing.assert_array_equal(first_x, again_x)
    np.testing.assert_array_equal(first_y, again_y)
    assert not np.array_equal(first_x, other_x)


def test_evaluation_pipeline_only_normalises(data_dir):
    splits = data.load_splits("mnist", data_dir=data_dir, max_train_samples=64)
    images, labels = next(iter(pipeline.make_dataset(
        splits.x_test, splits.y_test, splits.info, 16, augment="cutout")))
    expected = (splits.x_test[:16, ..., None] / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(images.numpy(), expected, atol=1e-5)
    assert labels.numpy().tolist() == splits.y_test[:16].tolist()


def test_alternating_flip_mirrors_each_image_in_every_other_epoch():
    images = tf.reshape(tf.range(8 * 2 * 3, dtype=tf.float32), (8, 2, 3, 1))
    indices = tf.constant([5, 0, 7, 3, 1, 6, 2, 4])

    def flipped(epoch):
        out = augment.alternating_flip(images, indices, tf.constant(epoch, tf.int64), 0, 8)
        mirrored = np.all(out.numpy() == images.numpy()[:, :, ::-1], axis=(1, 2, 3))
        assert np.all(mirrored | np.all(out.numpy() == images.numpy(), axis=(1, 2, 3)))
        return mirrored

    first = flipped(0)
    assert 0 < first.sum() < 8                                  # random in the first epoch
    np.testing.assert_array_equal(flipped(1), ~first)           # then exactly the others
    np.testing.assert_array_equal(flipped(2), first)
    np.testing.assert_array_equal(flipped(3), ~first)
