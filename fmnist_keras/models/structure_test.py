"""What each family's spec says beyond its parameter count, checked on the built graph:
the order inside blocks, what each shortcut consumes, where the strides are, the DPN
split, no ReLU after the Shake-Shake sum. A model with a swapped BN-ReLU-conv order or
a shortcut fed the wrong tensor keeps its count; these tests do not pass it."""

import numpy as np
import pytest

from fmnist_keras.models import build_model
from fmnist_keras.testing import probe, producers

IMAGES = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype("float32")


def relu(x):
    return np.maximum(x, 0.0)


def spatial(model, name):
    return model.get_layer(name).output.shape[1]


def test_resnet_basic_block_order_shortcuts_and_strides():
    model = build_model("resnet", widths=(8, 16, 32))
    block = "stage2_block1"
    assert producers(model, f"{block}_1_bn") == [f"{block}_1_conv"]       # conv -> BN
    assert producers(model, f"{block}_1_relu") == [f"{block}_1_bn"]       # BN -> ReLU
    assert producers(model, f"{block}_2_conv") == [f"{block}_1_relu"]
    assert producers(model, f"{block}_0_conv") == ["stage1_block2_out"]  # projection: block input
    assert producers(model, f"{block}_add") == [f"{block}_0_bn", f"{block}_2_bn"]
    assert producers(model, "stage1_block2_add") == ["stage1_block1_out", "stage1_block2_2_bn"]
    assert (spatial(model, "stage1_block2_out"), spatial(model, f"{block}_1_conv"),
            spatial(model, f"{block}_2_conv"), spatial(model, "stage3_block1_1_conv")) == \
        (28, 14, 14, 7)                              # stride 2 in each stage's first conv
    values = probe(model, [f"{block}_0_bn", f"{block}_2_bn", f"{block}_out"], IMAGES)
    np.testing.assert_allclose(values[f"{block}_out"],
                               relu(values[f"{block}_0_bn"] + values[f"{block}_2_bn"]),
                               atol=1e-5)           # ReLU after the sum


def test_resnet_stem_pool_halves_every_stage_after_the_stem():
    model = build_model("resnet8", stem_width=18, stem_pool=True)
    assert producers(model, "stem_pool") == ["stem_relu"]
    assert producers(model, "stage1_block1_1_conv") == ["stem_pool"]
    assert (spatial(model, "stem_conv"), spatial(model, "stage1_block1_out"),
            spatial(model, "stage3_block1_out")) == (28, 14, 4)
    values = probe(model, ["stem_relu", "stem_pool"], IMAGES)
    np.testing.assert_allclose(values["stem_pool"][:, 0, 0],
                               values["stem_relu"][:, :2, :2].max(axis=(1, 2)))


def test_wide_resnet_is_pre_activation_with_the_spec_s_shortcuts():
    model = build_model("wide_resnet", depth=10, widen_factor=1, base_widths=(8, 16, 32))
    first, second = "stage1_block1", "stage2_block1"
    assert producers(model, f"{first}_1_bn") == ["stem_conv"]          # no BN-ReLU after stem
    assert producers(model, f"{first}_1_conv") == [f"{first}_1_relu"]  # BN -> ReLU -> conv
    assert producers(model, f"{first}_0_conv") == [f"{first}_1_relu"]  # projection on a
    assert producers(model, f"{second}_0_conv") == [f"{second}_1_relu"]
    assert producers(model, f"{first}_add") == [f"{first}_0_conv", f"{first}_2_conv"]
    assert spatial(model, f"{second}_1_conv") == 14
    deep = build_model("wide_resnet", depth=16, widen_factor=1, base_widths=(8, 16, 32))
    # in == out: the identity adds the raw input, not the pre-activated one
    assert producers(deep, "stage1_block2_add") == ["stage1_block1_add", "stage1_block2_2_conv"]
    assert producers(deep, "head_bn") == ["stage3_block2_add"]


def test_densenet_bottleneck_order_transitions_and_channels():
    model = build_model("densenet_bc100_k12")
    layer = "dense1_layer1"
    assert producers(model, f"{layer}_0_bn") == ["stem_conv"]
    assert producers(model, f"{layer}_1_conv") == [f"{layer}_0_relu"]
    assert producers(model, f"{layer}_1_bn") == [f"{layer}_1_conv"]
    assert producers(model, f"{layer}_2_conv") == [f"{layer}_1_relu"]
    assert producers(model, f"{layer}_concat") == ["stem_conv", f"{layer}_2_conv"]
    assert producers(model, "transition1_pool") == ["transition1_conv"]
    channels = [model.get_layer(name).output.shape[-1] for name in (
        "stem_conv", "dense1_layer16_concat", "transition1_pool", "dense2_layer16_concat",
        "transition2_pool", "dense3_layer16_concat")]
    assert channels == [24, 216, 108, 300, 150, 342]


def test_dpn_entry_paths_and_the_split_of_its_blocks():
    model = build_model("dual_path_net", blocks=(2, 2), filters=(8, 16), growth=(2, 4))
    entry, block = "stage1_block1", "stage1_block2"
    assert producers(model, f"{entry}_1_conv") == [f"{entry}_1_relu"]
    assert producers(model, f"{entry}_0_conv") == [f"{entry}_1_relu"]   # shortcut on a
    assert producers(model, f"{entry}_dense_conv") == ["stem_conv"]     # dense path: raw x
    assert model.get_layer(f"{entry}_concat").output.shape[-1] == 8 + 2 * 2
    values = probe(model, [f"{entry}_concat", f"{block}_2_conv", f"{block}_concat"], IMAGES)
    x, y, out = values[f"{entry}_concat"], values[f"{block}_2_conv"], values[f"{block}_concat"]
    expected = np.concatenate([x[..., :8] + y[..., :8], x[..., 8:], y[..., 8:]], axis=-1)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert out.shape[-1] == 8 + 2 * 2 + 2                 # c + G
    assert spatial(model, "stage2_block1_dense_conv") == 14


def test_shake_shake_has_no_relu_after_the_sum_and_relu_first_branches():
    model = build_model("shake_shake", depth=14, base_width=8)
    block = "stage1_block2"
    assert producers(model, f"{block}_add") == ["stage1_block1_add", f"{block}_shake"]
    assert producers(model, f"{block}_branch1_relu1") == ["stage1_block1_add"]
    assert producers(model, "avg_pool") == ["stage3_block2_add"]        # no final BN-ReLU
    assert producers(model, "stage2_block1_shortcut_relu") == ["stage1_block2_add"]
    values = probe(model, ["stage2_block1_shortcut_conv1", "stage2_block1_shortcut_relu"],
                   IMAGES)
    assert values["stage2_block1_shortcut_conv1"].shape[1] == 14       # even pixels: 28 -> 14


@pytest.mark.parametrize("name", ["mnist_bn", "mnist_final"])
def test_mnist_blocks_put_bn_after_relu_and_none_on_the_transition(name):
    model = build_model(name)
    assert producers(model, "conv1_relu") == ["conv1"]
    assert producers(model, "conv1_bn") == ["conv1_relu"]                # BN after ReLU
    names = {layer.name for layer in model.layers}
    assert "conv3_bn" not in names and "conv8_bn" not in names          # transition, logits
    assert producers(model, "conv8") == ["gap"]
