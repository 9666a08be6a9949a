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
    with pytest.raises(ValueError, match="known: rotate, affine, elastic, crop, flip, cutout, erase"):
        augment.parse_augmentations("crop,mixup")
    with pytest.raises(ValueError, match="name one of them"):
        augment.parse_augmentations("rotate,affine")


def _moments(images):
    """Each image's centre of mass (y, x) and mean squared distance from it."""
    images = np.asarray(images)[..., 0]
    ys, xs = np.mgrid[:images.shape[1], :images.shape[2]]
    mass = images.sum(axis=(1, 2))
    cy = (images * ys).sum(axis=(1, 2)) / mass
    cx = (images * xs).sum(axis=(1, 2)) / mass
    spread = (images * ((ys - cy[:, None, None]) ** 2 + (xs - cx[:, None, None]) ** 2)
              ).sum(axis=(1, 2)) / mass
    return cy, cx, spread


BLOB = tf.constant(np.broadcast_to(np.exp(-((np.mgrid[:28, :28] - 13.5) ** 2).sum(0) / 8.0),
                                   (64, 28, 28))[..., None], tf.float32)


def test_affine_shifts_each_image_by_at_most_its_range():
    out = augment.RandomAffine(degrees=0, translate=0.1, seed=4)(BLOB, training=True)
    cy, cx, spread = _moments(out)
    shifts = np.stack([cy - 13.5, cx - 13.5])
    assert np.abs(shifts).max() <= 0.1 * 28 + 1e-3
    assert np.abs(shifts).max() > 0.05 * 28          # the range is used
    assert len(np.unique(np.round(shifts, 3), axis=1).T) == 64   # drawn per image
    # the shape kept, but for bilinear resampling's blur: f (1 - f) <= 1/4 per axis
    assert (spread >= _moments(BLOB)[2] - 1e-3).all()
    assert (spread <= _moments(BLOB)[2] + 0.5 + 1e-3).all()


def test_affine_scales_each_image_within_its_range():
    out = augment.RandomAffine(degrees=0, scale=0.2, seed=5)(BLOB, training=True)
    cy, cx, spread = _moments(out)
    np.testing.assert_allclose(np.stack([cy, cx]), 13.5, atol=1e-3)   # about the centre
    factor = np.sqrt(spread / _moments(BLOB)[2])     # resampling's blur adds up to 3%
    assert factor.min() >= 0.8 - 0.03 and factor.max() <= 1.2 + 0.03
    assert factor.max() - factor.min() > 0.2


def test_affine_without_scale_or_shift_is_the_rotation_bit_for_bit():
    images = tf.random.stateless_uniform((16, 28, 28, 1), (1, 2), 0, 255)
    seed = tf.constant([3, 4], tf.int64)
    rotate, _ = augment.build_augmenter("rotate", seed=1)
    affine, _ = augment.build_augmenter("affine", seed=1, affine_scale=0, affine_translate=0)
    np.testing.assert_array_equal(rotate[0](images, seed=seed), affine[0](images, seed=seed))
    scaled, _ = augment.build_augmenter("affine", seed=1)
    assert not np.array_equal(rotate[0](images, seed=seed), scaled[0](images, seed=seed))


def test_bilinear_sampling_reads_between_pixels_and_zero_outside():
    images = tf.random.stateless_uniform((2, 5, 6, 1), (0, 1), 0, 255)
    rows, cols = np.mgrid[:5, :6].astype(np.float32)
    rows, cols = np.broadcast_to(rows, (2, 5, 6)), np.broadcast_to(cols, (2, 5, 6))
    np.testing.assert_allclose(augment.bilinear_sample(images, rows, cols), images, rtol=1e-6)
    shifted = np.asarray(augment.bilinear_sample(images, rows, cols + 1.0))
    np.testing.assert_allclose(shifted[:, :, :-1], np.asarray(images)[:, :, 1:], rtol=1e-6)
    assert (shifted[:, :, -1] == 0).all()                      # read past the right border
    halfway = augment.bilinear_sample(images, rows + 0.5, cols)
    expected = (np.asarray(images)[:, :-1] + np.asarray(images)[:, 1:]) / 2
    np.testing.assert_allclose(np.asarray(halfway)[:, :-1], expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(halfway)[:, -1], np.asarray(images)[:, -1] / 2,
                               rtol=1e-5)                      # half the last row, half zero
    far = augment.bilinear_sample(images, rows - 40.0, cols)
    assert (np.asarray(far) == 0).all()


def test_elastic_moves_pixels_locally_per_image():
    images = tf.random.stateless_uniform((64, 28, 28, 1), (1, 2), 0, 255)
    seed = tf.constant([3, 4], tf.int64)
    unmoved = augment.RandomElastic(alpha=0.0)(images, training=True, seed=seed)
    np.testing.assert_allclose(unmoved, images, rtol=1e-6)
    layer = augment.RandomElastic(alpha=34.0, sigma=4.0)
    out = layer(BLOB, training=True, seed=seed)
    np.testing.assert_array_equal(out, layer(BLOB, training=True, seed=seed))  # seeded
    cy, cx, _ = _moments(out)
    shifts = np.stack([cy - 13.5, cx - 13.5])
    assert np.abs(shifts).max() < 5.0                      # a local warp, not a jump
    assert len(np.unique(np.round(shifts, 3), axis=1).T) == 64   # drawn per image
    assert float(tf.reduce_mean(tf.abs(out - BLOB))) > 0.01
    np.testing.assert_array_equal(layer(BLOB, training=False), BLOB)
    blur = np.asarray(augment.gaussian_blur_matrix(28, 4.0))
    np.testing.assert_allclose(blur[12:16].sum(axis=1), 1.0, rtol=1e-6)   # taps sum to 1
    np.testing.assert_allclose(blur, blur.T)
    assert (blur[0, 13:] == 0).all() and blur[0, 12] > 0             # radius 3 sigma


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
