"""The model zoo: `build_model(name)` for every architecture of the spec.

Importing this package registers every family (one module each) and its presets.
"""

from fmnist_keras.models import (  # noqa: F401  (registration)
    densenet,
    dpn,
    mnist_net,
    resnet,
    shake_shake,
    vgg,
    wide_resnet,
)
from fmnist_keras.models.layers import ShakeShake
from fmnist_keras.models.registry import build_model, family_builder, list_models

__all__ = ["ShakeShake", "build_model", "family_builder", "list_models"]
