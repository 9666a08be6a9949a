"""ResNet with Shake-Shake regularisation (Gastaldi 2017), "Shake-Shake-Image", as in
pytorch_image_classification: two residual branches mixed by `ShakeShake`."""

from __future__ import annotations

import keras
from keras import layers

from fmnist_keras.models.layers import ShakeShake, batch_norm, classifier_head, conv
from fmnist_keras.models.registry import register_family, register_presets


def shake_branch(x, filters, strides, name):
    """ReLU-conv3x3(stride)-BN-ReLU-conv3x3-BN."""
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = conv(x, filters, 3, strides=strides, name=f"{name}_conv1")
    x = batch_norm(x, f"{name}_bn1")
    x = layers.ReLU(name=f"{name}_relu2")(x)
    x = conv(x, filters, 3, name=f"{name}_conv2")
    return batch_norm(x, f"{name}_bn2")


def skip_shortcut(x, filters, name):
    """The stride-2 shortcut: two 1x1 convs of half the output width each, one on the
    even pixels and one on the grid shifted by one pixel, concatenated, then BN."""
    in_channels = x.shape[-1]
    if filters != 2 * in_channels:
        raise ValueError(f"{name}: the shortcut doubles channels; received "
                         f"{in_channels} -> {filters}.")
    x = layers.ReLU(name=f"{name}_relu")(x)
    even = layers.AveragePooling2D(1, strides=2, name=f"{name}_even")(x)
    shifted = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_shift_pad")(x[:, 1:, 1:, :])
    odd = layers.AveragePooling2D(1, strides=2, name=f"{name}_odd")(shifted)
    path1 = conv(even, in_channels, 1, padding=0, name=f"{name}_conv1")
    path2 = conv(odd, in_channels, 1, padding=0, name=f"{name}_conv2")
    x = layers.Concatenate(name=f"{name}_concat")([path1, path2])
    return batch_norm(x, f"{name}_bn")


def shake_block(x, filters, strides, name, seed=None):
    """shortcut(x) + ShakeShake(branch1(x), branch2(x)); no ReLU after the sum."""
    branch1 = shake_branch(x, filters, strides, f"{name}_branch1")
    branch2 = shake_branch(x, filters, strides, f"{name}_branch2")
    mixed = ShakeShake(seed=seed, name=f"{name}_shake")([branch1, branch2])
    if strides == 1 and x.shape[-1] == filters:
        shortcut = x
    else:
        shortcut = skip_shortcut(x, filters, f"{name}_shortcut")
    return layers.Add(name=f"{name}_add")([shortcut, mixed])


@register_family("shake_shake")
def shake_shake(input_shape=(28, 28, 1), num_classes=10, depth=26, base_width=96, seed=None,
                name="shake_shake"):
    """Args:
        depth: 6n + 2: n blocks in each of the three stages (widths B, 2B, 4B).
        base_width: B, the first stage's width.
        seed: seeds the mixing draws (each block offsets it), for reproducible runs.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1; received {depth}.")
    blocks = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="image")
    x = conv(inputs, base_width, 3, name="stem_conv")
    x = batch_norm(x, "stem_bn")
    x = layers.ReLU(name="stem_relu")(x)
    for stage in range(1, 4):
        for index in range(1, blocks + 1):
            strides = 2 if stage > 1 and index == 1 else 1
            block_seed = None if seed is None else seed + 100 * stage + index
            x = shake_block(x, base_width * 2 ** (stage - 1), strides,
                            name=f"stage{stage}_block{index}", seed=block_seed)
    return keras.Model(inputs, classifier_head(x, num_classes), name=name)


register_presets(shake_shake, {
    "shake_shake26_2x96d": {"depth": 26, "base_width": 96},
    "shake_shake26_2x64d": {"depth": 26, "base_width": 64},
})
