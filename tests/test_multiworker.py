"""MultiWorkerMirroredStrategy on loopback: two worker processes, bounded in steps."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fmnist_keras.train.rundir import RunDir

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_workers_train_in_sync(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    run_dir = tmp_path / "run"
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--arch", "mnist_net",
               "--recipe", "mnist_final", "--model-arg", "channels=[4,4,4,4,4,4,4]",
               "--epochs", "2", "--batch-size", "64", "--max-train-samples", "512",
               "--validation-size", "128", "--distribute", "multiworker",
               "--max-steps-per-epoch", "3", "--run-dir", str(run_dir)]
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(command, env=env, cwd=tmp_path, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=240)[0])
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert (history["replicas"] == 2).all()
    assert history["loss"].notna().all()
    assert (run_dir / "last.keras").is_file()
    # The workers agree: every weight of worker 1's last checkpoint equals the chief's
    # (gradients were all-reduced, so the replicas took the same steps). BN moving
    # statistics are per replica (ON_READ variables, averaged when read), so they differ.
    chief = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    worker = tf.train.load_checkpoint(str(run_dir / "scratch_worker1"))
    keys = [key for key in chief.get_variable_to_shape_map()
            if "_trainable_variables" in key or "/kernel/" in key or "/gamma/" in key]
    assert len(keys) > 10
    for key in keys:
        np.testing.assert_array_equal(chief.get_tensor(key), worker.get_tensor(key), err_msg=key)
    run = RunDir(run_dir)       # a run directory like any other: export finds its dataset
    assert run.dataset_info().name == "mnist" and run.read_config()["recipe"] == "mnist_final"
