"""Pre-activation Wide ResNet (Zagoruyko & Komodakis), as in pytorch_image_classification."""

from __future__ import annotations

import keras
from keras import layers

from fmnist_keras.models.layers import (
    bn_relu,
    check_positive_ints,
    classifier_head,
    conv,
)
from fmnist_keras.models.registry import register_family, register_presets


def wide_block(x, filters, strides, name):
    """BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3. When the shape changes, the 1x1
    projection shortcut takes the pre-activated input; otherwise the raw input is added."""
    preactivated = bn_relu(x, f"{name}_1")
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv(preactivated, filters, 1, strides=strides, padding=0,
                        name=f"{name}_0_conv")
    else:
        shortcut = x
    y = conv(preactivated, filters, 3, strides=strides, name=f"{name}_1_conv")
    y = bn_relu(y, f"{name}_2")
    y = conv(y, filters, 3, name=f"{name}_2_conv")
    return layers.Add(name=f"{name}_add")([shortcut, y])


@register_family("wide_resnet")
def wide_resnet(input_shape=(28, 28, 1), num_classes=10, depth=28, widen_factor=10,
                base_widths=(16, 32, 64), stem_width=16, name="wide_resnet"):
    """Args:
        depth: 6n + 4 layers, n blocks per stage.
        widen_factor: multiplies ``base_widths``.
        base_widths: per-stage widths before widening (stage strides 1, 2, 2, ...).
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"depth must be 6n + 4 with n >= 1; received {depth}.")
    base_widths = check_positive_ints("base_widths", base_widths)
    blocks = (depth - 4) // 6
    inputs = keras.Input(input_shape, name="image")
    x = conv(inputs, stem_width, 3, name="stem_conv")
    for stage, base in enumerate(base_widths, start=1):
        for index in range(1, blocks + 1):
            strides = 2 if stage > 1 and index == 1 else 1
            x = wide_block(x, base * widen_factor, strides, name=f"stage{stage}_block{index}")
    return keras.Model(inputs, classifier_head(x, num_classes, pre_activation=True), name=name)


register_presets(wide_resnet, {"wrn28_10": {"depth": 28, "widen_factor": 10}})
