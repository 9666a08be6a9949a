import keras
import numpy as np
import pytest

from fmnist_keras.train.optimizers import SGD, Adam, TorchSGD, check_multipliers, multiplier_for


def torch_sgd(weights, gradients, rates, momentum, nesterov):
    """``torch.optim.SGD``'s update rule (dampening 0), written out."""
    buffer = None
    for gradient, rate in zip(gradients, rates):
        buffer = gradient.copy() if buffer is None else momentum * buffer + gradient
        step = gradient + momentum * buffer if nesterov else buffer
        weights = weights - rate * step
    return weights


@pytest.mark.parametrize("nesterov", [False, True])
def test_torch_sgd_is_pytorch_s_rule_across_a_learning_rate_drop(nesterov):
    rng = np.random.default_rng(0)
    gradients = [rng.normal(size=3).astype("float32") for _ in range(6)]
    rates = [0.1, 0.1, 0.1, 0.01, 0.01, 0.01]            # a x0.1 drop after 3 steps
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([2], [0.1, 0.01])
    weight = keras.Variable(np.ones(3, "float32"))
    optimizer = TorchSGD(schedule, momentum=0.9, nesterov=nesterov)
    for gradient in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), weight)])
    expected = torch_sgd(np.ones(3, "float32"), gradients, rates, 0.9, nesterov)
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-5)
    keras_weight = keras.Variable(np.ones(3, "float32"))
    keras_sgd = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=nesterov)
    for gradient in gradients:
        keras_sgd.apply_gradients([(keras.ops.convert_to_tensor(gradient), keras_weight)])
    assert not np.allclose(keras_weight.numpy(), expected, rtol=1e-3)   # the forms differ


@pytest.mark.parametrize("optimizer", [
    lambda m: SGD(0.1, momentum=0.9, lr_multipliers=m),
    lambda m: TorchSGD(0.1, momentum=0.9, nesterov=True, lr_multipliers=m),
    lambda m: Adam(0.01, lr_multipliers=m),
], ids=["sgd", "torch_sgd", "adam"])
def test_a_multiplied_variable_moves_that_many_times_as_far(optimizer):
    layer = keras.layers.Dense(2, name="head")
    layer.build((None, 3))
    optimizer = optimizer({"head/bias": 8.0})
    gradient = np.full(2, 0.5, "float32")
    before = {v.path: v.numpy().copy() for v in layer.trainable_variables}
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), layer.bias),
                               (keras.ops.ones((3, 2)) * 0.5, layer.kernel)])
    bias_step = layer.bias.numpy() - before["head/bias"]
    kernel_step = layer.kernel.numpy() - before["head/kernel"]
    np.testing.assert_allclose(bias_step, 8.0 * kernel_step[0], rtol=1e-5)
    assert np.all(kernel_step != 0)


def test_multipliers_are_saved_with_the_optimizer_and_match_by_first_pattern():
    optimizer = SGD(0.1, lr_multipliers={"*_bn/beta": 64, "*": 2})
    assert SGD.from_config(optimizer.get_config()).lr_multipliers == {"*_bn/beta": 64, "*": 2}
    assert multiplier_for("stem_bn/beta", optimizer.lr_multipliers) == 64.0
    assert multiplier_for("stem_conv/kernel", optimizer.lr_multipliers) == 2.0
    assert multiplier_for("stem_conv/kernel", {"*_bn/*": 3}) == 1.0


def test_a_pattern_naming_no_variable_is_refused_with_examples():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs), name="tiny")
    check_multipliers({"head/*": 2.0}, model)
    with pytest.raises(ValueError, match=r"'\*_bn/beta' names no trainable variable of "
                       r"tiny \(paths look like head/kernel"):
        check_multipliers({"*_bn/beta": 64.0}, model)
