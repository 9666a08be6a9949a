"""Shared fixtures: the data folder and a tiny config every training test can afford."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent
SHARED_DATA = ROOT.parent / "shared" / "data"
if "FMNIST_KERAS_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["FMNIST_KERAS_DATA"] = str(SHARED_DATA)
if os.environ.get("FMNIST_KERAS_DATA"):
    # Absolute, so that the command-line tests, which run in temporary folders, find it.
    os.environ["FMNIST_KERAS_DATA"] = str(Path(os.environ["FMNIST_KERAS_DATA"]).resolve())

TINY = {"epochs": 1, "max_train_samples": 256, "validation_size": 128, "batch_size": 64,
        "model_kwargs": {"channels": [4, 4, 4, 4, 4, 4, 4]}}


@pytest.fixture(scope="package")
def data_dir():
    """The folder with the original IDX files (../shared/data here and in CI)."""
    path = os.environ.get("FMNIST_KERAS_DATA")
    if not path or not Path(path).is_dir():
        pytest.fail("set FMNIST_KERAS_DATA to the folder holding fashion-mnist/ and mnist/")
    return Path(path)


@pytest.fixture
def tiny_config():
    """``tiny_config(**overrides)``: a 4-channel mnist_net on 256 MNIST images, 1 epoch."""
    from fmnist_keras.config import resolve_config

    def make(**overrides):
        return resolve_config("mnist_net", recipe="mnist_final", overrides={**TINY, **overrides})

    return make


@pytest.fixture(scope="package")
def root():
    """The repository's root folder (scripts/ and saved_models/ are under it)."""
    return ROOT
