"""keras-tuner's chief/worker mode on loopback: one chief, two workers, bounded."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_chief_and_two_workers_share_one_search(tmp_path):
    directory = tmp_path / "search"
    command = [sys.executable, str(ROOT / "scripts" / "search.py"), "--family", "mnist",
               "--budget", "8k", "--tuner", "random", "--max-trials", "4", "--epochs", "1",
               "--max-train-samples", "256", "--validation-size", "128", "--batch-size", "64",
               "--directory", str(directory)]
    port = str(free_port())
    processes = {}
    for tuner_id in ("chief", "tuner0", "tuner1"):
        env = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id,
               "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
        processes[tuner_id] = subprocess.Popen(
            command, env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
    outputs = {}
    try:
        for tuner_id, process in processes.items():
            outputs[tuner_id] = process.communicate(timeout=400)[0]
    finally:
        for process in processes.values():
            process.kill()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id}: {outputs[tuner_id][-3000:]}"
    table = pd.read_csv(directory / "trials.csv")
    assert len(table) == 4 and (table["status"] == "COMPLETED").all()
    assert (table["trainable_params"] <= 8000).all()
    # Both workers took part: each worker's tuner saves its own state file.
    assert (directory / "trials" / "tuner0.json").is_file()
    assert (directory / "trials" / "tuner1.json").is_file()
    assert (directory / "best_run" / "best.keras").is_file()
