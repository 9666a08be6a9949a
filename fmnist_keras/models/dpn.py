"""The reference's "DualPathNet" (pytorch_image_classification): pre-activation
residual stage entries with a dense side path, then blocks that add into the
residual channels and append ``growth`` new channels. Not the paper's grouped-conv
DPN."""

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


def stage_entry(x, filters, growth, strides, name):
    """Residual path on the pre-activated input plus a dense path (3x3 conv, 2 x growth)
    on the raw input; output ``filters + 2 * growth`` channels."""
    preactivated = bn_relu(x, f"{name}_1")
    y = conv(preactivated, filters, 3, strides=strides, name=f"{name}_1_conv")
    y = bn_relu(y, f"{name}_2")
    y = conv(y, filters, 3, name=f"{name}_2_conv")
    shortcut = conv(preactivated, filters, 1, strides=strides, padding=0,
                    name=f"{name}_0_conv")
    residual = layers.Add(name=f"{name}_add")([shortcut, y])
    dense_path = conv(x, 2 * growth, 3, strides=strides, name=f"{name}_dense_conv")
    return layers.Concatenate(name=f"{name}_concat")([residual, dense_path])


def dual_path_block(x, filters, growth, name):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 to ``filters + growth``; the first ``filters``
    channels add to the input's residual part, the rest are appended."""
    y = bn_relu(x, f"{name}_1")
    y = conv(y, filters + growth, 3, name=f"{name}_1_conv")
    y = bn_relu(y, f"{name}_2")
    y = conv(y, filters + growth, 3, name=f"{name}_2_conv")
    residual = layers.Add(name=f"{name}_add")([x[..., :filters], y[..., :filters]])
    return layers.Concatenate(name=f"{name}_concat")(
        [residual, x[..., filters:], y[..., filters:]])


@register_family("dual_path_net")
def dual_path_net(input_shape=(28, 28, 1), num_classes=10, blocks=(4, 4, 4),
                  filters=(160, 320, 640), growth=(16, 32, 64), stem_width=16,
                  name="dual_path_net"):
    """Args:
        blocks: per stage, the entry block plus ``blocks - 1`` dual-path blocks.
        filters: residual channels per stage (strides 1, 2, 2, ...).
        growth: dense channels per stage; the entry adds 2x, each block 1x.
    """
    blocks = check_positive_ints("blocks", blocks)
    filters = check_positive_ints("filters", filters, len(blocks))
    growth = check_positive_ints("growth", growth, len(blocks))
    inputs = keras.Input(input_shape, name="image")
    x = conv(inputs, stem_width, 3, name="stem_conv")
    for stage, (count, width, grow) in enumerate(zip(blocks, filters, growth), start=1):
        x = stage_entry(x, width, grow, 1 if stage == 1 else 2, name=f"stage{stage}_block1")
        for index in range(2, count + 1):
            x = dual_path_block(x, width, grow, name=f"stage{stage}_block{index}")
    return keras.Model(inputs, classifier_head(x, num_classes, pre_activation=True), name=name)


register_presets(dual_path_net, {"dpn28_10": {}})
