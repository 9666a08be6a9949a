import re

import pytest

from fmnist_keras.models import build_model
from fmnist_keras.models.analysis import multiply_adds, parameter_counts, receptive_field_table
from fmnist_keras.models.mnist_net import decode_block


def test_the_default_plan_is_the_4k_net_and_mnist_net_is_a_plan():
    planned = build_model("mnist_plan")
    assert parameter_counts(planned).total == 3962        # mnist_4k's count
    fixed = build_model("mnist_net", channels=(8, 16, 12, 20, 24, 26, 26), separable=True)
    assert [(layer.name, layer.output.shape) for layer in planned.layers] == \
        [(layer.name, layer.output.shape) for layer in fixed.layers]


def test_blocks_take_their_kernel_padding_and_kind():
    assert decode_block("s24_k5_same") == {"kind": "s", "channels": 24, "kernel": 5,
                                           "same": True}
    assert decode_block("t12") == {"kind": "t", "channels": 12, "kernel": 1, "same": False}
    model = build_model("mnist_plan", plan=("c8", "p", "s20_k5", "c16_same", "t10", "p"))
    depthwise = model.get_layer("conv2")
    assert tuple(depthwise.depthwise_kernel.shape) == (5, 5, 8, 1)
    assert tuple(depthwise.pointwise_kernel.shape) == (1, 1, 8, 20)
    assert model.get_layer("conv2").output.shape[1:] == (9, 9, 20)    # 26 -> pool 13 -> 9
    assert model.get_layer("conv3").output.shape[1:] == (9, 9, 16)    # same padding
    assert model.get_layer("pool2").output.shape[1:] == (4, 4, 10)
    assert "conv4_bn" not in [layer.name for layer in model.layers]   # the transition
    assert model.get_layer("conv5").kernel.shape == (1, 1, 10, 10)    # the head


@pytest.mark.parametrize("plan, message", [
    (("c8", "x4"), "Unknown block 'x4'"),
    (("c8_k4",), "even kernel"),
    (("p", "p"), "no convolution"),
    (("c8_k9", "p", "c8_k9", "c8_k5"), "'c8_k5' would shrink the 2x2 maps to -2x-2; pad it "
                                        "(c8_k5_same)"),
    (("c8_k9", "p", "c8_k9", "p", "p"), "'p' would shrink the 1x1 maps to 0x0; remove"),
])
def test_bad_plans_say_which_block_and_the_fix(plan, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model("mnist_plan", plan=plan)


def test_separable_blocks_count_in_the_receptive_field_table():
    channels = (8, 16, 12, 20, 24, 26, 26)
    separable = receptive_field_table(build_model("mnist_net", channels=channels,
                                                  separable=True))
    plain = receptive_field_table(build_model("mnist_net", channels=channels))
    assert separable.equals(plain)


def test_a_separable_block_costs_its_depthwise_and_pointwise_multiply_adds():
    plain = multiply_adds(build_model("mnist_plan", plan=("c8", "c16")))
    separable = multiply_adds(build_model("mnist_plan", plan=("c8", "s16")))
    head = 16 * 10                                        # the 1x1 conv after the pool
    assert plain == 26 * 26 * 8 * 9 + 24 * 24 * 16 * 9 * 8 + head
    assert separable == 26 * 26 * 8 * 9 + 24 * 24 * 8 * (9 + 16) + head
