import keras
import numpy as np
import tensorflow as tf

from fmnist_keras.models import ShakeShake, build_model

RNG = np.random.default_rng(0)
X1 = tf.constant(RNG.normal(size=(16, 4, 4, 3)), tf.float32)
X2 = tf.constant(RNG.normal(size=(16, 4, 4, 3)), tf.float32)


def test_inference_returns_the_mean():
    out = ShakeShake(seed=1)([X1, X2], training=False)
    np.testing.assert_allclose(out, 0.5 * (X1 + X2), rtol=1e-6)


def _per_image_weights(mixed, x1, x2):
    """Solves y = w * x1 + (1 - w) * x2 element-wise; one w per image."""
    weights = ((np.asarray(mixed) - np.asarray(x2)) / (np.asarray(x1) - np.asarray(x2)))
    return weights.reshape(len(weights), -1)


def test_training_mixes_per_image_between_the_inputs():
    out = ShakeShake(seed=1)([X1, X2], training=True).numpy()
    low, high = np.minimum(X1, X2), np.maximum(X1, X2)
    assert ((out >= low - 1e-5) & (out <= high + 1e-5)).all()
    weights = _per_image_weights(out, X1, X2)
    np.testing.assert_allclose(weights, weights[:, :1].repeat(weights.shape[1], 1), atol=1e-3)
    assert np.ptp(weights[:, 0]) > 0.1            # different per image
    assert ((weights[:, 0] >= 0) & (weights[:, 0] < 1)).all()


def test_backward_uses_an_independent_draw():
    layer = ShakeShake(seed=5)
    upstream = tf.constant(RNG.normal(size=X1.shape), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([X1, X2])
        out = layer([X1, X2], training=True)
        loss = tf.reduce_sum(out * upstream)
    grad1, grad2 = tape.gradient(loss, [X1, X2])
    np.testing.assert_allclose(grad1 + grad2, upstream, atol=1e-5)
    forward_weights = _per_image_weights(out, X1, X2)[:, 0]
    backward_weights = (grad1 / upstream).numpy().reshape(16, -1)
    np.testing.assert_allclose(backward_weights, backward_weights[:, :1].repeat(48, 1), atol=1e-3)
    assert not np.allclose(backward_weights[:, 0], forward_weights, atol=1e-2)


def test_model_round_trips_through_keras_file(tmp_path):
    model = build_model("shake_shake", depth=8, base_width=4, seed=3)
    images = RNG.random((4, 28, 28, 1)).astype("float32")
    path = tmp_path / "shake.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(model.predict(images, verbose=0), loaded.predict(images, verbose=0))
    assert loaded.get_layer("stage1_block1_shake").get_config()["seed"] == 104


def test_model_exports_as_saved_model_and_serves_the_inference_mean(tmp_path):
    model = build_model("shake_shake", depth=8, base_width=4, seed=3)
    images = RNG.random((3, 28, 28, 1)).astype("float32")
    model.export(str(tmp_path / "exported"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    served = loaded.serve(tf.constant(images))
    np.testing.assert_allclose(served, model.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(served, loaded.serve(tf.constant(images)))
