import keras
import numpy as np
import pytest

from fmnist_keras.models.layers import batch_norm
from fmnist_keras.train.averaging import recompute_batch_norm_statistics


def _model():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")(inputs)
    x = batch_norm(x, "conv_bn")
    outputs = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("fused", [True, False])
def test_statistics_become_the_average_over_the_batches(fused, monkeypatch):
    """Each layer ends with the plain mean of the batches' means and unbiased variances
    (``update_bn``'s rule), not a momentum-weighted mix with what it held before; the
    weights and the momentum are left as they were."""
    model = _model()
    bn = model.get_layer("conv_bn")
    if not fused:
        monkeypatch.setattr(type(bn), "_fusable", lambda *args: False)
    bn.moving_mean.assign(np.full(3, 50.0, "float32"))
    weights = [w.numpy().copy() for w in model.trainable_weights]
    rng = np.random.default_rng(0)
    batches = [(rng.normal(k, 1 + k, size=(8, 4, 4, 3)).astype("float32"), np.zeros(8))
               for k in range(3)]
    assert recompute_batch_norm_statistics(model, batches) == 3

    conv = [model.get_layer("conv")(images).numpy().reshape(-1, 3) for images, _ in batches]
    np.testing.assert_allclose(bn.moving_mean.numpy(),
                               np.mean([c.mean(axis=0) for c in conv], axis=0), rtol=1e-4)
    if fused:   # the fused kernel keeps PyTorch's unbiased variance
        np.testing.assert_allclose(bn.moving_variance.numpy(),
                                   np.mean([c.var(axis=0, ddof=1) for c in conv], axis=0),
                                   rtol=1e-4)
    assert bn.momentum == pytest.approx(0.9)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_max_batches_and_an_empty_pass():
    model = _model()
    bn = model.get_layer("conv_bn")
    images = [np.full((2, 4, 4, 3), value, "float32") for value in (1.0, 2.0, 30.0)]
    assert recompute_batch_norm_statistics(model, [], max_batches=2) == 0
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)
    assert recompute_batch_norm_statistics(model, images, max_batches=2) == 2
    kernel = model.get_layer("conv").kernel.numpy()[0, 0]
    np.testing.assert_allclose(bn.moving_mean.numpy(), 1.5 * kernel.sum(axis=0), rtol=1e-5)
