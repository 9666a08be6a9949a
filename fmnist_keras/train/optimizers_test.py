import keras
import numpy as np
import pytest

from fmnist_keras.train.optimizers import TorchSGD


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
