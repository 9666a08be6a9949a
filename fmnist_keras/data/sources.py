"""Fashion-MNIST and MNIST: IDX files, where to find them, splits and hold-outs.

The loader never trusts a file: every IDX file is checked for its magic number, its
dimensions and its byte count, so a truncated download or a swapped file fails with
the file's name instead of a reshape error three calls later.

Where the files are looked for, in order:

1. the ``data_dir`` argument (``--data-dir`` on the command line);
2. the directory in the environment variable ``FMNIST_KERAS_DATA``;
3. the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``);
4. Debian's ``/usr/share/datasets/<dataset>/`` (package ``dataset-fashion-mnist``);
5. a download through ``keras.datasets`` (needs internet).

A directory may hold the four files itself or a sub-folder named after the dataset
(``fashion-mnist/``, ``fashion_mnist/``, ``mnist/``), like ``../shared/data``.

The other source, ``tfds`` (`load_tfds_arrays`), reads the dataset through
tensorflow-datasets: its cache, its checksums and its download; offline it takes the
original ``.gz`` files from the first folder above that has them (tfds' ``manual_dir``),
which works where they are byte for byte the published files. Either source gives the
same arrays in the same (original) order, so splits and hold-outs do not depend on it.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
from pathlib import Path

import numpy as np

DATA_ENV_VAR = "FMNIST_KERAS_DATA"
DEBIAN_DATASETS_DIR = Path("/usr/share/datasets")

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_UBYTE = 0x08


class DataError(ValueError):
    """A data file exists but is not what it should be."""


class DataNotFoundError(FileNotFoundError):
    """No source had the dataset; the message lists every place that was tried."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the project knows about a dataset: statistics, class names, folders."""

    name: str
    mean: float
    std: float
    class_names: tuple[str, ...]
    folder_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def standardised_as(self, name: str | None) -> DatasetInfo:
        """This dataset with the mean and std of dataset ``name`` (None: its own).

        The goal notes' code standardised Fashion-MNIST with MNIST's statistics; a
        reproduction of their recipes can do the same (``normalise_with: mnist``)."""
        if name is None:
            return self
        other = dataset_info(name)
        return dataclasses.replace(self, mean=other.mean, std=other.std)


DATASETS = {
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        mean=0.2860,
        std=0.3530,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        folder_names=("fashion-mnist", "fashion_mnist"),
    ),
    "mnist": DatasetInfo(
        name="mnist",
        mean=0.1307,
        std=0.3081,
        class_names=tuple(str(digit) for digit in range(10)),
        folder_names=("mnist",),
    ),
}

SPLITS = ("standard", "30k-40k")
SOURCES = ("idx", "tfds")


def dataset_info(name: str) -> DatasetInfo:
    """Returns the `DatasetInfo` of ``name``; an unknown name lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}."
        ) from None


# --------------------------------------------------------------------------- IDX


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (raw or gzip) of unsigned bytes into a read-only array.

    Raises:
        DataError: naming the file, when it is truncated, not gzip although named
            ``.gz``, has a wrong magic number, or its size disagrees with its header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (EOFError, OSError, gzip.BadGzipFile) as error:
        raise DataError(
            f"{path}: cannot decompress ({error}); the file is truncated or corrupt, "
            "delete it and download it again."
        ) from None
    if len(raw) < 4:
        raise DataError(f"{path}: only {len(raw)} bytes, too short for an IDX header.")
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != IDX_UBYTE or ndim not in (1, 3):
        raise DataError(
            f"{path}: wrong magic number 0x{raw[:4].hex()} (expected 0x00000801 for "
            "labels or 0x00000803 for images); this is not an MNIST-style IDX file."
        )
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: header truncated ({len(raw)} bytes).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header_size + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{path}: {len(raw)} bytes but its header {shape} needs {expected}; "
            "the file is truncated or corrupt, download it again."
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)
    return array


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=8)
def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """Reads the four IDX files of a folder and checks that they agree.

    Cached per folder: tests and scripts load the same 60k images many times.
    """
    arrays = {}
    for key, stem in IDX_FILES.items():
        path = _find_idx_file(folder, stem)
        if path is None:
            raise DataError(f"{folder}: {stem}[.gz] is missing.")
        arrays[key] = read_idx(path)
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(
                f"{folder}: {part} images have {images.ndim} dimensions and labels "
                f"{labels.ndim}; expected 3 and 1 (are the files swapped?)."
            )
        if len(images) != len(labels):
            raise DataError(
                f"{folder}: {IDX_FILES[f'{part}_images']} holds {len(images)} images "
                f"but {IDX_FILES[f'{part}_labels']} holds {len(labels)} labels."
            )
    return arrays


# ----------------------------------------------------------------------- sources


def keras_cache_dir() -> Path:
    """The folder where ``keras.datasets`` keeps its downloads."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _candidate_dirs(info: DatasetInfo, data_dir) -> list[tuple[str, Path]]:
    """The places to look, in order, each with a label for the error message."""
    bases = []
    if data_dir is not None:
        bases.append(("--data-dir", Path(data_dir)))
    if os.environ.get(DATA_ENV_VAR):
        bases.append((f"${DATA_ENV_VAR}", Path(os.environ[DATA_ENV_VAR])))
    bases.append(("Keras cache", keras_cache_dir()))
    bases.append(("Debian package", DEBIAN_DATASETS_DIR))
    candidates = []
    for label, base in bases:
        candidates.extend((label, base / sub) for sub in info.folder_names)
        candidates.append((label, base))
    return candidates


def _has_all_files(folder: Path) -> bool:
    return all(_find_idx_file(folder, stem) for stem in IDX_FILES.values())


def _download(info: DatasetInfo) -> dict[str, np.ndarray]:
    import keras

    loader = getattr(keras.datasets, info.name)
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    return {"train_images": x_train, "train_labels": y_train,
            "test_images": x_test, "test_labels": y_test}


def load_arrays(name: str, data_dir=None, download: bool = True) -> dict[str, np.ndarray]:
    """Loads a dataset's original train and test parts as uint8 arrays.

    Args:
        name: ``"fashion_mnist"`` or ``"mnist"``.
        data_dir: a folder to look in first (see the module docstring for the order).
        download: whether to fall back to ``keras.datasets`` when no folder has the files.

    Returns:
        ``{"train_images": (60000, 28, 28) uint8, "train_labels": (60000,) uint8,
        "test_images": ..., "test_labels": ...}``.
    """
    info = dataset_info(name)
    looked = []
    for label, folder in _candidate_dirs(info, data_dir):
        if _has_all_files(folder):
            return read_idx_folder(folder.resolve())
        looked.append(f"{folder} ({label})")
    download_note = "download disabled"
    if download:
        try:
            return _download(info)
        except Exception as error:  # no network, proxy, server error: all the same here
            download_note = f"download failed: {type(error).__name__}: {error}"
    raise DataNotFoundError(
        f"{name} not found; looked in: {'; '.join(looked)}; {download_note}. "
        f"Put the four IDX files ({', '.join(f + '.gz' for f in IDX_FILES.values())}) "
        f"in a folder and pass --data-dir or set {DATA_ENV_VAR}, "
        "or install Debian's dataset-fashion-mnist, or allow the Keras download."
    )


def load_tfds_arrays(name: str, data_dir=None) -> dict[str, np.ndarray]:
    """A dataset through tensorflow-datasets, in the original files' order.

    tfds stores examples ordered by a salted hash of their index; the same hash puts
    them back, so the arrays equal `load_arrays`'. Its cache is tfds' own
    (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

    Raises:
        DataNotFoundError: when tfds can neither find, download nor verify the files.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import hashing

    tfds.disable_progress_bar()
    info = dataset_info(name)
    manual_dir = next((folder for _, folder in _candidate_dirs(info, data_dir)
                       if _has_all_files(folder)), None)
    builder = tfds.builder(name)
    try:
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir) if manual_dir else None))
    except Exception as error:  # no network, checksum mismatch: tfds' own messages vary
        raise DataNotFoundError(
            f"{name} through tensorflow-datasets failed ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); its offline copy must be "
            f"the published files (looked in {manual_dir}); use --data-source idx, which "
            "reads any valid IDX files.") from None
    arrays = {}
    for part in ("train", "test"):
        examples = tfds.as_numpy(builder.as_dataset(split=part, batch_size=-1))
        hasher = hashing.Hasher(salt=part)
        stored_order = np.argsort([hasher.hash_key(i) for i in range(len(examples["label"]))])
        images = np.empty_like(examples["image"][..., 0])
        labels = np.empty_like(examples["label"])
        images[stored_order], labels[stored_order] = examples["image"][..., 0], examples["label"]
        arrays[f"{part}_images"], arrays[f"{part}_labels"] = images, labels.astype(np.uint8)
    return arrays


# ------------------------------------------------------------------------ splits


@dataclasses.dataclass
class DataSplits:
    """Training, validation and test arrays of one dataset and split.

    ``train_indices`` and ``val_indices`` index the split's training part, so that
    tests (and users) can check the hold-out is disjoint and reproducible.
    """

    info: DatasetInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_indices: np.ndarray
    val_indices: np.ndarray
    split_size: int     # the split's training images, which the hold-out is drawn from


def apply_split(arrays: dict[str, np.ndarray], split: str):
    """Returns ``(x_train, y_train), (x_test, y_test)`` for a named split.

    ``30k-40k`` is pytorch_image_classification's: train = the first 30,000 original
    training images; test = the 10,000 test images followed by training images
    30,000..59,999. Deterministic, no shuffling.
    """
    x_train, y_train = arrays["train_images"], arrays["train_labels"]
    x_test, y_test = arrays["test_images"], arrays["test_labels"]
    if split == "standard":
        return (x_train, y_train), (x_test, y_test)
    if split == "30k-40k":
        return ((x_train[:30000], y_train[:30000]),
                (np.concatenate([x_test, x_train[30000:]]),
                 np.concatenate([y_test, y_train[30000:]])))
    raise ValueError(f"Unknown split {split!r}; known splits: {', '.join(SPLITS)}.")


def holdout_indices(num_examples: int, validation_size: int, seed: int):
    """Splits ``range(num_examples)`` into seeded, disjoint train and validation indices."""
    if not 0 <= validation_size < num_examples:
        raise ValueError(
            f"validation_size must be in [0, {num_examples}); received {validation_size}."
        )
    order = np.random.default_rng(seed).permutation(num_examples)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])


def run_indices(split_size: int, validation_size: int, seed: int,
                max_train_samples: int | None = None):
    """The training and validation indices (into a split's training part) of a run with
    these settings: the seeded hold-out, then the first ``max_train_samples`` of the rest."""
    train, val = holdout_indices(split_size, validation_size, seed)
    return (train if max_train_samples is None else train[:max_train_samples]), val


def load_splits(name: str = "fashion_mnist", split: str = "standard",
                validation_size: int = 5000, seed: int = 0, data_dir=None,
                max_train_samples: int | None = None,
                download: bool = True, source: str = "idx",
                normalise_with: str | None = None) -> DataSplits:
    """Loads a dataset, applies a split and carves a seeded validation hold-out.

    Args:
        max_train_samples: keep only this many training images (after the hold-out),
            for quick runs and tests.
        source: ``idx`` (the IDX files, found as the module docstring says) or
            ``tfds`` (tensorflow-datasets; same arrays).
        normalise_with: the dataset whose mean and std ``info`` carries, which every
            pipeline and export standardises with (None: ``name``'s own).
    """
    if source not in SOURCES:
        raise ValueError(f"Unknown data source {source!r}; known: {', '.join(SOURCES)}.")
    arrays = load_tfds_arrays(name, data_dir) if source == "tfds" else \
        load_arrays(name, data_dir=data_dir, download=download)
    (x_train, y_train), (x_test, y_test) = apply_split(arrays, split)
    train_idx, val_idx = run_indices(len(x_train), validation_size, seed, max_train_samples)
    return DataSplits(
        info=dataset_info(name).standardised_as(normalise_with),
        x_train=x_train[train_idx], y_train=y_train[train_idx],
        x_val=x_train[val_idx], y_val=y_train[val_idx],
        x_test=x_test, y_test=y_test,
        train_indices=train_idx, val_indices=val_idx, split_size=len(x_train),
    )
