import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fmnist_keras.data.sources import DATASETS
from fmnist_keras.deploy import client as serving
from fmnist_keras.deploy.export import export_for_serving

ROOT = Path(__file__).resolve().parents[2]
INFO = DATASETS["fashion_mnist"]


@pytest.mark.slow
def test_separate_process_serves_rest_payload_like_keras(trained, tmp_path, keras_probabilities):
    model, images = trained
    exported = export_for_serving(model, INFO, "fmnist_small", base_dir=tmp_path)
    body = tmp_path / "body.json"
    body.write_text(json.dumps(serving.rest_body(images)))
    script = (
        "import json, sys, tensorflow as tf\n"
        "from fmnist_keras.deploy import client as serving\n"
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


def test_grpc_request_matches_the_signature(trained, tmp_path, keras_probabilities):
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


def test_the_signature_answers_bad_dtype_shape_empty_and_large_batches(trained, tmp_path,
                                                                    keras_probabilities):
    model, images = trained
    serve = tf.saved_model.load(str(export_for_serving(model, INFO, "m", base_dir=tmp_path))) \
        .signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="expected to be a uint8 tensor but is a float tensor"):
        serve(images=tf.zeros((1, 28, 28), tf.float32))
    for shape in ((1, 28, 28, 1), (28,), (2, 32, 32)):    # a CHECK in oneDNN's conv, once
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"must have shape \[batch, 28, 28\]; received"):
            serve(images=tf.zeros(shape, tf.uint8))
    single = serve(images=tf.constant(images[0]))["probabilities"].numpy()   # one image
    np.testing.assert_allclose(single, keras_probabilities(model, images[:1]), atol=1e-5)
    empty = serve(images=tf.zeros((0, 28, 28), tf.uint8))
    assert empty["probabilities"].shape == (0, 10) and empty["class_name"].shape == (0,)
    many = np.resize(images, (1000, 28, 28))
    large = serve(images=tf.constant(many))["probabilities"].numpy()
    np.testing.assert_allclose(large, keras_probabilities(model, many), atol=1e-5)


def test_eight_threads_on_one_model_get_one_thread_s_outputs(trained, tmp_path):
    from fmnist_keras.deploy.latency import concurrent_calls

    model, images = trained
    serve = tf.saved_model.load(str(export_for_serving(model, INFO, "m", base_dir=tmp_path))) \
        .signatures["serving_default"]
    alone = serve(images=tf.constant(images))["probabilities"].numpy()
    result = concurrent_calls(serve, tf.constant(images), threads=8, calls=1000)
    assert len(result["outputs"]) == 8 and result["calls_per_s"] > 0
    for outputs in result["outputs"]:
        np.testing.assert_array_equal(outputs, alone)


@pytest.mark.slow
def test_predict_script_on_a_png_and_a_bad_file(trained, tmp_path):
    model, images = trained
    exported = export_for_serving(model, INFO, "m", base_dir=tmp_path)
    png = tmp_path / "trouser.png"
    Image.fromarray(255 - np.kron(images[0], np.ones((3, 3), np.uint8))).convert("RGB").save(png)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    script = str(ROOT / "scripts" / "predict.py")
    result = subprocess.run([sys.executable, script, "--saved-model", str(exported), str(png)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    name, class_name, probability = result.stdout.strip().splitlines()[-1].split("\t")
    assert name == str(png) and class_name in INFO.class_names and 0 < float(probability) <= 1
    result = subprocess.run([sys.executable, script, "--saved-model", str(exported), str(broken)],
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
