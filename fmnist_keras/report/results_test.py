import json

import pandas as pd
import pytest

from fmnist_keras.cli.report import main as report_main
from fmnist_keras.report.results import append_row, epoch_comparison, results_page, seed_summary
from fmnist_keras.train.engine import train


def test_results_page_has_medians_every_run_with_its_command_and_curves(
        tmp_path, data_dir, tiny_config, root):
    table = tmp_path / "results.csv"
    for seed in (0, 1, 2):
        row = train(tiny_config(epochs=2, seed=seed), tmp_path / f"run{seed}",
                    data_dir=data_dir, verbose=False)
        append_row(table, {**row, "command": f"python scripts/train.py --seed {seed}"})
    runs = pd.read_csv(table)
    assert runs["resolved_mixed_precision"].tolist() == [False] * 3
    report_main(["--results-table", str(table), "--references",
                 str(root / "results" / "references.csv"), "--out", str(tmp_path / "results.md"),
                 "--curves-dir", str(tmp_path / "curves")])
    page = (tmp_path / "results.md").read_text()
    median = runs["test_accuracy"].median()
    spread = f"{runs['test_accuracy'].min():.4f}-{runs['test_accuracy'].max():.4f}, n=3"
    assert f"| `mnist_final` | mnist_net | 860 | 0, 1, 2 | {median:.4f} ({spread}) |" in page
    for seed in (0, 1, 2):
        assert f"`python scripts/train.py --seed {seed}` |" in page
    assert "| mnist_final | 7,864 | 0.9948 | 15 | 128 |" in page      # a reference row
    assert (tmp_path / "curves" / "run0.png").stat().st_size > 1000


def test_results_page_needs_the_command_column():
    with pytest.raises(ValueError, match="lacks the column\\(s\\) \\['command'\\]"):
        results_page(pd.DataFrame({"recipe": ["r"], "seed": [0]}), pd.DataFrame())


def test_epoch_comparison_puts_runs_beside_the_reference():
    reference = pd.DataFrame({"epoch": [0, 1], "test_accuracy": [0.97, 0.98]})
    run = pd.DataFrame({"epoch": [0, 1], "test_accuracy": [0.975, 0.9912]})
    lines = epoch_comparison({"seed0": run}, reference).splitlines()
    assert lines[0] == "| epoch | reference | seed0 |"
    assert lines[2:] == ["| 1 | 0.9700 | 0.9750 |", "| 2 | 0.9800 | 0.9912 |"]


def test_seed_summary_counts_runs_at_the_threshold(tmp_path):
    rows = [{"seed": seed, "selected_epoch": 15, "test_accuracy": acc,
             "training_minutes": 5.0, "last_epoch_test_accuracy": acc}
            for seed, acc in [(1, 0.9950), (0, 0.9938), (2, 0.9944)]]
    for index, row in enumerate(rows):
        (tmp_path / f"run{index}").mkdir()
        (tmp_path / f"run{index}" / "results.json").write_text(json.dumps(row))
    out = tmp_path / "seeds.md"
    report_main(["--seeds", *(str(tmp_path / f"run{i}") for i in range(3)),
                 "--threshold", "0.994", "--out", str(out)])
    lines = out.read_text().splitlines()
    assert lines[2] == "| 0 | 15 | 0.9938 | 0.9938 | 5.0 |"
    assert lines[5] == "| median | | 0.9944 | 0.9944 | 5.0 |"
    assert lines[-1] == "2 of 3 runs reach 99.40% or more at the last epoch (lowest 0.9938)."
    del rows[0]["last_epoch_test_accuracy"]
    with pytest.raises(ValueError, match="needs runs trained with --log-test-accuracy"):
        seed_summary(rows)
