import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if "FMNIST_KERAS_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["FMNIST_KERAS_DATA"] = str(SHARED_DATA)
if os.environ.get("FMNIST_KERAS_DATA"):
    # Absolute, so that the command-line tests, which run in temporary folders, find it.
    os.environ["FMNIST_KERAS_DATA"] = str(Path(os.environ["FMNIST_KERAS_DATA"]).resolve())


@pytest.fixture(scope="session")
def data_dir():
    """The folder with the original IDX files (../shared/data here and in CI)."""
    path = os.environ.get("FMNIST_KERAS_DATA")
    if not path or not Path(path).is_dir():
        pytest.fail("set FMNIST_KERAS_DATA to the folder holding fashion-mnist/ and mnist/")
    return Path(path)
