import json

import pandas as pd
import pytest

from fmnist_keras.cli.report import main as report_main
from fmnist_keras.report.results import (
    append_row,
    epoch_comparison,
    frontier_table,
    results_page,
    seed_summary,
)
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


def test_results_page_gives_each_test_time_augmentation_its_column():
    runs = pd.DataFrame({"recipe": ["speed"] * 2, "seed": [0, 1], "command": ["c0", "c1"],
                         "network": ["resnet8"] * 2, "trainable_params": [10] * 2,
                         "train_accuracy": [0.95] * 2, "val_accuracy": [float("nan")] * 2,
                         "test_accuracy": [0.937, 0.939], "selected_epoch": [15] * 2,
                         "epochs": [15] * 2, "time_per_epoch_s": [40.0] * 2,
                         "training_minutes": [10.0] * 2,
                         "test_accuracy_flip_tta": [0.938, 0.940],
                         "test_accuracy_flip_shift_tta": [0.9400, 0.9420]})
    page = results_page(runs, pd.DataFrame(columns=["network", "trainable_params",
                                                      "test_accuracy", "epochs", "batch_size",
                                                      "split", "selection", "source"]))
    assert ("| `speed` | resnet8 | 10 | 0, 1 | 0.9380 (0.9370-0.9390, n=2) |  |  | "
            "0.9390 (0.9380-0.9400, n=2) | 0.9410 (0.9400-0.9420, n=2) | 15 | 10.0 |") in page


def test_minutes_come_from_the_runs_that_had_the_cpu_to_themselves():
    runs = pd.DataFrame({"recipe": ["mixed"] * 2 + ["beside"] * 2, "seed": [0, 1] * 2,
                         "command": ["c0", "c1", "c2", "c3"], "network": ["n"] * 4,
                         "trainable_params": [10] * 4, "total_params": [12] * 4,
                         "dataset": ["mnist"] * 4, "train_accuracy": [0.99] * 4,
                         "val_accuracy": [0.99] * 4, "test_accuracy": [0.994] * 4,
                         "selected_epoch": [15] * 4, "epochs": [15] * 4,
                         "time_per_epoch_s": [10.0, 20.0, 30.0, 40.0],
                         "training_minutes": [2.5, 5.0, 7.5, 9.5],
                         "cpu_share_others": [0.01, 0.5, 0.5, float("nan")]})
    page = results_page(runs, pd.DataFrame(columns=["network", "trainable_params",
                                                      "test_accuracy", "epochs", "batch_size",
                                                      "split", "selection", "source"]))
    assert "| 15 | 2.5 |" in page.split("## Every run")[0]             # the shared run left out
    assert "| 15 | 9.5 |" in page.split("## Every run")[0]             # no figure: not shared
    assert "| 20.0 (shared CPU) | `c1` |" in page and "| 10.0 | `c0` |" in page
    _, markdown = frontier_table(runs.assign(cpu_share_others=[0.01, 0.5, 0.5, 0.2]),
                                 pd.DataFrame(columns=["model", "total_params", "test_accuracy",
                                                       "runs", "selection", "source"]),
                                 "mnist", threshold=0.994)
    assert "| yes | 2.5 | `c0` |" in markdown
    assert "| yes | 8.5 (shared CPU) | `c2` |" in markdown


def test_each_reproduced_reference_sits_beside_the_runs_of_its_recipe():
    runs = pd.DataFrame({"recipe": ["toy_cnn"] * 2 + ["other"], "seed": [1, 0, 0],
                         "command": ["c1", "c0", "c2"], "network": ["toy_cnn"] * 3,
                         "trainable_params": [10] * 3, "train_accuracy": [0.96, 0.95, 0.9],
                         "val_accuracy": [0.91] * 3, "test_accuracy": [0.912, 0.914, 0.5],
                         "best_test_accuracy_reference_style": [0.915, 0.916, 0.5],
                         "last_epoch_test_accuracy": [0.911, 0.913, 0.5],
                         "selected_epoch": [9] * 3, "epochs": [10] * 3,
                         "time_per_epoch_s": [40.0, 44.0, 1.0],
                         "training_minutes": [7.0] * 3,
                         "resolved_mixed_precision": [False, False, True],
                         "cpu_share_others": [0.01, 0.5, 0.0]})
    references = pd.DataFrame({
        "network": ["toy_cnn", "resnet14", "resnet14", "wrn28_10"],
        "trainable_params": [10, 20, 20, 30], "test_accuracy": [0.921, 0.941, 0.91, 0.93],
        "epochs": [10, 43, float("nan"), 200], "batch_size": [4, 4, 128, 256],
        "split": ["standard"] * 4, "selection": [""] * 4, "source": ["notes"] * 4,
        "reproduced_by": ["toy_cnn", "resnet14", "resnet14 --batch-size 128", float("nan")]})
    page = results_page(runs, references)
    reproduced = page.split("## The references' results beside ours")[1]
    assert ("| toy_cnn, batch 4: 0.9210 (epoch 10) | `toy_cnn` | 0, 1 | "
            "0.9130 (0.9120-0.9140, n=2) | 0.9155 (0.9150-0.9160, n=2) | "
            "0.9120 (0.9110-0.9130, n=2) | 0.9550 (0.9500-0.9600, n=2) | float32 | 40.0 |"
            ) in reproduced                     # seconds per epoch from the unshared run
    assert "| resnet14, batch 4: 0.9410 (epoch 43) | `resnet14` | not run yet |" in reproduced
    assert ("| resnet14, batch 128: 0.9100 (epoch not stated) | `resnet14 --batch-size 128` | "
            "not run yet |") in reproduced
    assert "| resnet14 | 20 | 0.9100 | not stated | 128 |" in page
    assert "wrn28_10" not in reproduced


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


def test_frontier_has_median_and_worst_seed_at_the_last_epoch_and_the_public_marks(
        tmp_path, root):
    runs = pd.DataFrame({
        "recipe": ["small"] * 3 + ["selected"] * 2 + ["fashion"],
        "dataset": ["mnist"] * 5 + ["fashion_mnist"],
        "seed": [0, 1, 2, 0, 1, 0], "total_params": [3700] * 3 + [7500] * 2 + [9],
        "trainable_params": [3500] * 3 + [7300] * 2 + [9],
        "test_accuracy": [0.9941, 0.9950, 0.9944, 0.99, 0.99, 0.9],
        "selected_epoch": [15, 15, 15, 8, 8, 1], "epochs": [15] * 5 + [1],
        "last_epoch_test_accuracy": [None] * 3 + [0.9952, 0.9938] + [None],
        "training_minutes": [2.0, 3.0, 4.0, 5.0, 5.0, 1.0],
        "command": [f"python scripts/train.py --recipe small --seed {s}" for s in (0, 1, 2)]
        + ["python scripts/train.py --recipe selected --seed 0"] * 2 + ["x"]})
    table = tmp_path / "results.csv"
    runs.to_csv(table, index=False)
    out, plot = tmp_path / "frontier.md", tmp_path / "frontier.png"
    report_main(["--results-table", str(table), "--frontier", "mnist", "--threshold", "0.994",
                 "--public", str(root / "results" / "mnist_public_frontier.csv"),
                 "--out", str(out), "--plot", str(plot)])
    lines = out.read_text().splitlines()
    assert lines[2] == ("| `small` | 3,700 | 3,500 | 3 | 0.9944 | 0.9941 | yes | 3.0 | "
                        "`python scripts/train.py --recipe small --seed S` |")
    assert lines[3].startswith("| `selected` | 7,500 | 7,300 | 2 | 0.9945 | 0.9938 | no |")
    report_main(["--results-table", str(table), "--frontier", "mnist", "--threshold", "0.994",
                 "--frontier-accuracy", "evaluated",
                 "--public", str(root / "results" / "mnist_public_frontier.csv"),
                 "--out", str(out), "--plot", str(plot)])
    # The evaluated model's accuracy: the selected epoch's where it was not the last.
    assert out.read_text().splitlines()[3].startswith(
        "| `selected` | 7,500 | 7,300 | 2 | 0.9900 | 0.9900 | no |")
    assert "fashion" not in out.read_text().split("Public")[0]
    assert "| 4.8k-parameter CNN | 4,862 | 0.9907 |" in out.read_text()
    assert plot.stat().st_size > 1000


def test_frontier_keeps_the_results_tables_order_among_equal_sizes():
    # Recipes of one net at one size: the page must not reshuffle them when a row is added.
    names = [f"recipe_{index:02d}" for index in range(40)]
    runs = pd.DataFrame({
        "recipe": names, "dataset": "fashion_mnist", "seed": 0,
        "total_params": [698_282] * 39 + [309_418], "trainable_params": 696_042,
        "test_accuracy": 0.95, "selected_epoch": 1, "epochs": 1, "training_minutes": 1.0,
        "command": [f"python scripts/train.py --recipe {name}" for name in names]})
    frame, _ = frontier_table(runs, pd.DataFrame(), "fashion_mnist", threshold=0.96)
    assert frame.index.tolist() == names[-1:] + names[:-1]


def test_a_searchs_trials_read_best_first_with_their_fidelity_and_cost(tmp_path):
    common = {"transition": True, "dropout": 0.05, "train_images": 55000,
              "trainable_params": 3731, "total_params": 3909, "storage_mb": 0.0149,
              "within_budget": True}
    trials = pd.DataFrame([
        {"trial": "0000", "status": "COMPLETED", "taper": 0.84, **common, "epochs": 2,
         "minutes": 1.0598, "model_kwargs": json.dumps({"plan": ["c16", "p", "t24"]}),
         "val_accuracy": 0.9876},
        {"trial": "0001", "status": "FAILED", "taper": 1.5, **common, "epochs": 2,
         "minutes": None, "model_kwargs": json.dumps({"widths": [48, 80]}),
         "val_accuracy": None},
        {"trial": "0002", "status": "COMPLETED", "taper": 0.84, **common, "epochs": 5,
         "minutes": 1.4115, "model_kwargs": json.dumps({"plan": ["c16", "p", "t24"]}),
         "val_accuracy": 0.9896}])
    trials.to_csv(tmp_path / "trials.csv", index=False)
    out = tmp_path / "trials.md"
    report_main(["--trials", str(tmp_path / "trials.csv"), "--out", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0] == ("| trial | taper | transition | dropout | model | epochs | images | "
                        "minutes | params (total) | MB | hold-out (best epoch) |")
    assert lines[2] == ("| 0002 | 0.84 | yes | 0.05 | plan c16 p t24 | 5 | 55,000 | 1.41 | "
                        "3,731 (3,909) | 0.0149 | 0.9896 |")
    assert lines[3].startswith("| 0000 |")
    assert lines[4].endswith("| widths 48, 80 | 2 | 55,000 |  | 3,731 (3,909) | 0.0149 | failed |")
