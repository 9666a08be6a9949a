import re

import keras
import numpy as np
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
                                           "same": True, "groups": 1, "repeats": 1,
                                           "residual": False}
    assert decode_block("t12") == {"kind": "t", "channels": 12, "kernel": 1, "same": False,
                                   "groups": 1, "repeats": 1, "residual": False}
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
    (("c8", "s8_x2"), "'s8_x2' repeats its convolution, which needs a size-keeping conv "
                      "block: write s8_same_x2"),
    (("c8", "t8_same_x2"), "write c8_same_x2"),
    (("c8", "s12_same_x2"), "it needs the 8 channels it is given; write s8_same_x2"),
    (("c8", "t8_res"), "'t8_res' is a transition, which has no shortcut"),
    (("c8", "c16_g2"), "'c16_g2' groups a pointwise convolution, which only a separable "
                       "block has; write s16_g2"),
    (("c8", "s15_g2"), "'s15_g2' splits its pointwise convolution into 2 groups, which "
                       "needs its 8 input and 15 output channels divisible by 2"),
    (("c8", "s6_res"), "'s6_res' would add its 8-channel input to 6 channels; a shortcut "
                       "only widens, so give it at least 8 channels"),
])
def test_bad_plans_say_which_block_and_the_fix(plan, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model("mnist_plan", plan=plan)


def test_a_residual_block_adds_its_cropped_zero_padded_input_and_costs_nothing(tmp_path):
    plain = build_model("mnist_plan", plan=("c4", "s6", "s6_same"))
    residual = build_model("mnist_plan", plan=("c4", "s6_res", "s6_same_res"))
    assert parameter_counts(residual).total == parameter_counts(plain).total
    assert residual.get_layer("conv2_add").output.shape[1:] == (24, 24, 6)
    assert decode_block("s6_same_x2_res")["residual"]
    image = np.random.default_rng(0).uniform(0, 1, (1, 28, 28, 1)).astype("float32")
    block_input = keras.Model(residual.input, residual.get_layer("conv1_bn").output)(image)
    branch = keras.Model(residual.input, residual.get_layer("conv2_bn").output)(image)
    summed = keras.Model(residual.input, residual.get_layer("conv2_add").output)(image)
    shortcut = np.pad(np.asarray(block_input)[:, 1:-1, 1:-1, :], [(0, 0)] * 3 + [(0, 2)])
    np.testing.assert_allclose(summed, np.asarray(branch) + shortcut, rtol=1e-6, atol=1e-6)
    residual.save(tmp_path / "residual.keras")          # the padding layer serialises
    loaded = keras.models.load_model(tmp_path / "residual.keras")
    np.testing.assert_allclose(loaded(image), residual(image), rtol=1e-6)


def test_a_grouped_separable_block_splits_its_pointwise_weights_and_shuffles(tmp_path):
    model = build_model("mnist_plan", plan=("c8", "s12_g2", "s12_same_g2_x2"))
    assert tuple(model.get_layer("conv2_pointwise").kernel.shape) == (1, 1, 4, 12)
    ungrouped = build_model("mnist_plan", plan=("c8", "s12", "s12_same_x2"))
    pointwise_saved = 8 * 12 // 2 + 12 * 12 // 2            # half of each c_in x c_out
    assert (parameter_counts(ungrouped).total - parameter_counts(model).total
            == pointwise_saved)
    assert multiply_adds(ungrouped) - multiply_adds(model) == \
        24 * 24 * 8 * 12 // 2 + 2 * 24 * 24 * 12 * 12 // 2   # the shared block runs twice
    # the shuffle interleaves the groups: group 0's channel i goes to 2i, group 1's to 2i+1
    pointwise = keras.Model(model.input, model.get_layer("conv2_pointwise").output)
    shuffled = keras.Model(model.input, model.get_layer("conv2_shuffle").output)
    image = np.random.default_rng(0).uniform(0, 1, (1, 28, 28, 1)).astype("float32")
    before, after = np.asarray(pointwise(image)), np.asarray(shuffled(image))
    np.testing.assert_array_equal(after[..., 0::2], before[..., :6])
    np.testing.assert_array_equal(after[..., 1::2], before[..., 6:])
    model.save(tmp_path / "grouped.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "grouped.keras")(image),
                               model(image), rtol=1e-6)


def test_mnist_net_groups_its_separable_blocks():
    model = build_model("mnist_net", channels=(8, 16, 16, 24, 30, 34, 34), separable=True,
                        groups=2)
    assert parameter_counts(model).total == 3964
    assert "conv7_shuffle" in [layer.name for layer in model.layers]
    with pytest.raises(ValueError, match="add separable=true"):
        build_model("mnist_net", groups=2)


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


def test_a_scale_free_bn_net_computes_what_the_scaled_one_does_with_gamma_folded_forward():
    """Every BN feeds a linear op (through a max pool for conv2's), so a positive gamma
    moves into the next layer's input weights."""
    plan = ("c4", "s6", "p", "t5", "c6_same")
    scaled = build_model("mnist_plan", plan=plan)
    free = build_model("mnist_plan", plan=plan, bn_scale=False)
    bns = ("conv1_bn", "conv2_bn", "conv4_bn")
    assert parameter_counts(scaled).trainable - parameter_counts(free).trainable == 4 + 6 + 6
    assert all(free.get_layer(name).gamma is None for name in bns)
    rng = np.random.default_rng(0)
    for bn in bns:                        # gamma, mean and variance positive; beta any sign
        gamma, beta, mean, variance = (rng.uniform(0.5, 2.0, w.shape)
                                       for w in scaled.get_layer(bn).get_weights())
        scaled.get_layer(bn).set_weights([gamma, rng.normal(size=beta.shape), mean, variance])
    for layer in free.layers:
        if layer.weights and layer.name not in bns:
            layer.set_weights(scaled.get_layer(layer.name).get_weights())
    for bn, after in zip(bns, ("conv2", "conv3", "conv5")):
        gamma, beta, mean, variance = scaled.get_layer(bn).get_weights()
        free.get_layer(bn).set_weights([beta / gamma, mean, variance])
        weights = free.get_layer(after).get_weights()
        weights[0] = weights[0] * gamma[None, None, :, None]   # conv or depthwise kernel
        free.get_layer(after).set_weights(weights)
    images = rng.uniform(0, 1, (3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(free(images, training=False), scaled(images, training=False),
                               rtol=1e-4, atol=1e-4)


def test_a_repeated_block_shares_its_convolution_and_has_a_bn_per_application():
    once = build_model("mnist_plan", plan=("c8", "s8_same"))
    thrice = build_model("mnist_plan", plan=("c8", "s8_same_x3"))
    names = [layer.name for layer in thrice.layers]
    assert names.count("conv2") == 1 and "conv2_repeat2_bn" in names
    shared = thrice.get_layer("conv2")
    assert len(shared._inbound_nodes) == 3                          # applied three times
    # Two more BNs of 8 channels: beta, gamma, mean and variance each.
    assert parameter_counts(thrice).total - parameter_counts(once).total == 2 * 4 * 8
    assert multiply_adds(thrice) - multiply_adds(once) == 2 * 26 * 26 * 8 * (9 + 8)
    table = receptive_field_table(thrice)
    assert table["layer"].tolist() == ["conv1", "conv2", "conv2", "conv2", "gap", "conv3"]
    assert table["receptive_field"].tolist() == [3, 5, 7, 9, 28, 28]


def test_the_activation_follows_every_convolution_but_the_classifier():
    model = build_model("mnist_plan", plan=("c4", "p", "t5", "s5_same_x2"), activation="silu")
    names = [layer.name for layer in model.layers]
    assert [name for name in names if name.endswith("_silu")] == \
        ["conv1_silu", "conv2_silu", "conv3_silu", "conv3_repeat1_silu"]
    assert not any(name.endswith("_relu") for name in names)
    probe = keras.Model(model.input, [model.get_layer("conv1").output,
                                      model.get_layer("conv1_silu").output])
    before, after = probe(np.random.default_rng(0).normal(size=(2, 28, 28, 1)))
    np.testing.assert_allclose(after, before / (1 + np.exp(-before)), rtol=1e-5, atol=1e-6)
