"""Augmentation layers: rotation and affine, elastic distortion, crop, flip, Cutout,
random erasing.

Every layer works on a whole batch at once with a per-image random draw, so the
pipeline (`fmnist_keras.data.pipeline`) batches first and augments second: one
vectorised op per batch, not one Python-level map per image. The layers are ordinary
Keras layers: they run inside ``tf.data`` and, where wanted, inside a model (they are
identities at inference).

Order in a training pipeline, as in the references' torchvision transforms:
rotation (or affine), elastic distortion, crop and flip on raw 0..255 pixels (zero
padding is black), then normalisation, then Cutout and random erasing with fill 0 (the
mean after normalisation).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

AUGMENTATIONS = ("rotate", "affine", "elastic", "crop", "flip", "cutout", "erase")


class UniformDraws:
    """The uniform draws of one augmentation call.

    Given ``seed`` (an int ``[2]`` tensor) every draw is stateless, with its own
    sub-seed, so a batch's augmentation is a function of that seed alone: the training
    pipeline derives it from (run seed, epoch, batch), which makes a resumed run draw
    what the uninterrupted one drew. Without it they come from a Keras SeedGenerator,
    as in any Keras layer.
    """

    def __init__(self, seed=None, generator=None):
        self.seed, self.generator, self.count = seed, generator, 0

    def __call__(self, shape, minval=0.0, maxval=1.0):
        if self.seed is None:
            return keras.random.uniform(shape, minval, maxval, seed=self.generator)
        self.count += 1
        return tf.random.stateless_uniform(
            shape, tf.random.experimental.stateless_fold_in(self.seed, self.count),
            minval, maxval)


class _RandomBatchLayer(keras.layers.Layer):
    """Base of the augmentation layers: per-image draws, an optional stateless seed per
    call, and inference passthrough."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def call(self, images, training=True, seed=None):
        if not training:
            return images
        return self.augment(tf.convert_to_tensor(images), UniformDraws(seed, self.seed_generator))

    def augment(self, images, draw: UniformDraws):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class RandomFlip(_RandomBatchLayer):
    """Mirrors each image left-right with probability 1/2 (torchvision's
    ``RandomHorizontalFlip``)."""

    def augment(self, images, draw):
        flip = draw((tf.shape(images)[0], 1, 1, 1)) < 0.5
        return tf.where(flip, images[:, :, ::-1], images)


def alternating_flip(images, indices, epoch, seed: int, num_images: int):
    """The alternating flip of airbench (Jordan 2024): each image is mirrored at random
    in the first epoch, then exactly in the epochs it was not mirrored in the epoch
    before, so every two epochs see it once each way.

    Args:
        images: the batch, NHWC; ``indices``: each image's index in the training set;
            ``epoch``: the epoch (0-based); ``seed``: the run's seed.
    """
    first = tf.random.stateless_uniform([num_images], [seed, 0x5EED]) < 0.5
    flip = tf.not_equal(tf.gather(first, indices), tf.equal(epoch % 2, 1))
    return tf.where(flip[:, None, None, None], images[:, :, ::-1], images)


class RandomAffine(_RandomBatchLayer):
    """Rotates each image about its centre by an angle drawn uniformly from
    [-degrees, degrees], and, where asked, scales it by a factor drawn from
    [1 - scale, 1 + scale] and shifts it by up to ``translate`` times its size in each
    direction; one bilinear resampling, zero outside (torchvision's ``RandomRotation``
    and ``RandomAffine``, whose shifts are whole pixels where these are not).

    With ``scale`` and ``translate`` zero nothing more is drawn and the transform is
    the rotation's alone, bit for bit: a rotation-only recipe augments as it always did.
    """

    def __init__(self, degrees=7.0, scale=0.0, translate=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.degrees, self.scale, self.translate = degrees, scale, translate

    def augment(self, images, draw):
        batch = tf.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        angle = draw((batch,), -self.degrees, self.degrees) * (math.pi / 180.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        if self.scale:
            factor = draw((batch,), 1.0 - self.scale, 1.0 + self.scale)
            cos, sin = cos / factor, sin / factor
        centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
        source_x, source_y = centre_x, centre_y
        if self.translate:
            source_x = centre_x + draw((batch,), -self.translate, self.translate) * width
            source_y = centre_y + draw((batch,), -self.translate, self.translate) * height
        # Output pixel (x, y) samples input (x', y') = R(angle) / factor (x - c - t) + c.
        zeros = tf.zeros_like(cos)
        transforms = tf.stack([cos, -sin, centre_x - cos * source_x + sin * source_y,
                               sin, cos, centre_y - sin * source_x - cos * source_y,
                               zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=[height, width],
            fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")

    def get_config(self):
        return {**super().get_config(), "degrees": self.degrees, "scale": self.scale,
                "translate": self.translate}


class RandomElastic(_RandomBatchLayer):
    """Elastic distortion (Simard et al. 2003, the classic MNIST augmentation): each
    pixel's displacement is uniform noise in [-1, 1] per direction, smoothed by a
    Gaussian of ``sigma`` pixels (zero beyond the border) and scaled by ``alpha``
    pixels; the image is resampled bilinearly there, zero outside. The paper's 34 and
    4 move a pixel by about 1.4 pixels (one standard deviation), smoothly over a few
    pixels, as a hand's stroke varies.
    """

    def __init__(self, alpha=34.0, sigma=4.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.alpha, self.sigma = alpha, sigma

    def augment(self, images, draw):
        batch = tf.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        field = draw((batch, height, width, 2), -1.0, 1.0)
        # The separable blur as two small matrix products (a depthwise convolution
        # with the same taps was slower here).
        field = tf.einsum("ij,bjwc->biwc", gaussian_blur_matrix(height, self.sigma), field)
        field = tf.einsum("ij,bhjc->bhic", gaussian_blur_matrix(width, self.sigma), field)
        rows = tf.range(height, dtype=tf.float32)[None, :, None] + self.alpha * field[..., 0]
        cols = tf.range(width, dtype=tf.float32)[None, None, :] + self.alpha * field[..., 1]
        return bilinear_sample(images, rows, cols)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "sigma": self.sigma}


def gaussian_blur_matrix(size: int, sigma: float) -> tf.Tensor:
    """``(size, size)``: row i holds the normalised Gaussian taps (radius 3 sigma)
    centred on i, so that multiplying by it blurs with zeros beyond the border."""
    radius = max(1, int(3 * sigma + 0.5))
    total = sum(math.exp(-0.5 * (d / sigma) ** 2) for d in range(-radius, radius + 1))
    offsets = tf.range(size, dtype=tf.float32)
    distance = offsets[:, None] - offsets[None, :]
    taps = tf.exp(-0.5 * (distance / sigma) ** 2) / total
    return tf.where(tf.abs(distance) <= radius, taps, 0.0)


def bilinear_sample(images, rows, cols):
    """``images`` (NHWC) read at fractional ``rows``, ``cols`` (N, H, W) by bilinear
    interpolation, zero outside the image."""
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    stride = width + 2                                          # a zero border all round
    flat = tf.reshape(tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]]), [-1, channels])
    rows = tf.clip_by_value(rows + 1.0, 0.0, height + 1.0)
    cols = tf.clip_by_value(cols + 1.0, 0.0, width + 1.0)
    top = tf.minimum(tf.floor(rows), height)   # so that top + 1 is inside the border
    left = tf.minimum(tf.floor(cols), width)
    down, right = (rows - top)[..., None], (cols - left)[..., None]
    first = tf.range(tf.shape(images)[0])[:, None, None] * (height + 2) * stride
    index = first + tf.cast(top, tf.int32) * stride + tf.cast(left, tf.int32)

    def at(offset):
        return tf.gather(flat, index + offset)        # flat gathers: faster than gather_nd

    upper = at(0) * (1.0 - right) + at(1) * right
    lower = at(stride) * (1.0 - right) + at(stride + 1) * right
    return upper * (1.0 - down) + lower * down


class RandomCropWithPadding(_RandomBatchLayer):
    """Zero-pads by ``padding`` pixels, then crops back to the input size at a random
    integer offset drawn per image (torchvision's ``RandomCrop(size, padding)``)."""

    def __init__(self, padding=4, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.padding = padding

    def augment(self, images, draw):
        pad = self.padding
        height, width = images.shape[1], images.shape[2]
        batch = tf.shape(images)[0]
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        offsets = tf.cast(draw((batch, 2), 0.0, 2 * pad + 1), tf.int32)
        offsets = tf.minimum(offsets, 2 * pad)
        rows = offsets[:, :1] + tf.range(height)[None, :]
        cols = offsets[:, 1:] + tf.range(width)[None, :]
        cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(cropped, cols, axis=2, batch_dims=1)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class _BoxEraser(_RandomBatchLayer):
    """Base of Cutout and random erasing: fills one box per image, with a probability."""

    def erase(self, images, draw, top, left, box_height, box_width):
        """Sets the per-image box [top, top+h) x [left, left+w) to ``self.fill`` in the
        images drawn with ``self.probability``; boxes may reach past the border."""
        height, width = images.shape[1], images.shape[2]
        rows = tf.range(height)[None, :, None]
        cols = tf.range(width)[None, None, :]
        top, left = top[:, None, None], left[:, None, None]
        inside = ((rows >= top) & (rows < top + box_height[:, None, None])
                  & (cols >= left) & (cols < left + box_width[:, None, None]))
        apply = draw((tf.shape(images)[0],)) < self.probability
        mask = tf.cast(inside & apply[:, None, None], images.dtype)[..., None]
        return images * (1.0 - mask) + self.fill * mask


class Cutout(_BoxEraser):
    """Cutout (DeVries & Taylor 2017): one square of side ``size`` set to ``fill``.

    With probability ``probability`` per image. The centre is drawn uniformly over the
    image (``inside=False``: the square may hang over the border and cover less) or so
    that the square lies inside (``inside=True``), as in pytorch_image_classification.
    """

    def __init__(self, size=16, probability=1.0, inside=False, fill=0.0, seed=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.size, self.probability, self.inside, self.fill = size, probability, inside, fill

    def augment(self, images, draw):
        height, width = images.shape[1], images.shape[2]
        batch = tf.shape(images)[0]
        half = self.size // 2
        offset = 1 if self.size % 2 == 0 else 0
        low = half if self.inside else 0
        high_y = height + offset - half if self.inside else height + offset
        high_x = width + offset - half if self.inside else width + offset
        centre_y = tf.cast(tf.floor(draw((batch,), low, high_y)), tf.int32)
        centre_x = tf.cast(tf.floor(draw((batch,), low, high_x)), tf.int32)
        side = tf.fill((batch,), self.size)
        return self.erase(images, draw, centre_y - half, centre_x - half, side, side)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "probability": self.probability,
                "inside": self.inside, "fill": self.fill}


class RandomErasing(_BoxEraser):
    """Random erasing (Zhong et al. 2017): with probability ``probability`` per image, a
    rectangle of ``area`` (fraction of the image) and log-uniform ``aspect`` is set to
    ``fill``. Where torchvision retries a box that does not fit, this clips it to the
    image, which keeps the op vectorised."""

    def __init__(self, probability=0.5, area=(0.02, 0.4), aspect=(0.3, 1 / 0.3),
                 fill=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.probability, self.area, self.aspect, self.fill = (
            probability, tuple(area), tuple(aspect), fill)

    def augment(self, images, draw):
        height, width = images.shape[1], images.shape[2]
        batch = tf.shape(images)[0]
        area = draw((batch,), *self.area) * height * width
        log_aspect = draw((batch,), math.log(self.aspect[0]), math.log(self.aspect[1]))
        aspect = tf.exp(log_aspect)
        box_h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32), 1, height)
        box_w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32), 1, width)
        top = tf.cast(tf.floor(draw((batch,)) * tf.cast(height - box_h + 1, tf.float32)), tf.int32)
        left = tf.cast(tf.floor(draw((batch,)) * tf.cast(width - box_w + 1, tf.float32)), tf.int32)
        return self.erase(images, draw, top, left, box_h, box_w)

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "area": self.area,
                "aspect": self.aspect, "fill": self.fill}


def parse_augmentations(spec) -> tuple[str, ...]:
    """``"crop,flip"`` or a list -> validated tuple; ``""``/``"none"``/None -> ()."""
    if spec in (None, "", "none"):
        return ()
    names = tuple(spec.split(",")) if isinstance(spec, str) else tuple(spec)
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"Unknown augmentation(s) {unknown}; known: {', '.join(AUGMENTATIONS)}.")
    if {"rotate", "affine"} <= set(names):
        raise ValueError("rotate and affine both rotate (affine also scales and shifts); "
                         "name one of them.")
    return names


def build_augmenter(augment, seed=0, crop_padding=4, cutout_size=16,
                    cutout_probability=1.0, cutout_inside=False, rotation_degrees=7.0,
                    affine_scale=0.1, affine_translate=0.05, elastic_alpha=34.0,
                    elastic_sigma=4.0, erase_probability=0.5,
                    erase_area=(0.02, 0.4), erase_aspect=(0.3, 1 / 0.3), alternate_flip=False):
    """Returns two callables ``(before_norm, after_norm)`` for the named augmentations.

    Layers apply in the fixed order of `AUGMENTATIONS` whatever order they were named in.
    With ``alternate_flip`` there is no flip layer: the pipeline flips by
    `alternating_flip`, which needs each image's index and the epoch.
    """
    names = parse_augmentations(augment)
    before, after = [], []
    if "rotate" in names:
        before.append(RandomAffine(rotation_degrees, seed=seed))
    if "affine" in names:
        before.append(RandomAffine(rotation_degrees, affine_scale, affine_translate, seed=seed))
    if "elastic" in names:
        before.append(RandomElastic(elastic_alpha, elastic_sigma, seed=seed + 5))
    if "crop" in names:
        before.append(RandomCropWithPadding(crop_padding, seed=seed + 1))
    if "flip" in names and not alternate_flip:
        before.append(RandomFlip(seed=seed + 2))
    if "cutout" in names:
        after.append(Cutout(cutout_size, cutout_probability, cutout_inside, seed=seed + 3))
    if "erase" in names:
        after.append(RandomErasing(erase_probability, erase_area, erase_aspect, seed=seed + 4))
    return before, after


