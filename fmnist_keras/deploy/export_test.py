import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from fmnist_keras.cli import export
from fmnist_keras.data.pipeline import Normalization
from fmnist_keras.data.sources import DATASETS, load_splits
from fmnist_keras.deploy.export import export_for_serving, write_models_config
from fmnist_keras.models import build_model
from fmnist_keras.train import engine
from fmnist_keras.train.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
INFO = DATASETS["fashion_mnist"]


def test_float_signature_clips(trained, tmp_path):
    model, images = trained
    loaded = tf.saved_model.load(str(export_for_serving(model, INFO, "m", base_dir=tmp_path)))
    out_of_range = images.astype("float32")
    out_of_range[images == 255] = 400.0
    out_of_range[images == 0] = -30.0
    clipped = loaded.signatures["serving_float"](images=tf.constant(out_of_range))
    plain = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(clipped["probabilities"], plain["probabilities"], atol=1e-6)


@pytest.mark.slow
def test_saved_model_cli_lists_the_documented_signature(trained, tmp_path):
    model, _ = trained
    exported = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    cli = Path(sys.executable).with_name("saved_model_cli")
    result = subprocess.run([str(cli), "show", "--dir", str(exported), "--tag_set", "serve",
                             "--signature_def", "serving_default"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in ("inputs['images']", "DT_UINT8", "shape: unknown_rank",
                     "outputs['probabilities']", "outputs['class_id']", "DT_INT64",
                     "outputs['class_name']", "DT_STRING"):
        assert expected in result.stdout
    shaped = subprocess.run([str(cli), "show", "--dir", str(exported), "--tag_set", "serve",
                             "--signature_def", "serving_tflite"],
                            capture_output=True, text=True, timeout=300)
    assert "shape: (-1, 28, 28)" in shaped.stdout


def test_versions_increase_and_are_never_overwritten(trained, tmp_path):
    model, _ = trained
    first = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    second = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    assert (first.name, second.name) == ("1", "2")
    assert (second / "saved_model.pb").is_file() and (second / "variables").is_dir()
    with pytest.raises(ValueError, match="already exists; .* next free one is 3"):
        export_for_serving(model, INFO, "m", base_dir=tmp_path, version=1)
    export_for_serving(model, INFO, "other", base_dir=tmp_path)
    config = write_models_config(tmp_path).read_text()
    assert config.count("config {") == 2
    assert 'name: "m"' in config and 'base_path: "/models/other"' in config


def test_shake_shake_exports_and_serves_deterministically(tmp_path):
    model = build_model("shake_shake", depth=8, base_width=4, seed=1)
    loaded = tf.saved_model.load(str(export_for_serving(model, INFO, "shake", base_dir=tmp_path)))
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (4, 28, 28)), tf.uint8)
    first = loaded.signatures["serving_default"](images=images)["probabilities"]
    second = loaded.signatures["serving_default"](images=images)["probabilities"]
    np.testing.assert_array_equal(first, second)


def test_bfloat16_model_serves_in_float32_and_converts_to_tflite(trained, tmp_path, keras_probabilities):
    model, images = trained
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        bf16_model = build_model("mnist_net", channels=(4, 8, 4, 8, 8, 8, 8))
    finally:
        keras.config.set_dtype_policy("float32")
    bf16_model.set_weights(model.get_weights())
    assert bf16_model.layers[1].compute_dtype == "bfloat16"
    exported = export_for_serving(bf16_model, INFO, "m", base_dir=tmp_path)
    served = tf.saved_model.load(str(exported)).signatures["serving_default"](
        images=tf.constant(images))
    # float32 weights are shared exactly, so the export matches the float32 model.
    np.testing.assert_allclose(served["probabilities"], keras_probabilities(model, images),
                               atol=1e-5)
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(exported), signature_keys=["serving_default"])
    runner = Interpreter(model_content=converter.convert()).get_signature_runner(
        "serving_default")
    np.testing.assert_allclose(runner(images=images)["probabilities"],
                               served["probabilities"], atol=1e-5)


def test_int8_tflite_is_smaller_agrees_with_float_and_is_scored(trained, tmp_path, data_dir):
    from fmnist_keras.deploy.export import (
        calibration_images,
        tflite_flatbuffer,
        write_tflite,
    )
    from fmnist_keras.deploy.latency import benchmark_serving

    model, _ = trained
    splits = load_splits("fashion_mnist", data_dir=data_dir)
    calibration = calibration_images(splits.x_train, count=64)
    assert calibration.shape == (64, 28, 28) and calibration.dtype == np.uint8
    exported = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    path = write_tflite(exported, "int8", calibration)
    assert path == tmp_path / "m" / "1.int8.tflite"
    assert path.stat().st_size < len(tflite_flatbuffer(exported))   # int8 weights
    interpreter = Interpreter(model_path=str(path))
    assert {"int8"} <= {d["dtype"].__name__ for d in interpreter.get_tensor_details()}
    images, labels = splits.x_test[:200], splits.y_test[:200]
    int8 = interpreter.get_signature_runner("serving_default")(images=images)
    served = tf.saved_model.load(str(exported)).signatures["serving_default"](
        images=tf.constant(images))
    np.testing.assert_allclose(int8["probabilities"], served["probabilities"], atol=0.1)
    # the tiny model is barely trained (flat probabilities), so near-ties may flip
    assert (int8["class_id"] == served["class_id"].numpy()).mean() >= 0.85

    rows = {row["format"]: row for row in benchmark_serving(
        exported, runs=5, batch_sizes=(4,), calibration_images=calibration,
        test_set=(images, labels))}
    assert list(rows) == ["saved_model", "tflite", "tflite_int8"]
    assert rows["saved_model"]["test_accuracy"] == pytest.approx(
        (served["class_id"].numpy() == labels).mean())
    assert rows["tflite_int8"]["test_accuracy"] == pytest.approx((int8["class_id"] == labels).mean())
    assert rows["tflite_int8"]["p50_ms"] > 0
    with pytest.raises(ValueError, match="int8 TFLite needs calibration images"):
        write_tflite(exported, "int8")
    with pytest.raises(ValueError, match="Unknown TFLite format 'fp16'; known: float32, int8"):
        write_tflite(exported, "fp16")
    write_models_config(tmp_path)
    assert (tmp_path / "models.config").read_text().count("name:") == 1


def test_flip_export_serves_the_mean_of_each_image_and_its_mirror(trained, tmp_path, keras_probabilities):
    from fmnist_keras.deploy.latency import exported_dataset, serves_test_time_flip

    model, images = trained
    exported = export_for_serving(model, INFO, "flip", base_dir=tmp_path, test_time_flip=True)
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    served = serve(images=tf.constant(images))["probabilities"].numpy()
    expected = (keras_probabilities(model, images) + keras_probabilities(model, images[:, :, ::-1])) / 2
    np.testing.assert_allclose(served, expected, atol=1e-5)
    mirrored = serve(images=tf.constant(images[:, :, ::-1]))["probabilities"].numpy()
    np.testing.assert_allclose(mirrored, served, atol=1e-5)
    assert serves_test_time_flip(exported)
    plain = export_for_serving(model, DATASETS["mnist"], "plain", base_dir=tmp_path)
    assert not serves_test_time_flip(plain)
    # Recorded in the export, so that benchmark_inference --accuracy picks its test set.
    assert (exported_dataset(exported), exported_dataset(plain)) == ("fashion_mnist", "mnist")



def test_an_export_killed_midway_leaves_no_version_for_tf_serving(trained, tmp_path,
                                                                   monkeypatch):
    model, _ = trained

    def killed_midway(self, filepath, **kwargs):
        (Path(filepath) / "variables").mkdir(parents=True)
        (Path(filepath) / "saved_model.pb").write_bytes(b"\x08")   # a few bytes, then gone
        raise KeyboardInterrupt

    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        export_for_serving(model, INFO, "m", base_dir=tmp_path)
    monkeypatch.undo()
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.isdigit()]   # nothing to load
    exported = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    assert exported.name == "1" and (exported / "saved_model.pb").stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]      # the partial is gone


def test_a_run_exports_with_the_statistics_it_trained_with(tmp_path, data_dir, tiny_config):
    config = tiny_config(normalise_with="fashion_mnist")   # an MNIST run, other statistics
    engine.train(config, tmp_path / "run", data_dir=data_dir, verbose=False)
    splits, datasets = engine.datasets_for(config, data_dir)
    images, _ = next(iter(datasets["val"]))
    fashion = DATASETS["fashion_mnist"]
    np.testing.assert_allclose(images.numpy()[..., 0],
                               (splits.x_val[:len(images)] / 255 - fashion.mean) / fashion.std,
                               atol=1e-6)
    export.main([str(tmp_path / "run"), "--name", "m", "--base-dir", str(tmp_path / "models")])
    serve = tf.saved_model.load(str(tmp_path / "models" / "m" / "1")).signatures["serving_default"]
    raw = splits.x_test[:8]
    model = RunDir(tmp_path / "run").load_model()
    expected = tf.nn.softmax(model(Normalization(fashion.mean, fashion.std)(raw[..., None]),
                                   training=False)).numpy()
    np.testing.assert_allclose(serve(images=tf.constant(raw))["probabilities"], expected,
                               atol=1e-5)
    assert serve(images=tf.constant(raw))["class_name"].numpy()[0].decode().isdigit()
