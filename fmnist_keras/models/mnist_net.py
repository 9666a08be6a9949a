"""The under-8k-parameter MNIST nets (mnist_under_8k_params, Models 1-3): a chain of
bias-free convolutions with one max pool, a 1x1 transition, and a 1x1 conv after the
global average pool as the classifier."""

from __future__ import annotations

import keras
from keras import layers

from fmnist_keras.models.layers import batch_norm as batch_norm_layer
from fmnist_keras.models.layers import check_positive_ints, conv, conv_initializer
from fmnist_keras.models.registry import register_family, register_presets

DEFAULT_CHANNELS = (8, 16, 8, 12, 12, 16, 16)


def separable_conv(x, filters, kernel_size, padding, name):
    """A depthwise ``kernel_size`` conv then a pointwise one, both bias-free (Keras'
    SeparableConv2D): ``k*k*c_in + c_in*c_out`` weights instead of ``k*k*c_in*c_out``."""
    return layers.SeparableConv2D(
        filters, kernel_size, padding="same" if 2 * padding == kernel_size - 1 else "valid",
        use_bias=False, depthwise_initializer=conv_initializer(),
        pointwise_initializer=conv_initializer(), name=name)(x)


def conv_block(x, filters, kernel_size, padding, name, batch_norm, dropout, separable=False):
    """Conv-ReLU, then BN and Dropout (after the ReLU, as the reference orders them)."""
    if separable:
        x = separable_conv(x, filters, kernel_size, padding, name)
    else:
        x = conv(x, filters, kernel_size, padding=padding, name=name)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if batch_norm:
        x = batch_norm_layer(x, f"{name}_bn")
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


@register_family("mnist_net")
def mnist_net(input_shape=(28, 28, 1), num_classes=10, channels=DEFAULT_CHANNELS,
              batch_norm=True, dropout=0.0, separable=False, name="mnist_net"):
    """Args:
        channels: outputs of conv1..conv7: two 3x3 convs, (pool), the 1x1 transition
            conv3, then four 3x3 convs (conv7 padded to keep 6x6).
        batch_norm: BN after the ReLU of every 3x3 block (not the transition).
        dropout: rate after every 3x3 block (0 disables).
        separable: the 3x3 blocks after conv1 are depthwise-separable (a
            depthwise 3x3 then a 1x1 conv), which buys about three times the width
            for the same parameters.
    """
    channels = check_positive_ints("channels", channels, len(DEFAULT_CHANNELS))
    block = dict(batch_norm=batch_norm, dropout=dropout)
    inputs = keras.Input(input_shape, name="image")
    x = conv_block(inputs, channels[0], 3, 0, "conv1", **block)
    block_3x3 = dict(block, separable=separable)
    x = conv_block(x, channels[1], 3, 0, "conv2", **block_3x3)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = conv_block(x, channels[2], 1, 0, "conv3", batch_norm=False, dropout=0)
    x = conv_block(x, channels[3], 3, 0, "conv4", **block_3x3)
    x = conv_block(x, channels[4], 3, 0, "conv5", **block_3x3)
    x = conv_block(x, channels[5], 3, 0, "conv6", **block_3x3)
    x = conv_block(x, channels[6], 3, 1, "conv7", **block_3x3)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = conv(x, num_classes, 1, padding=0, name="conv8")
    outputs = layers.Flatten(name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


register_presets(mnist_net, {
    "mnist_base": {"batch_norm": False, "dropout": 0.0},
    "mnist_bn": {"batch_norm": True, "dropout": 0.0},
    "mnist_final": {"batch_norm": True, "dropout": 0.01},
})
