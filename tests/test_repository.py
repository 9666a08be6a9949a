"""What the repository keeps: a run directory under results/runs/ travels with a commit
(so it resumes on a fresh clone), all but its event logs and half-written files."""

import shutil
import subprocess

import pytest

KEPT_RUN = "results/runs/resnet14s_flip_seed0"
IGNORED = {
    f"{KEPT_RUN}/tensorboard/train/events.out.tfevents.1": True,
    f"{KEPT_RUN}/last.partial.keras": True,
    "runs/mnist_4k_seed0/config.yaml": True,        # ordinary runs stay local
    f"{KEPT_RUN}/config.yaml": False,
    f"{KEPT_RUN}/starts.json": False,
    f"{KEPT_RUN}/history.csv": False,
    f"{KEPT_RUN}/best.keras": False,
    f"{KEPT_RUN}/last.keras": False,
    f"{KEPT_RUN}/backup/latest.weights.h5": False,
    f"{KEPT_RUN}/backup/training_metadata.json": False,
}


def test_kept_run_directories_are_committed_but_for_event_logs(root):
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("needs a git checkout")
    result = subprocess.run(["git", "check-ignore", "--no-index", *IGNORED], cwd=root,
                            capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    ignored = set(result.stdout.split())
    assert {path: path in ignored for path in IGNORED} == IGNORED
