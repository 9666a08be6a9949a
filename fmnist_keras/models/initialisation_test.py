import keras
import numpy as np
import pytest
import tensorflow as tf

from fmnist_keras.data.sources import load_splits
from fmnist_keras.models import build_model
from fmnist_keras.models.initialisation import (
    apply_dirac,
    apply_patch_whitening,
    patch_whitening_kernel,
)


@pytest.fixture(scope="module")
def fashion_images(data_dir):
    splits = load_splits("fashion_mnist", "standard", 0, 0, data_dir, max_train_samples=2000)
    images = splits.x_train.astype(np.float32) / 255.0
    return ((images - splits.info.mean) / splits.info.std)[..., None]


def whitened_second_moment(images, kernel):
    """The second moment of the first half of the filters' outputs over all patches."""
    outputs = tf.nn.conv2d(images, kernel[..., : kernel.shape[-1] // 2], 1, "VALID").numpy()
    flat = outputs.reshape(-1, outputs.shape[-1]).astype(np.float64)
    return flat.T @ flat / len(flat)


def test_whitened_patches_have_identity_covariance(fashion_images):
    kernel = patch_whitening_kernel(fashion_images, 3, epsilon=1e-9)
    assert kernel.shape == (3, 3, 1, 18)
    np.testing.assert_allclose(kernel[..., 9:], -kernel[..., :9])          # both signs
    np.testing.assert_allclose(whitened_second_moment(fashion_images, kernel), np.eye(9),
                               atol=2e-3)
    # The default epsilon damps only the flattest directions; still uncorrelated.
    moment = whitened_second_moment(fashion_images, patch_whitening_kernel(fashion_images, 3))
    np.testing.assert_allclose(moment - np.diag(np.diag(moment)), 0, atol=2e-3)
    assert np.all((np.diag(moment) > 0.8) & (np.diag(moment) <= 1.0 + 1e-3))


def test_a_narrower_stem_keeps_the_largest_directions(fashion_images):
    full = patch_whitening_kernel(fashion_images, 3)
    kernel = patch_whitening_kernel(fashion_images, 3, directions=8)
    assert kernel.shape == (3, 3, 1, 16)
    np.testing.assert_allclose(kernel[..., :8], full[..., :8], rtol=1e-6)
    np.testing.assert_allclose(kernel[..., 8:], -full[..., :8], rtol=1e-6)
    model = build_model("resnet8", stem_width=16)
    np.testing.assert_allclose(apply_patch_whitening(model, fashion_images).kernel.numpy(),
                               patch_whitening_kernel(fashion_images[:5000], 3, directions=8))


def test_constant_images_give_finite_filters():
    kernel = patch_whitening_kernel(np.full((4, 28, 28, 1), 0.7, np.float32), 3)
    assert np.isfinite(kernel).all()
    assert np.isfinite(patch_whitening_kernel(np.zeros((4, 28, 28, 1), np.float32), 3)).all()


def test_the_whitening_stem_is_set_and_frozen(fashion_images):
    model = build_model("resnet8", stem_width=18)
    trainable_before = len(model.trainable_variables)
    conv = apply_patch_whitening(model, fashion_images)
    assert conv.name == "stem_conv" and not conv.trainable
    assert len(model.trainable_variables) == trainable_before - 1
    np.testing.assert_allclose(conv.kernel.numpy(), patch_whitening_kernel(fashion_images[:5000], 3))


def test_a_model_that_cannot_be_whitened_is_refused_with_the_fix(fashion_images):
    for width in (32, 15):
        with pytest.raises(ValueError, match=rf"needs resnet8's first convolution stem_conv to "
                           rf"have an even number of filters up to 18 .* it has {width}\. "
                           r"Build the model with that many \(resnet: --model-arg stem_width=18\)"):
            apply_patch_whitening(build_model("resnet8", stem_width=width), fashion_images)
    inputs = keras.Input((28, 28, 1))
    dense_first = keras.Model(inputs, keras.layers.Dense(3, name="fc")(inputs), name="mlp")
    with pytest.raises(ValueError, match=r"mlp's is fc \(Dense\)\. Pass --no-patch-whitening"):
        apply_patch_whitening(dense_first, fashion_images)


@pytest.mark.parametrize("filters", [6, 3])
def test_a_dirac_convolution_is_the_identity_on_its_first_channels(filters):
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, keras.layers.Conv2D(filters, 3, padding="same",
                                                    name="conv")(inputs))
    assert apply_dirac(model) == ["conv"]
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype(np.float32)
    outputs = model(images).numpy()
    shared = min(filters, 4)
    np.testing.assert_allclose(outputs[..., :shared], images[..., :shared], atol=1e-6)
    if filters > 4:   # the other filters keep their random draw
        assert np.abs(outputs[..., 4:]).mean() > 0.1


def test_dirac_skips_the_whitening_stem_and_needs_a_3x3_convolution(fashion_images):
    model = build_model("resnet8", stem_width=18)
    stem = apply_patch_whitening(model, fashion_images)
    names = apply_dirac(model, skip=[stem])
    assert "stem_conv" not in names and "stage1_block1_1_conv" in names
    assert not any(name.endswith("_0_conv") for name in names)     # 1x1 projections
    np.testing.assert_allclose(stem.kernel.numpy(), patch_whitening_kernel(fashion_images[:5000], 3))
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="has no 3x3 Conv2D to set. Pass --no-dirac-init"):
        apply_dirac(keras.Model(inputs, keras.layers.Dense(2)(inputs), name="mlp"))
