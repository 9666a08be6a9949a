"""DenseNet-BC (Huang et al.), as in pytorch_image_classification: bottleneck layers,
compressed transitions, pre-activation throughout."""

from __future__ import annotations

import keras
from keras import layers

from fmnist_keras.models.layers import bn_relu, classifier_head, conv
from fmnist_keras.models.registry import register_family, register_presets


def bottleneck_layer(x, growth_rate, name):
    """BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k), concatenated to the input."""
    y = bn_relu(x, f"{name}_0")
    y = conv(y, 4 * growth_rate, 1, padding=0, name=f"{name}_1_conv")
    y = bn_relu(y, f"{name}_1")
    y = conv(y, growth_rate, 3, name=f"{name}_2_conv")
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def transition(x, compression, name):
    """BN-ReLU-conv1x1 to ``floor(c * compression)`` channels, then 2x2 average pool."""
    x = bn_relu(x, name)
    x = conv(x, int(x.shape[-1] * compression), 1, padding=0, name=f"{name}_conv")
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


@register_family("densenet")
def densenet(input_shape=(28, 28, 1), num_classes=10, depth=100, growth_rate=12,
             compression=0.5, num_blocks=3, name="densenet"):
    """Args:
        depth: 6n + 4 for the bottleneck variant: n layers per dense block.
        growth_rate: k, channels each layer adds; the stem has 2k.
        compression: transition channel ratio (BC: 0.5).
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"depth must be 6n + 4 with n >= 1; received {depth}.")
    if not 0 < compression <= 1:
        raise ValueError(f"compression must be in (0, 1]; received {compression}.")
    layers_per_block = (depth - 4) // 6
    inputs = keras.Input(input_shape, name="image")
    x = conv(inputs, 2 * growth_rate, 3, name="stem_conv")
    for block in range(1, num_blocks + 1):
        for index in range(1, layers_per_block + 1):
            x = bottleneck_layer(x, growth_rate, name=f"dense{block}_layer{index}")
        if block < num_blocks:
            x = transition(x, compression, name=f"transition{block}")
    return keras.Model(inputs, classifier_head(x, num_classes, pre_activation=True), name=name)


register_presets(densenet, {"densenet_bc100_k12": {"depth": 100, "growth_rate": 12}})
