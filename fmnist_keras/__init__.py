"""fmnist-keras: the published Fashion-MNIST and MNIST experiments in Keras 3.

``fmnist_keras.models.build_model(NAME)`` builds an architecture;
``fmnist_keras.load_pretrained(NAME)`` loads a committed trained model
(``list_pretrained()`` names them). Both are imported on first use, so that importing
the package is cheap.
"""

__version__ = "0.2.0"
__all__ = ["list_pretrained", "load_pretrained"]


def __getattr__(name):
    if name in __all__:
        from fmnist_keras.deploy import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'fmnist_keras' has no attribute {name!r}")
