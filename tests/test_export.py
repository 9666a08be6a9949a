import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fmnist_keras import data, serving
from fmnist_keras.augment import Normalization
from fmnist_keras.export import export_for_serving, write_models_config
from fmnist_keras.models import build_model

ROOT = Path(__file__).resolve().parents[1]
INFO = data.DATASETS["fashion_mnist"]


@pytest.fixture(scope="module")
def trained(data_dir):
    """A small model trained for a few steps, and some test images."""
    keras.utils.set_random_seed(0)
    splits = data.load_splits("fashion_mnist", data_dir=data_dir, max_train_samples=512)
    model = build_model("mnist_net", channels=(4, 8, 4, 8, 8, 8, 8))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    normalise = Normalization(INFO.mean, INFO.std)
    model.fit(normalise(splits.x_train[..., None]), splits.y_train, epochs=1, verbose=0)
    return model, splits.x_test[:8]


def keras_probabilities(model, images):
    logits = model(Normalization(INFO.mean, INFO.std)(images[..., None]), training=False)
    return tf.nn.softmax(logits).numpy()


def test_separate_process_serves_rest_payload_like_keras(trained, tmp_path):
    model, images = trained
    exported = export_for_serving(model, INFO, "fmnist_small", base_dir=tmp_path)
    body = tmp_path / "body.json"
    body.write_text(json.dumps(serving.rest_body(images)))
    script = (
        "import json, sys, tensorflow as tf\n"
        "from fmnist_keras import serving\n"
        "loaded = tf.saved_model.load(sys.argv[1])\n"
        "spec = serving.signature_spec(loaded)\n"
        "tensor = serving.tensor_from_rest(json.load(open(sys.argv[2])), spec)\n"
        "out = loaded.signatures['serving_default'](images=tensor)\n"
        "print(json.dumps({'class_id': out['class_id'].numpy().tolist(),\n"
        "  'probabilities': out['probabilities'].numpy().tolist(),\n"
        "  'class_name': [n.decode() for n in out['class_name'].numpy()]}))\n")
    result = subprocess.run([sys.executable, "-c", script, str(exported), str(body)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    expected = keras_probabilities(model, images)
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    assert served["class_id"] == expected.argmax(axis=1).tolist()
    assert served["class_name"] == [INFO.class_names[i] for i in served["class_id"]]


def test_grpc_request_matches_the_signature(trained, tmp_path):
    model, images = trained
    loaded = tf.saved_model.load(str(export_for_serving(model, INFO, "m", base_dir=tmp_path)))
    spec = serving.signature_spec(loaded)
    request = serving.grpc_request(images, "m")
    assert request.model_spec.signature_name == "serving_default"
    outputs = loaded.signatures["serving_default"](images=serving.tensor_from_grpc(request, spec))
    np.testing.assert_allclose(outputs["probabilities"], keras_probabilities(model, images),
                               atol=1e-5)
    with pytest.raises(ValueError, match="must be uint8; received float32"):
        serving.tensor_from_grpc(serving.grpc_request(images.astype("float32"), "m"), spec)


def test_wrong_shape_or_values_are_refused_with_the_expected_shape(trained, tmp_path):
    model, images = trained
    loaded = tf.saved_model.load(str(export_for_serving(model, INFO, "m", base_dir=tmp_path)))
    spec = serving.signature_spec(loaded)
    with pytest.raises(ValueError, match=r"must have shape \[batch, 28, 28\] \(uint8\); "
                                         r"received \[2, 32, 32\]"):
        serving.tensor_from_rest({"instances": np.zeros((2, 32, 32)).tolist()}, spec)
    with pytest.raises(ValueError, match="0..255"):
        serving.tensor_from_rest({"instances": np.full((1, 28, 28), 300).tolist()}, spec)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \[batch, 28, 28\]"):
        loaded.signatures["serving_default"](images=tf.zeros((1, 32, 32), tf.uint8))


def test_float_signature_clips(trained, tmp_path):
    model, images = trained
    loaded = tf.saved_model.load(str(export_for_serving(model, INFO, "m", base_dir=tmp_path)))
    out_of_range = images.astype("float32")
    out_of_range[images == 255] = 400.0
    out_of_range[images == 0] = -30.0
    clipped = loaded.signatures["serving_float"](images=tf.constant(out_of_range))
    plain = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(clipped["probabilities"], plain["probabilities"], atol=1e-6)


def test_saved_model_cli_lists_the_documented_signature(trained, tmp_path):
    model, _ = trained
    exported = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    cli = Path(sys.executable).with_name("saved_model_cli")
    result = subprocess.run([str(cli), "show", "--dir", str(exported), "--tag_set", "serve",
                             "--signature_def", "serving_default"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in ("inputs['images']", "DT_UINT8", "shape: (-1, 28, 28)",
                     "outputs['probabilities']", "outputs['class_id']", "DT_INT64",
                     "outputs['class_name']", "DT_STRING"):
        assert expected in result.stdout


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


def test_predict_script_on_a_png_and_a_bad_file(trained, tmp_path):
    model, images = trained
    exported = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    png = tmp_path / "trouser.png"
    Image.fromarray(255 - np.kron(images[0], np.ones((3, 3), np.uint8))).convert("RGB").save(png)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    script = str(ROOT / "scripts" / "predict.py")
    result = subprocess.run([sys.executable, script, str(exported), str(png)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    name, class_name, probability = result.stdout.strip().splitlines()[-1].split("\t")
    assert name == str(png) and class_name in INFO.class_names and 0 < float(probability) <= 1
    result = subprocess.run([sys.executable, script, str(exported), str(broken)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {broken}: not a readable image")


def test_image_files_look_like_fashion_mnist(tmp_path):
    photo = np.full((90, 60, 3), 250, np.uint8)      # a dark object on a white background
    photo[20:70, 15:45] = 10
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo).save(path)
    image = serving.load_image_file(path)
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image[0, 0] < 30 and image[14, 14] > 200   # inverted: light object, dark ground


def test_model_card_from_a_finished_run(tmp_path, data_dir):
    from fmnist_keras import training
    from fmnist_keras.cards import count_confusions, write_model_card
    from fmnist_keras.recipes import resolve_config

    config = resolve_config("mnist_net", recipe="mnist_final", overrides={
        "epochs": 1, "max_train_samples": 256, "validation_size": 128,
        "model_kwargs": {"channels": [4] * 7}, "test_time_flip": True, "test_time_shift": 1})
    run = tmp_path / "run"
    training.train(config, run, data_dir=data_dir, results_table=tmp_path / "r.csv", verbose=0)
    card = write_model_card(run, tmp_path / "saved_models" / "tiny", "python scripts/train.py ...",
                            data_dir=data_dir)
    text = card.read_text()
    assert text.startswith("# tiny\n")
    assert "| trainable parameters | " in text and "python scripts/train.py ..." in text
    assert text.count("\n| 7 | ") == 1                         # one row per class
    assert (card.parent / "confusion_matrix.png").stat().st_size > 1000
    assert count_confusions(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist() == [[1, 0], [1, 1]]
    results = json.loads((run / "results.json").read_text())
    assert f"evaluated once) | {results['test_accuracy']:.4f} |" in text
    assert (f"| test accuracy with flip and 1-pixel shift test-time augmentation | "
            f"{results['test_accuracy_flip_shift_tta']:.4f} |") in text
    last = write_model_card(run, tmp_path / "saved_models" / "last", "cmd", data_dir=data_dir,
                            checkpoint="last").read_text()
    assert "| test accuracy (last epoch, 1; no selection) | " in last
    with pytest.raises(ValueError, match="checkpoint must be 'best' or 'last'"):
        write_model_card(run, tmp_path / "x", "cmd", data_dir=data_dir, checkpoint="final")


def test_bfloat16_model_serves_in_float32_and_converts_to_tflite(trained, tmp_path):
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
    runner = tf.lite.Interpreter(model_content=converter.convert()).get_signature_runner(
        "serving_default")
    np.testing.assert_allclose(runner(images=images)["probabilities"],
                               served["probabilities"], atol=1e-5)


def test_int8_tflite_is_smaller_agrees_with_float_and_is_scored(trained, tmp_path, data_dir):
    from fmnist_keras.benchmark import benchmark_serving
    from fmnist_keras.export import calibration_images, tflite_flatbuffer, write_tflite

    model, _ = trained
    splits = data.load_splits("fashion_mnist", data_dir=data_dir)
    calibration = calibration_images(splits.x_train, count=64)
    assert calibration.shape == (64, 28, 28) and calibration.dtype == np.uint8
    exported = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    path = write_tflite(exported, "int8", calibration)
    assert path == tmp_path / "m" / "1.int8.tflite"
    assert path.stat().st_size < len(tflite_flatbuffer(exported))   # int8 weights
    interpreter = tf.lite.Interpreter(model_path=str(path))
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


def test_flip_export_serves_the_mean_of_each_image_and_its_mirror(trained, tmp_path):
    from fmnist_keras.benchmark import serves_test_time_flip

    model, images = trained
    exported = export_for_serving(model, INFO, "flip", base_dir=tmp_path, test_time_flip=True)
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    served = serve(images=tf.constant(images))["probabilities"].numpy()
    expected = (keras_probabilities(model, images) + keras_probabilities(model, images[:, :, ::-1])) / 2
    np.testing.assert_allclose(served, expected, atol=1e-5)
    mirrored = serve(images=tf.constant(images[:, :, ::-1]))["probabilities"].numpy()
    np.testing.assert_allclose(mirrored, served, atol=1e-5)
    assert serves_test_time_flip(exported)
    assert not serves_test_time_flip(export_for_serving(model, INFO, "plain", base_dir=tmp_path))
