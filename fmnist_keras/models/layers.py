"""Building blocks shared by every family: the spec's conv, BN and head, and the
Shake-Shake layer.

The spec's numerics live here once: convolutions without bias and He-normal
(fan_out) kernels, symmetric padding for strided convolutions, BN with PyTorch's
momentum 0.9 and epsilon 1e-5, a dense head initialised like ``torch.nn.Linear``.
``initialisation="torch"`` gives a layer PyTorch's own defaults instead, for nets whose
reference code left them in place.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
INITIALISATIONS = ("spec", "torch")


def conv_initializer():
    """He-normal with fan_out, untruncated: PyTorch's ``kaiming_normal_(mode='fan_out')``."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def torch_initializers(fan_in: int) -> dict:
    """PyTorch's defaults for ``nn.Conv2d`` and ``nn.Linear`` (``kaiming_uniform_`` with
    ``a=sqrt(5)``): kernel and bias both Uniform(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return {"kernel_initializer": dense_initializer(),
            "bias_initializer": keras.initializers.RandomUniform(-bound, bound)}


def check_initialisation(initialisation: str) -> None:
    if initialisation not in INITIALISATIONS:
        raise ValueError(f"initialisation={initialisation!r} is not known; pass one of "
                         f"{', '.join(INITIALISATIONS)} (--model-arg initialisation=torch).")


def conv(x, filters, kernel_size, strides=1, padding=None, use_bias=False, name=None,
         initialisation="spec"):
    """A 2-D convolution with PyTorch's explicit, symmetric zero padding.

    Args:
        padding: pixels on every side; None means ``kernel_size // 2`` (size-preserving
            at stride 1). Stride-1 "same" convolutions use Keras' ``same`` (identical
            there); any other padding is an explicit ``ZeroPadding2D`` so that strided
            convolutions sample the grid the way the references do.
        initialisation: ``spec`` (He-normal on the fan-out, zero bias) or ``torch``
            (`torch_initializers`).
    """
    check_initialisation(initialisation)
    if padding is None:
        padding = kernel_size // 2
    if strides == 1 and 2 * padding == kernel_size - 1:
        keras_padding = "same"
    else:
        if padding:
            x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        keras_padding = "valid"
    initializers = torch_initializers(x.shape[-1] * kernel_size ** 2) \
        if initialisation == "torch" else {}
    return conv2d_layer(filters, kernel_size, strides, keras_padding, use_bias, name,
                        **initializers)(x)


def conv2d_layer(filters, kernel_size, strides=1, padding="same", use_bias=False, name=None,
                 groups=1, **initializers):
    """Keras' Conv2D with the spec's initialisation (``initializers`` override it): the
    layer itself, for a caller that applies one convolution more than once (weights
    shared)."""
    initializers = {"kernel_initializer": conv_initializer(), **initializers}
    return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                         use_bias=use_bias, groups=groups, name=name, **initializers)


@keras.saving.register_keras_serializable(package="fmnist_keras")
class BatchNormalization(layers.BatchNormalization):
    """Keras' BatchNormalization with its training step in TensorFlow's fused kernel.

    Keras 3 normalises a training batch with separate moments, cast and arithmetic ops
    in float32; TensorFlow's one fused kernel (oneDNN on this CPU) trains the ResNets
    here 1.7 times faster in bfloat16 (docs/speed.md). The parameters, the inference path and
    the saved weights are Keras' own. The one difference is PyTorch's: the moving
    variance is updated with the unbiased batch variance, as ``torch.nn.BatchNorm2d``
    does. Where the kernel does not apply (another backend, inputs that are not NHWC
    images, masks, renorm, synchronised or frozen layers) it is exactly Keras' layer.

    The class keeps Keras' name because Keras keys saved weights by class name: weights
    files and training backups stay interchangeable with models built on Keras' layer.
    """

    FUSED_DTYPES = ("float16", "bfloat16", "float32")

    def _fusable(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4
                and self.axis in (-1, 3) and mask is None and not self.renorm
                and not self.synchronized and self.trainable
                and keras.backend.standardize_dtype(inputs.dtype) in self.FUSED_DTYPES)

    def call(self, inputs, training=None, mask=None):
        if not (training and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        scale = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        offset = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, scale, offset, epsilon=self.epsilon, data_format="NHWC",
            is_training=True)
        for moving, batch_value in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(moving * self.momentum + batch_value * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)


def batch_norm(x, name, scale=True):
    """PyTorch-parity BN; ``scale=False`` drops gamma (for a BN whose next op is linear,
    which can absorb a per-channel scale)."""
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, scale=scale,
                              name=name)(x)


def bn_relu(x, name):
    """Pre-activation: BN then ReLU, named ``{name}_bn`` and ``{name}_relu``."""
    x = batch_norm(x, f"{name}_bn")
    return layers.ReLU(name=f"{name}_relu")(x)


def dense_initializer():
    """Uniform(+-1/sqrt(fan_in)), as ``torch.nn.Linear``'s (and ``nn.Conv2d``'s) default
    weight init."""
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


def dense(x, units, name, initialisation="spec"):
    """A dense layer: ``torch.nn.Linear``'s kernel rule and a zero bias (``spec``), or
    its bias rule too (``torch``)."""
    check_initialisation(initialisation)
    initializers = torch_initializers(x.shape[-1]) if initialisation == "torch" else {
        "kernel_initializer": dense_initializer(), "bias_initializer": "zeros"}
    return layers.Dense(units, name=name, **initializers)(x)


def classifier_head(x, num_classes, pre_activation=False):
    """Global average pool and a dense layer to logits; optionally BN-ReLU first
    (pre-activation networks end with one)."""
    if pre_activation:
        x = bn_relu(x, "head")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return dense(x, num_classes, name="logits")


def check_positive_ints(name, values, length=None):
    """Validates a width list; errors quote what was received."""
    values = tuple(values)
    if length is not None and len(values) != length:
        raise ValueError(f"{name} needs {length} values; received {values}.")
    if not values or any(int(v) != v or v < 1 for v in values):
        raise ValueError(f"{name} must be positive integers; received {values}.")
    return tuple(int(v) for v in values)


@tf.custom_gradient
def _shake(x1, x2, alpha, beta):
    """Forward mixes with ``alpha``; backward splits the gradient with ``beta``."""

    def grad(upstream):
        return (upstream * beta, upstream * (1.0 - beta),
                tf.zeros_like(alpha), tf.zeros_like(beta))

    return alpha * x1 + (1.0 - alpha) * x2, grad


@keras.saving.register_keras_serializable(package="fmnist_keras")
class ShakeShake(layers.Layer):
    """Shake-Shake mixing of two branches (Gastaldi 2017), "Shake-Shake-Image".

    In training: ``y = a * x1 + (1 - a) * x2`` with ``a ~ U[0, 1)`` drawn per image,
    while the backward pass uses an independent per-image ``b``:
    ``dy/dx1 = b``, ``dy/dx2 = 1 - b``. At inference: ``y = (x1 + x2) / 2``.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        x1, x2 = inputs
        if not training:
            return 0.5 * (x1 + x2)
        shape = (tf.shape(x1)[0], 1, 1, 1)
        alpha = tf.cast(keras.random.uniform(shape, seed=self.seed_generator), x1.dtype)
        beta = tf.cast(keras.random.uniform(shape, seed=self.seed_generator), x1.dtype)
        return _shake(x1, x2, alpha, beta)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="fmnist_keras")
class ChannelZeroPad(layers.Layer):
    """Appends ``channels`` all-zero channels: the parameter-free shortcut of a residual
    block that widens (He et al. 2016, option A), which Keras' padding layers, spatial
    only, do not offer."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, inputs):
        return keras.ops.pad(inputs, [[0, 0], [0, 0], [0, 0], [0, self.channels]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="fmnist_keras")
class ChannelShuffle(layers.Layer):
    """ShuffleNet's channel shuffle (Zhang et al. 2018): channel ``g * n + i`` of
    ``groups`` groups of ``n`` moves to ``i * groups + g``, so the next grouped
    convolution's groups each see every previous group. No parameters."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        x = keras.ops.reshape(inputs, (-1, height, width, self.groups, channels // self.groups))
        x = keras.ops.transpose(x, (0, 1, 2, 4, 3))
        return keras.ops.reshape(x, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
