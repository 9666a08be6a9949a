"""BasicBlock ResNets of the goal notes (ResNet-14-like, ResNet-14, ResNet-18) and the
speed runs' ResNet-8 (one block per stage of ResNet-14-like's widths)."""

from __future__ import annotations

import keras
from keras import layers

from fmnist_keras.models.layers import (
    batch_norm,
    check_positive_ints,
    classifier_head,
    conv,
)
from fmnist_keras.models.registry import register_family, register_presets


def basic_block(x, filters, strides, name):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU. The shortcut is
    a 1x1 conv + BN projection when the shape changes, else identity."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv(x, filters, 1, strides=strides, padding=0, name=f"{name}_0_conv")
        shortcut = batch_norm(shortcut, f"{name}_0_bn")
    x = conv(x, filters, 3, strides=strides, name=f"{name}_1_conv")
    x = batch_norm(x, f"{name}_1_bn")
    x = layers.ReLU(name=f"{name}_1_relu")(x)
    x = conv(x, filters, 3, name=f"{name}_2_conv")
    x = batch_norm(x, f"{name}_2_bn")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.ReLU(name=f"{name}_out")(x)


def stack(x, filters, blocks, strides, name):
    """``blocks`` basic blocks; the first one carries the stride."""
    for index in range(1, blocks + 1):
        x = basic_block(x, filters, strides if index == 1 else 1, name=f"{name}_block{index}")
    return x


@register_family("resnet")
def resnet(input_shape=(28, 28, 1), num_classes=10, widths=(32, 64, 128), blocks_per_stage=2,
           stem_width=None, stem_pool=False, name="resnet"):
    """Args:
        widths: filters per stage; every stage after the first halves the map.
        blocks_per_stage: basic blocks per stage (an int, or one per stage).
        stem_width: the stem convolution's filters (default ``widths[0]``); 18 for a
            patch-whitening stem (``--patch-whitening``: both signs of the 9
            eigenvectors of 3x3 patches). The first block then projects its shortcut.
        stem_pool: max-pool 2x2 after the stem, as airbench pools right after its
            whitening layer: every stage then runs at half the resolution, a quarter of
            the multiply-adds and memory traffic per channel.
    """
    widths = check_positive_ints("widths", widths)
    if isinstance(blocks_per_stage, int):
        blocks_per_stage = (blocks_per_stage,) * len(widths)
    blocks_per_stage = check_positive_ints("blocks_per_stage", blocks_per_stage, len(widths))
    inputs = keras.Input(input_shape, name="image")
    stem_width = check_positive_ints("stem_width", [stem_width or widths[0]])[0]
    x = conv(inputs, stem_width, 3, name="stem_conv")
    x = batch_norm(x, "stem_bn")
    x = layers.ReLU(name="stem_relu")(x)
    if stem_pool:
        x = layers.MaxPooling2D(2, name="stem_pool")(x)
    for index, (filters, blocks) in enumerate(zip(widths, blocks_per_stage), start=1):
        x = stack(x, filters, blocks, strides=1 if index == 1 else 2, name=f"stage{index}")
    return keras.Model(inputs, classifier_head(x, num_classes), name=name)


register_presets(resnet, {
    "resnet8": {"widths": (32, 64, 128), "blocks_per_stage": 1},   # the speed runs'
    "resnet14s": {"widths": (32, 64, 128)},
    "resnet14": {"widths": (64, 128, 256)},
    "resnet18": {"widths": (64, 128, 256, 512)},
})
