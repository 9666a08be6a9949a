import gzip
import shutil

import numpy as np
import pytest

from fmnist_keras.data import sources as data

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("name", ["fashion_mnist", "mnist"])
def test_shapes_and_dtypes(name, data_dir):
    arrays = data.load_arrays(name, data_dir=data_dir, download=False)
    assert arrays["train_images"].shape == (60000, 28, 28)
    assert arrays["test_images"].shape == (10000, 28, 28)
    assert arrays["train_labels"].shape == (60000,)
    assert arrays["test_labels"].shape == (10000,)
    assert all(a.dtype == np.uint8 for a in arrays.values())


def test_fashion_mnist_facts(data_dir):
    arrays = data.load_arrays("fashion_mnist", data_dir=data_dir, download=False)
    assert np.bincount(arrays["train_labels"]).tolist() == [6000] * 10
    assert np.bincount(arrays["test_labels"]).tolist() == [1000] * 10
    assert arrays["train_labels"][:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    pixels = arrays["train_images"] / 255.0
    assert pixels.mean() == pytest.approx(0.2860, abs=5e-4)
    assert pixels.std() == pytest.approx(0.3530, abs=5e-4)


def test_mnist_facts(data_dir):
    arrays = data.load_arrays("mnist", data_dir=data_dir, download=False)
    assert np.bincount(arrays["train_labels"]).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(arrays["test_labels"]).tolist() == MNIST_TEST_COUNTS
    assert arrays["train_labels"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_environment_variable_is_a_source(data_dir, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(data_dir))
    arrays = data.load_arrays("mnist", download=False)
    assert arrays["train_labels"][:3].tolist() == [5, 0, 4]


def test_30k_40k_split_is_made_of_the_right_slices(data_dir):
    arrays = data.load_arrays("fashion_mnist", data_dir=data_dir, download=False)
    (x_train, y_train), (x_test, y_test) = data.apply_split(arrays, "30k-40k")
    assert len(x_train) == 30000 and len(y_train) == 30000
    assert len(x_test) == 40000 and len(y_test) == 40000
    np.testing.assert_array_equal(x_train, arrays["train_images"][:30000])
    np.testing.assert_array_equal(x_test[:10000], arrays["test_images"])
    np.testing.assert_array_equal(x_test[10000:], arrays["train_images"][30000:])
    np.testing.assert_array_equal(y_test[10000:], arrays["train_labels"][30000:])


def test_unknown_split_lists_the_known_ones(data_dir):
    arrays = data.load_arrays("mnist", data_dir=data_dir, download=False)
    with pytest.raises(ValueError, match="30k-40k"):
        data.apply_split(arrays, "50-50")


def test_validation_holdout_is_disjoint_and_seeded(data_dir):
    first = data.load_splits("fashion_mnist", validation_size=5000, seed=3, data_dir=data_dir)
    again = data.load_splits("fashion_mnist", validation_size=5000, seed=3, data_dir=data_dir)
    other = data.load_splits("fashion_mnist", validation_size=5000, seed=4, data_dir=data_dir)
    assert len(first.val_indices) == 5000 and len(first.train_indices) == 55000
    assert not set(first.train_indices) & set(first.val_indices)
    np.testing.assert_array_equal(first.val_indices, again.val_indices)
    assert not np.array_equal(first.val_indices, other.val_indices)
    np.testing.assert_array_equal(first.x_val[0], data.load_arrays(
        "fashion_mnist", data_dir=data_dir)["train_images"][first.val_indices[0]])


def _write_idx(path, array, magic_dims=None):
    header = bytes([0, 0, 0x08, magic_dims or array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def _fake_dataset(folder, train=20, test=10, train_labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    _write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((train, 28, 28)))
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(train_labels or train))
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((test, 28, 28)))
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(test))
    return folder


def test_truncated_file_names_the_file(tmp_path, data_dir):
    source = data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz"
    truncated = tmp_path / "t10k-labels-idx1-ubyte.gz"
    truncated.write_bytes(source.read_bytes()[:-200])
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz.*truncated"):
        data.read_idx(truncated)


def test_short_raw_file_names_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(50))
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte: 58 bytes"):
        data.read_idx(path)


def test_wrong_magic_number_names_the_file(tmp_path):
    path = tmp_path / "images.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"PK\x03\x04" + bytes(100))
    with pytest.raises(data.DataError, match="images.gz: wrong magic number 0x504b0304"):
        data.read_idx(path)


def test_count_mismatch_names_both_files(tmp_path):
    _fake_dataset(tmp_path / "mnist", train=20, train_labels=19)
    data.read_idx_folder.cache_clear()
    with pytest.raises(data.DataError, match="20 images but .*19 labels"):
        data.load_arrays("mnist", data_dir=tmp_path, download=False)


def test_sub_folder_and_raw_files_are_found(tmp_path, data_dir):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for gz in (data_dir / "fashion-mnist").glob("t10k-*.gz"):
        shutil.copy(gz, folder)
    for gz in (data_dir / "fashion-mnist").glob("train-*.gz"):
        with gzip.open(gz) as src, open(folder / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    arrays = data.load_arrays("fashion_mnist", data_dir=tmp_path, download=False)
    assert arrays["train_labels"][:4].tolist() == [9, 0, 0, 3]


def test_missing_dataset_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "DEBIAN_DATASETS_DIR", tmp_path / "debian")
    with pytest.raises(data.DataNotFoundError) as raised:
        data.load_arrays("fashion_mnist", data_dir=tmp_path / "mine", download=False)
    message = str(raised.value)
    for place in ("mine/fashion-mnist (--data-dir)", "keras_home/datasets (Keras cache)",
                  "debian/fashion-mnist (Debian package)", "download disabled",
                  data.DATA_ENV_VAR):
        assert place in message


def test_failed_download_is_reported(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "DEBIAN_DATASETS_DIR", tmp_path / "debian")

    def offline(info):
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(data.DataNotFoundError, match="download failed: OSError: network unreachable"):
        data.load_arrays("mnist")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="fashion_mnist, mnist"):
        data.load_arrays("cifar10")


def test_tfds_source_gives_the_same_arrays_in_the_same_order(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    through_tfds = data.load_tfds_arrays("mnist", data_dir)
    from_idx = data.load_arrays("mnist", data_dir=data_dir, download=False)
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(through_tfds[key], from_idx[key], err_msg=key)
    splits = data.load_splits("mnist", "standard", 1000, 3, data_dir, source="tfds")
    np.testing.assert_array_equal(splits.x_val, data.load_splits(
        "mnist", "standard", 1000, 3, data_dir).x_val)


def test_tfds_refuses_files_that_fail_its_checksums_in_one_line(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(data.DataNotFoundError) as error:   # re-compressed: other checksums
        data.load_tfds_arrays("fashion_mnist", data_dir)
    message = str(error.value)
    assert "NonMatchingChecksumError" in message and "use --data-source idx" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="Unknown data source 'csv'; known: idx, tfds"):
        data.load_splits("mnist", data_dir=data_dir, source="csv")


def test_another_datasets_statistics_replace_only_the_statistics(data_dir):
    fashion = data.dataset_info("fashion_mnist")
    standardised = data.load_splits("fashion_mnist", data_dir=data_dir, max_train_samples=8,
                                    normalise_with="mnist").info
    assert (standardised.mean, standardised.std) == (0.1307, 0.3081)
    assert standardised.class_names == fashion.class_names and standardised.name == fashion.name
    assert fashion.standardised_as(None) is fashion and fashion.mean == 0.2860
