"""What a model costs: parameter counts, storage, multiply-adds, receptive fields."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from keras import layers

BYTES_PER_FLOAT32 = 4


@dataclasses.dataclass(frozen=True)
class ParameterCounts:
    """Trainable parameters are what the references report; ``total`` is Keras'
    ``count_params()`` (BN moving statistics included); storage is decimal MB of
    float32 weights, the goal notes' "#Params" column (688,138 x 4 B = 2.75 MB)."""

    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def storage_mb(self) -> float:
        return self.trainable * BYTES_PER_FLOAT32 / 1e6

    @property
    def total_storage_mb(self) -> float:
        return self.total * BYTES_PER_FLOAT32 / 1e6

    def as_dict(self) -> dict:
        return {"trainable_params": self.trainable, "total_params": self.total,
                "storage_mb": round(self.storage_mb, 4),
                "total_storage_mb": round(self.total_storage_mb, 4)}


def parameter_counts(model) -> ParameterCounts:
    def count(weights):
        return int(sum(np.prod(weight.shape) for weight in weights))

    return ParameterCounts(count(model.trainable_weights), count(model.non_trainable_weights))


# The convolutions the tables read (separable and depthwise ones are not Keras Conv2Ds).
CONVOLUTIONS = (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D)


def layer_calls(model):
    """``(layer, input shape, output shape)`` for every call of a layer in a functional
    model, in the order they run: a layer applied several times (a shared, repeated
    block) appears once per application, where ``model.layers`` lists it once."""
    nodes = model._nodes_by_depth    # Keras' own topological order of the graph's calls
    for depth in sorted(nodes, reverse=True):
        for node in nodes[depth]:
            if node.input_tensors:
                yield (node.operation, node.input_tensors[0].shape,
                       node.output_tensors[0].shape)


def multiply_adds(model) -> int:
    """Multiply-accumulates per image of the convolution and dense layers, each call
    counted (BN, ReLU, pooling and additions are not, as is usual for "FLOPs" tables)."""
    total = 0
    for layer, input_shape, output_shape in layer_calls(model):
        if isinstance(layer, CONVOLUTIONS):
            _, out_h, out_w, out_c = output_shape
            kernel_h, kernel_w = layer.kernel_size
            c_in = input_shape[-1]
            if isinstance(layer, layers.SeparableConv2D):   # depthwise, then pointwise
                total += out_h * out_w * c_in * (kernel_h * kernel_w + out_c)
            elif isinstance(layer, layers.DepthwiseConv2D):
                total += out_h * out_w * out_c * kernel_h * kernel_w
            else:                           # each output sees its group's inputs only
                total += out_h * out_w * out_c * kernel_h * kernel_w * c_in // layer.groups
        elif isinstance(layer, layers.Dense):
            total += input_shape[-1] * layer.units
    return int(total)


def is_chain(model) -> bool:
    """True when no layer has several inputs (no residual adds or concatenations)."""
    return not any(isinstance(layer.input, (list, tuple)) for layer in model.layers[1:])


def receptive_field_table(model) -> pd.DataFrame:
    """The MNIST reference's receptive-field table for a chain of convs and pools.

    One row per convolution or pooling layer: input size, kernel x stride, padding,
    channels in/out, output size and receptive field. A global average pool is a
    kernel as large as its input. The receptive field is capped at the image size,
    as the reference writes it (28 at the end of ``mnist_base``, not 32).

    Raises:
        ValueError: for a model with branches, where one number per layer is meaningless.
    """
    if not is_chain(model):
        raise ValueError(f"{model.name} has branches (adds or concatenations); the "
                         "receptive-field table needs a chain of convolutions and pools.")
    image_size = model.input.shape[1]
    receptive_field, jump, pending_padding = 1, 1, 0
    rows = []
    for layer, input_shape, output_shape in layer_calls(model):
        if isinstance(layer, layers.ZeroPadding2D):
            pending_padding = layer.padding[0][0]
            continue
        if isinstance(layer, CONVOLUTIONS):
            kernel, stride = layer.kernel_size[0], layer.strides[0]
            padding = (kernel - 1) // 2 if layer.padding == "same" else pending_padding
        elif isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
            kernel, stride, padding = layer.pool_size[0], layer.strides[0], 0
        elif isinstance(layer, layers.GlobalAveragePooling2D):
            kernel, stride, padding = input_shape[1], 1, 0
        else:
            continue
        pending_padding = 0
        receptive_field = min(receptive_field + (kernel - 1) * jump, image_size)
        jump *= stride
        rows.append({
            "layer": layer.name,
            "input_size": input_shape[1],
            "kernel_x_stride": f"{kernel} x {stride}",
            "padding": padding,
            "channels_in": input_shape[-1],
            "channels_out": output_shape[-1],
            "output_size": 1 if len(output_shape) == 2 else output_shape[1],
            "receptive_field": receptive_field,
        })
    return pd.DataFrame(rows)
