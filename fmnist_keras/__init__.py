"""fmnist-keras: the published Fashion-MNIST and MNIST experiments in Keras 3."""

__version__ = "0.1.0"
