import numpy as np
import pytest

from fmnist_keras.models import build_model, list_models
from fmnist_keras.models.analysis import (
    multiply_adds,
    parameter_counts,
    receptive_field_table,
)

SPEC_TRAINABLE = {
    "toy_cnn": 688138, "vgg_like": 1075658, "resnet14s": 696042, "resnet14": 2776522,
    "resnet18": 11172810, "wrn28_10": 36478906, "densenet_bc100_k12": 768730,
    "dpn28_10": 47751450, "shake_shake26_2x96d": 26330026, "shake_shake26_2x64d": 11708362,
    "mnist_base": 7704, "mnist_bn": 7864, "mnist_final": 7864,
}
PROJECT_TRAINABLE = {"resnet8": 308074}    # the speed runs' ResNet-8 (not in the spec)


def test_every_spec_model_is_registered():
    assert sorted({**SPEC_TRAINABLE, **PROJECT_TRAINABLE}) == list_models()


@pytest.mark.parametrize("name", sorted({**SPEC_TRAINABLE, **PROJECT_TRAINABLE}))
def test_trainable_count_and_forward_pass(name):
    model = build_model(name)
    assert parameter_counts(model).trainable == {**SPEC_TRAINABLE, **PROJECT_TRAINABLE}[name]
    logits = model(np.random.rand(2, 28, 28, 1).astype("float32"), training=False)
    assert tuple(logits.shape) == (2, 10)
    assert np.isfinite(np.asarray(logits)).all()


def test_keras_total_includes_bn_statistics():
    counts = parameter_counts(build_model("mnist_final"))
    assert (counts.trainable, counts.total) == (7864, 8024)
    assert counts.storage_mb == pytest.approx(7864 * 4 / 1e6)


def test_toy_cnn_storage_is_the_notes_figure():
    assert parameter_counts(build_model("toy_cnn")).storage_mb == pytest.approx(2.75, abs=0.005)


def test_torch_initialisation_draws_kernels_and_biases_within_pytorchs_bounds():
    spec, torch_like = build_model("toy_cnn"), build_model("toy_cnn", initialisation="torch")
    assert parameter_counts(torch_like).trainable == SPEC_TRAINABLE["toy_cnn"]
    for name, fan_in in (("stage2_conv1", 32 * 9), ("fc1", 128 * 3 * 3), ("logits", 512)):
        # kaiming_uniform_(a=sqrt(5)) and the bias rule, in the weights' float32
        bound = np.float32(1 / np.sqrt(fan_in))
        kernel, bias = torch_like.get_layer(name).get_weights()
        assert 0.99 * bound < np.abs(kernel).max() <= bound
        assert kernel.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)
        assert np.abs(bias).max() <= bound and bias.std() > bound / 4
        assert not spec.get_layer(name).get_weights()[1].any()   # the spec's biases are zero
    spec_kernel = spec.get_layer("stage2_conv1").get_weights()[0]
    assert spec_kernel.std() == pytest.approx(np.sqrt(2 / (9 * 64)), rel=0.05)  # He, fan-out
    with pytest.raises(ValueError, match="initialisation='pytorch' is not known; pass one of "
                                         "spec, torch"):
        build_model("toy_cnn", initialisation="pytorch")


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="known architectures: densenet_bc100_k12, dpn28_10"):
        build_model("resnet50")


def test_none_kwargs_do_not_override_presets():
    model = build_model("resnet14s", widths=None)
    assert parameter_counts(model).trainable == SPEC_TRAINABLE["resnet14s"]


def test_half_width_resnet_has_about_a_quarter_of_the_parameters():
    full = parameter_counts(build_model("resnet", widths=(64, 128, 256))).trainable
    half = parameter_counts(build_model("resnet", widths=(32, 64, 128))).trainable
    assert 0.23 < half / full < 0.27


def test_mnist_family_takes_a_channel_list():
    model = build_model("mnist_net", channels=(4, 8, 4, 8, 8, 8, 8))
    conv_weights = 9 * 4 + 9 * 4 * 8 + 8 * 4 + 9 * 4 * 8 + 9 * 64 * 3 + 8 * 10
    bn_weights = 2 * (4 + 8 + 8 + 8 + 8 + 8)
    assert parameter_counts(model).trainable == conv_weights + bn_weights
    with pytest.raises(ValueError, match="channels needs 7 values; received"):
        build_model("mnist_net", channels=(8, 16))


def test_family_depth_and_growth_arguments():
    small = build_model("densenet", depth=10, growth_rate=4)
    assert small.output_shape == (None, 10)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        build_model("wide_resnet", depth=27)


def test_strided_convs_pad_symmetrically():
    model = build_model("resnet14s")
    pads = [layer for layer in model.layers if layer.name.endswith("_1_conv_pad")]
    assert pads and all(layer.padding == ((1, 1), (1, 1)) for layer in pads)


def test_layer_names_follow_blocks():
    names = {layer.name for layer in build_model("resnet14s").layers}
    assert {"stem_conv", "stage2_block1_0_conv", "stage2_block1_1_bn", "stage3_block2_add",
            "logits"} <= names


# The MNIST reference's table for Model 1, row by row (layer, input size, kernel x
# stride, padding, channels in, out, output size, receptive field). The reference
# writes "3 x 1" as the kernel of its GAP row; a global average pool over a 6x6 map
# is a 6x6 kernel, which is what gives its receptive field of 28.
REFERENCE_TABLE = [
    ("conv1", 28, "3 x 1", 0, 1, 8, 26, 3),
    ("conv2", 26, "3 x 1", 0, 8, 16, 24, 5),
    ("pool1", 24, "2 x 2", 0, 16, 16, 12, 6),
    ("conv3", 12, "1 x 1", 0, 16, 8, 12, 6),
    ("conv4", 12, "3 x 1", 0, 8, 12, 10, 10),
    ("conv5", 10, "3 x 1", 0, 12, 12, 8, 14),
    ("conv6", 8, "3 x 1", 0, 12, 16, 6, 18),
    ("conv7", 6, "3 x 1", 1, 16, 16, 6, 22),
    ("gap", 6, "6 x 1", 0, 16, 16, 1, 28),
    ("conv8", 1, "1 x 1", 0, 16, 10, 1, 28),
]


def test_mnist_base_receptive_field_table_matches_reference():
    table = receptive_field_table(build_model("mnist_base"))
    rows = [tuple(row) for row in table.itertuples(index=False)]
    assert rows == REFERENCE_TABLE


def test_receptive_field_table_refuses_branching_models():
    with pytest.raises(ValueError, match="has branches"):
        receptive_field_table(build_model("resnet14s"))


def test_multiply_adds_of_toy_cnn():
    expected = (28 * 28 * 32 * 9 * 1 + 14 * 14 * 64 * 9 * 32 + 7 * 7 * 128 * 9 * 64
                + 1152 * 512 + 512 * 10)
    assert multiply_adds(build_model("toy_cnn")) == expected


def _bn_pair(x):
    """Keras' BatchNormalization and ours, built alike with the same scale and offset."""
    import keras

    from fmnist_keras.models.layers import BatchNormalization

    pair = (keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
            BatchNormalization(momentum=0.9, epsilon=1e-5))
    for layer in pair:
        layer.build(x.shape)
        layer.gamma.assign([1.5, 0.5, 2.0])
        layer.beta.assign([0.1, -0.2, 0.3])
    return pair


def test_fused_batch_norm_trains_like_keras_and_updates_variance_like_pytorch():
    import tensorflow as tf

    x = tf.constant(np.random.RandomState(0).randn(4, 5, 5, 3).astype("float32") * 3 + 1)
    keras_bn, fused_bn = _bn_pair(x)
    weights = tf.range(3.0)  # a loss that weighs channels differently
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs = [layer(x, training=True) for layer in (keras_bn, fused_bn)]
        losses = [tf.reduce_sum(y * weights) for y in outputs]
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
    keras_grads, fused_grads = (tape.gradient(loss, [x, layer.gamma, layer.beta])
                                for layer, loss in zip((keras_bn, fused_bn), losses))
    for ours, theirs in zip(fused_grads, keras_grads):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    np.testing.assert_allclose(fused_bn.moving_mean, keras_bn.moving_mean, atol=1e-6)
    n = 4 * 5 * 5  # Keras updates with the biased variance, PyTorch (and we) unbiased
    np.testing.assert_allclose(np.asarray(fused_bn.moving_variance) - 0.9,
                               (np.asarray(keras_bn.moving_variance) - 0.9) * n / (n - 1),
                               rtol=1e-5)


def test_fused_batch_norm_keeps_bfloat16_and_saves(tmp_path):
    import keras
    import tensorflow as tf

    from fmnist_keras.models.layers import BatchNormalization

    model = build_model("resnet14s", widths=[4, 4, 4])
    assert any(isinstance(layer, BatchNormalization) for layer in model.layers)
    model.save(tmp_path / "m.keras")
    images = np.random.RandomState(1).rand(2, 28, 28, 1).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(images),
                               model(images), atol=1e-6)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        outputs = BatchNormalization()(tf.ones([2, 3, 3, 4], tf.bfloat16), training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert outputs.dtype == tf.bfloat16


def test_separable_mnist_blocks_are_depthwise_then_pointwise():
    channels = (8, 16, 12, 20, 22, 24, 26)
    model = build_model("mnist_net", channels=channels, separable=True)
    for index in (2, 4, 5, 6, 7):
        layer = model.get_layer(f"conv{index}")
        c_in, c_out = layer.input.shape[-1], channels[index - 1]
        assert type(layer).__name__ == "SeparableConv2D"
        assert tuple(layer.depthwise_kernel.shape) == (3, 3, c_in, 1)
        assert tuple(layer.pointwise_kernel.shape) == (1, 1, c_in, c_out)
    assert type(model.get_layer("conv1")).__name__ == "Conv2D"      # one input channel
    assert type(model.get_layer("conv3")).__name__ == "Conv2D"      # the 1x1 transition
    assert model.get_layer("conv7").output.shape[1:3] == (6, 6)     # padded, as the plain net
    plain = build_model("mnist_net", channels=channels)
    assert [layer.output.shape for layer in model.layers] == \
        [layer.output.shape for layer in plain.layers]
    assert parameter_counts(model).trainable == 3490
