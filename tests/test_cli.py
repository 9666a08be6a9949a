"""The command line end to end, in separate processes (slow)."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_script(root, script, *args, cwd, env=None):
    return subprocess.run([sys.executable, str(root / "scripts" / f"{script}.py"), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, **(env or {})})


def test_mirrored_strategy_on_two_logical_cpus(root, tmp_path):
    result = run_script(root, "train", "--arch", "mnist_net", "--recipe", "mnist_final",
                        "--epochs", "1", "--max-train-samples", "256", "--validation-size",
                        "128", "--distribute", "mirrored", "--cpu-devices", "2",
                        "--steps-per-execution", "1",
                        "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (results["replicas"], results["epochs"]) == (2, 1)
    for noise in ("oneDNN", "cuda", "cuInit", "absl::InitializeLog"):   # quiet all run long
        assert noise not in result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()
            if line.startswith("epoch ")] == ["epoch 1/1"]


@pytest.mark.parametrize("args, message", [
    (["--arch", "resnet50"], "invalid choice: 'resnet50' (choose from 'densenet_bc100_k12'"),
    (["--arch", "mnist_final", "--recipe", "imagenet"], "invalid choice: 'imagenet'"),
    (["--arch", "mnist_final", "--milestones", "5"], "milestones (--milestones) = [5] is not "
     "accepted; expected milestones with --schedule multistep only"),
    (["--arch", "mnist_final", "--cutout-size", "8"], "--cutout-size needs cutout in --augment"),
    (["--arch", "mnist_final", "--augment", "mixup"], "augment (--augment) = 'mixup'"),
    (["--arch", "mnist_final", "--epochs", "0"], "epochs (--epochs) = 0 is not accepted; "
     "expected an integer >= 1."),
    (["--arch", "mnist_final", "--batch-size", "0"], "batch_size (--batch-size) = 0"),
    (["--arch", "mnist_final", "--distribute", "mirrored", "--steps-per-execution", "8"],
     "steps_per_execution 8 fails under --distribute mirrored (Keras 3.15); pass "),
    (["--arch", "mnist_final", "--lr", "-1"], "lr (--lr) = -1.0 is not accepted; expected "
     "a finite number > 0.0."),
    (["--arch", "mnist_final", "--stop-after", "0"], "--stop-after 0.0: give minutes > 0"),
])
def test_bad_command_lines_are_one_line_before_any_data(root, tmp_path, args, message):
    result = run_script(root, "train", *args, "--data-dir", str(tmp_path / "nowhere"),
                        cwd=tmp_path, env={"FMNIST_KERAS_DATA": str(tmp_path / "nowhere")})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1]
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_missing_data_is_one_line(tmp_path):
    env_args = ["--arch", "mnist_final", "--data-dir", str(tmp_path / "nowhere")]
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from fmnist_keras.data import sources; "
         "sources._download = lambda info: (_ for _ in ()).throw(OSError('offline')); "
         "from fmnist_keras.cli import run; run('train', sys.argv[1:])", *env_args],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1        # TensorFlow's start-up is quiet
    assert result.stderr.startswith("error: mnist not found; looked in: ")
    assert "nowhere/mnist (--data-dir)" in result.stderr
    assert "download failed: OSError: offline" in result.stderr


def test_module_entry_point_lists_the_commands(root, tmp_path):
    result = subprocess.run([sys.executable, "-m", "fmnist_keras"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0
    for command in ("train", "export", "benchmark-inference", "predict", "search"):
        assert f"  {command} " in result.stdout
    help_text = subprocess.run([sys.executable, "-m", "fmnist_keras", "train", "--help"],
                               capture_output=True, text=True, cwd=tmp_path, timeout=120)
    for group in ("model (config):", "augmentation (config):", "schedule (config):"):
        assert group in help_text.stdout
    assert "--rotation-degrees" in help_text.stdout and "--erase-probability" in help_text.stdout


def test_predict_takes_a_pretrained_name(root, tmp_path, data_dir):
    result = run_script(root, "predict", "--model", "mnist_8k",
                        str(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz"), "--limit", "5",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [line.split("\t")[1] for line in result.stdout.splitlines()] == \
        ["7", "2", "1", "0", "4"]          # the first five MNIST test digits
    unknown = run_script(root, "predict", "--model", "nope", "x.png", cwd=tmp_path)
    assert unknown.returncode == 2 and "No pretrained model 'nope'; known: " in unknown.stderr


def test_benchmark_training_merges_builder_arguments_into_the_recipe():
    from fmnist_keras.cli import benchmark_training

    args = benchmark_training.build_parser().parse_args(
        ["--recipe", "speedrun94", "--model-arg", "stem_pool=false",
         "--model-arg", "widths=[32,64,128]"])
    config = benchmark_training.config_from_args(args)
    assert config.model_kwargs == {"stem_width": 18, "stem_pool": False, "widths": [32, 64, 128]}
    assert (config.batch_size, config.recipe) == (256, "speedrun94")
