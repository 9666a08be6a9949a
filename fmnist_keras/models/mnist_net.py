"""The under-8k-parameter MNIST nets (mnist_under_8k_params, Models 1-3): a chain of
bias-free convolutions with one max pool, a 1x1 transition, and a 1x1 conv after the
global average pool as the classifier.

``mnist_net`` is the references' fixed layout (seven convolutions, the pool after the
second); ``mnist_plan`` builds any chain of the same blocks from a plan of block
strings (timm's architecture strings, in miniature), so a search can move the pool and
the transition, change kernels and mix plain and separable blocks.
"""

from __future__ import annotations

import re

import keras
from keras import layers

from fmnist_keras.models.layers import (
    ChannelShuffle,
    ChannelZeroPad,
    check_positive_ints,
    conv,
    conv2d_layer,
    conv_initializer,
)
from fmnist_keras.models.layers import batch_norm as batch_norm_layer
from fmnist_keras.models.registry import register_family, register_presets

DEFAULT_CHANNELS = (8, 16, 8, 12, 12, 16, 16)


def conv_layer(filters, kernel_size, padding, separable, name, groups=1):
    """A block's bias-free convolution as one callable, so that repeats can share it:
    plain, or depthwise-separable (a depthwise ``kernel_size`` conv then a pointwise one,
    Keras' SeparableConv2D: ``k*k*c_in + c_in*c_out`` weights instead of
    ``k*k*c_in*c_out``). ``padding`` is 0 or size-keeping, where Keras' own padding is
    PyTorch's.

    ``groups`` > 1 (separable only) splits the pointwise conv into that many groups and
    shuffles the channels after it, ShuffleNet's unit: ``c_in*c_out/groups`` pointwise
    weights, the largest term at these widths, so more width fits a budget. Keras'
    SeparableConv2D has no groups, so this form is a DepthwiseConv2D (``{name}_depthwise``),
    a grouped Conv2D (``{name}_pointwise``) and a ``{name}_shuffle``.
    """
    keras_padding = "same" if 2 * padding == kernel_size - 1 else "valid"
    if separable and groups > 1:
        depthwise = layers.DepthwiseConv2D(
            kernel_size, padding=keras_padding, use_bias=False,
            depthwise_initializer=conv_initializer(), name=f"{name}_depthwise")
        pointwise = conv2d_layer(filters, 1, padding="valid", groups=groups,
                                 name=f"{name}_pointwise")
        shuffle = ChannelShuffle(groups, name=f"{name}_shuffle")
        return lambda x: shuffle(pointwise(depthwise(x)))
    if separable:
        return layers.SeparableConv2D(
            filters, kernel_size, padding=keras_padding, use_bias=False,
            depthwise_initializer=conv_initializer(),
            pointwise_initializer=conv_initializer(), name=name)
    return conv2d_layer(filters, kernel_size, padding=keras_padding, name=name)


def conv_block(x, filters, kernel_size, padding, name, batch_norm, dropout, separable=False,
               bn_scale=True, repeats=1, activation="relu", groups=1):
    """Conv-activation (ReLU in the references), then BN and Dropout (after the
    activation, as the reference orders them).

    ``repeats`` > 1 applies the same convolution again to its own output, each time with
    its own activation, BN and Dropout (named ``{name}_repeat1_relu``...): depth for the
    parameters of one more BN, where weights are the budget and compute is not.
    """
    convolution = conv_layer(filters, kernel_size, padding, separable, name, groups)
    for repeat in range(repeats):
        tag = f"{name}_repeat{repeat}" if repeat else name
        x = layers.Activation(activation, name=f"{tag}_{activation}")(convolution(x))
        if batch_norm:
            x = batch_norm_layer(x, f"{tag}_bn", scale=bn_scale)
        if dropout:
            x = layers.Dropout(dropout, name=f"{tag}_dropout")(x)
    return x


@register_family("mnist_net")
def mnist_net(input_shape=(28, 28, 1), num_classes=10, channels=DEFAULT_CHANNELS,
              batch_norm=True, dropout=0.0, separable=False, bn_scale=True, activation="relu",
              residual=False, groups=1, name="mnist_net"):
    """Args:
        channels: outputs of conv1..conv7: two 3x3 convs, (pool), the 1x1 transition
            conv3, then four 3x3 convs (conv7 padded to keep 6x6).
        batch_norm: BN after the activation of every 3x3 block (not the transition).
        dropout: rate after every 3x3 block (0 disables).
        separable: the 3x3 blocks after conv1 are depthwise-separable (a
            depthwise 3x3 then a 1x1 conv), which buys about three times the width
            for the same parameters.
        bn_scale: BN keeps its per-channel scale (gamma). Every BN here feeds a linear
            op (a convolution, the global average pool then the classifier, or the max
            pool then a convolution), which absorbs a positive scale, so False frees
            one parameter per BN channel for width and loses only a negative scale
            before the pool.
        activation: after every convolution but the classifier, a Keras activation
            name: "relu" as the references, or a smooth one ("silu", "gelu"), which
            has no dead units to waste a narrow layer's channels.
        residual: the 3x3 blocks after conv1 add their input to their output (``_res``
            in a plan): depth that trains more easily, for no parameters.
        groups: with ``separable``, the 3x3 blocks after conv1 split their pointwise
            convolution into this many groups and shuffle the channels (``_g2`` in a
            plan); channels from conv1 on must divide by it.
    """
    c = check_positive_ints("channels", channels, len(DEFAULT_CHANNELS))
    k = "s" if separable else "c"
    if groups > 1 and not separable:
        raise ValueError(f"groups={groups} splits the pointwise convolutions of separable "
                         "blocks; add separable=true or use groups=1.")
    tail = (f"_g{groups}" if groups > 1 else "") + ("_res" if residual else "")
    plan = (f"c{c[0]}", f"{k}{c[1]}{tail}", "p", f"t{c[2]}", f"{k}{c[3]}{tail}",
            f"{k}{c[4]}{tail}", f"{k}{c[5]}{tail}", f"{k}{c[6]}_same{tail}")
    return mnist_plan(input_shape, num_classes, plan, batch_norm, dropout, bn_scale,
                      activation, name)


# Block strings: kind and channels, then options separated by "_".
BLOCK_HELP = ("c16 (3x3 conv block), s16 (depthwise-separable block), t16 (1x1 transition, "
              "no BN or dropout), p (2x2 max pool); options _k5 (kernel), _same (padding "
              "that keeps the size), _g2 (a separable block's pointwise conv in 2 groups, "
              "then a channel shuffle), _x2 (the block's convolution applied twice, shared) "
              "and _res (the block's input added to its output), in that order, e.g. "
              "s24_k5_same, s24_g2, s24_same_x2, s24_res")
_BLOCK = re.compile(r"(?P<kind>[cst])(?P<channels>[1-9][0-9]*)(?:_k(?P<kernel>[1-9][0-9]*))?"
                    r"(?P<same>_same)?(?:_g(?P<groups>[1-9][0-9]*))?"
                    r"(?:_x(?P<repeats>[1-9][0-9]*))?(?P<residual>_res)?|(?P<pool>p)")


def decode_block(text: str) -> dict:
    """A block string as ``{"kind", "channels", "kernel", "same", "groups", "repeats",
    "residual"}`` (``kind`` "p" alone for a pool)."""
    match = _BLOCK.fullmatch(str(text))
    if not match:
        raise ValueError(f"Unknown block {text!r} in the plan; blocks are {BLOCK_HELP}.")
    if match["pool"]:
        return {"kind": "p"}
    kernel = int(match["kernel"] or (1 if match["kind"] == "t" else 3))
    if kernel % 2 == 0:
        raise ValueError(f"Block {text!r} has an even kernel; use an odd one (_k3, _k5).")
    repeats = int(match["repeats"] or 1)
    if repeats > 1 and not (match["same"] and match["kind"] != "t"):
        raise ValueError(f"Block {text!r} repeats its convolution, which needs a size-keeping "
                         f"conv block: write {match['kind'].replace('t', 'c')}"
                         f"{match['channels']}_same_x{repeats}.")
    groups = int(match["groups"] or 1)
    if groups > 1 and match["kind"] != "s":
        raise ValueError(f"Block {text!r} groups a pointwise convolution, which only a "
                         f"separable block has; write s{match['channels']}_g{groups}.")
    if match["residual"] and match["kind"] == "t":
        raise ValueError(f"Block {text!r} is a transition, which has no shortcut; write "
                         f"t{match['channels']}, or c{match['channels']}_res.")
    return {"kind": match["kind"], "channels": int(match["channels"]), "kernel": kernel,
            "same": bool(match["same"]), "groups": groups, "repeats": repeats,
            "residual": bool(match["residual"])}


def shortcut_add(block_input, block_output, name: str):
    """``block_output + shortcut(block_input)`` with no parameters: the input centre-cropped
    to a valid convolution's smaller maps and zero-padded to its extra channels (He et
    al.'s option A), so a residual costs nothing of a parameter budget."""
    x = block_input
    crop = (x.shape[1] - block_output.shape[1]) // 2
    if crop:
        x = layers.Cropping2D(crop, name=f"{name}_shortcut_crop")(x)
    extra = block_output.shape[-1] - x.shape[-1]
    if extra:
        x = ChannelZeroPad(extra, name=f"{name}_shortcut_pad")(x)
    return layers.Add(name=f"{name}_add")([block_output, x])


def check_block_fits(text: str, block: dict, size: int, channels: int) -> None:
    """Refuses, naming the fix, a decoded block that cannot take the ``size`` x ``size``
    maps of ``channels`` channels it is given."""
    if block["kind"] == "p":
        if size // 2 < 1:
            raise ValueError(f"Plan block {text!r} would shrink the {size}x{size} maps to "
                             f"{size // 2}x{size // 2}; remove a block before it.")
        return
    if block["repeats"] > 1 and channels != block["channels"]:
        raise ValueError(f"Plan block {text!r} repeats its convolution on its own output, "
                         f"so it needs the {channels} channels it is given; write "
                         f"{block['kind']}{channels}_same_x{block['repeats']} or "
                         "put a block of that width before it.")
    if channels % block["groups"] or block["channels"] % block["groups"]:
        raise ValueError(f"Plan block {text!r} splits its pointwise convolution into "
                         f"{block['groups']} groups, which needs its {channels} input "
                         f"and {block['channels']} output channels divisible by "
                         f"{block['groups']}; change the widths or drop _g{block['groups']}.")
    if block["residual"] and channels > block["channels"]:
        raise ValueError(f"Plan block {text!r} would add its {channels}-channel input "
                         f"to {block['channels']} channels; a shortcut only widens, so "
                         f"give it at least {channels} channels or drop _res.")
    shrunk = size if block["same"] else size - block["kernel"] + 1
    if shrunk < 1:
        raise ValueError(f"Plan block {text!r} would shrink the {size}x{size} maps to "
                         f"{shrunk}x{shrunk}; pad it ({text}_same) or remove a block "
                         "before it.")


def plan_block(x, block: dict, name: str, batch_norm: bool, dropout: float, bn_scale=True,
               activation="relu"):
    """One decoded block: a conv block (plain or separable, with its shortcut if it is
    residual) or a BN-free transition."""
    if block["kind"] == "t":
        return conv_block(x, block["channels"], block["kernel"], 0, name,
                          batch_norm=False, dropout=0, activation=activation)
    padding = block["kernel"] // 2 if block["same"] else 0
    output = conv_block(x, block["channels"], block["kernel"], padding, name, batch_norm,
                        dropout, separable=block["kind"] == "s", bn_scale=bn_scale,
                        repeats=block["repeats"], activation=activation,
                        groups=block["groups"])
    return shortcut_add(x, output, name) if block["residual"] else output


@register_family("mnist_plan")
def mnist_plan(input_shape=(28, 28, 1), num_classes=10,
               plan=("c8", "s16", "p", "t12", "s20", "s24", "s26", "s26_same"),
               batch_norm=True, dropout=0.0, bn_scale=True, activation="relu",
               name="mnist_plan"):
    """Args:
        plan: block strings in order (``BLOCK_HELP``); convolutions are named conv1,
            conv2... and pools pool1, pool2... in the order they come, then the head
            (global average pool, a 1x1 conv to the classes) as in ``mnist_net``. The
            default is ``mnist_4k``'s net.
        batch_norm: BN after the activation of every conv block (not the transitions).
        dropout: rate after every conv block (0 disables).
        bn_scale, activation: as ``mnist_net``'s arguments of the same names.
    """
    blocks = [decode_block(text) for text in plan]
    if not any(block["kind"] != "p" for block in blocks):
        raise ValueError(f"Plan {list(plan)} has no convolution; give at least one block "
                         "such as c8.")
    inputs = keras.Input(input_shape, name="image")
    x, convs, pools = inputs, 0, 0
    for text, block in zip(plan, blocks):
        check_block_fits(text, block, size=x.shape[1], channels=x.shape[-1])
        if block["kind"] == "p":
            pools += 1
            x = layers.MaxPooling2D(2, name=f"pool{pools}")(x)
        else:
            convs += 1
            x = plan_block(x, block, f"conv{convs}", batch_norm, dropout, bn_scale,
                           activation)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = conv(x, num_classes, 1, padding=0, name=f"conv{convs + 1}")
    outputs = layers.Flatten(name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


register_presets(mnist_net, {
    "mnist_base": {"batch_norm": False, "dropout": 0.0},
    "mnist_bn": {"batch_norm": True, "dropout": 0.0},
    "mnist_final": {"batch_norm": True, "dropout": 0.01},
})
