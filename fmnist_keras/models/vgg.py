"""Plain conv-pool stacks with a two-layer dense head: the goal notes' toy CNN
(one conv per stage) and VGG-like network (three convs per stage)."""

from __future__ import annotations

import keras
from keras import layers

from fmnist_keras.models.layers import check_positive_ints, conv, dense
from fmnist_keras.models.registry import register_family, register_presets


def vgg_stage(x, filters, num_convs, name, initialisation="spec"):
    """``num_convs`` x (3x3 conv with bias, ReLU), then a floor-mode 2x2 max pool."""
    for index in range(1, num_convs + 1):
        x = conv(x, filters, 3, use_bias=True, name=f"{name}_conv{index}",
                 initialisation=initialisation)
        x = layers.ReLU(name=f"{name}_relu{index}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


@register_family("vgg")
def vgg(input_shape=(28, 28, 1), num_classes=10, widths=(32, 64, 128), convs_per_stage=1,
        dense_units=512, initialisation="spec", name="vgg"):
    """Args:
        widths: filters of each stage (one 2x2 pool per stage).
        convs_per_stage: 1 is the toy CNN, 3 the VGG-like net.
        dense_units: width of the hidden dense layer.
        initialisation: ``spec`` (the project's rule, `fmnist_keras.models.layers`) or
            ``torch`` (PyTorch's defaults for every layer, kernels and biases: what the
            goal notes' code, which set none, trained from).
    """
    widths = check_positive_ints("widths", widths)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for index, filters in enumerate(widths, start=1):
        x = vgg_stage(x, filters, convs_per_stage, name=f"stage{index}",
                      initialisation=initialisation)
    x = layers.Flatten(name="flatten")(x)
    x = dense(x, dense_units, name="fc1", initialisation=initialisation)
    x = layers.ReLU(name="fc1_relu")(x)
    outputs = dense(x, num_classes, name="logits", initialisation=initialisation)
    return keras.Model(inputs, outputs, name=name)


register_presets(vgg, {
    "toy_cnn": {"widths": (32, 64, 128), "convs_per_stage": 1},
    "vgg_like": {"widths": (32, 64, 128), "convs_per_stage": 3},
})
