"""The results table shared by all runs (CSV through pandas) and its Markdown form."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

# The references' columns, in their order, with their headings.
MARKDOWN_COLUMNS = {
    "network": "Network",
    "trainable_params": "Params (trainable)",
    "storage_mb": "Storage (MB)",
    "train_accuracy": "Training accuracy",
    "val_accuracy": "Validation accuracy",
    "test_accuracy": "Test accuracy",
    "epochs": "Epochs",
    "time_per_epoch_s": "Training time per epoch (s)",
    "inference_ms_batch1": "Inference time, batch 1 (ms)",
    "batch_size": "Batch size",
    "recipe": "Recipe",
    "seed": "Seed",
}


def append_row(table_path, row: dict) -> None:
    """Appends a row, widening the columns if needed; written through a temporary
    file and a rename so an interrupted write never truncates the table."""
    table_path = Path(table_path)
    table_path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(table_path) if table_path.exists() else pd.DataFrame()
    # Nested values (results.json's "resolved" settings) become resolved_<key> columns.
    frame = pd.concat([frame, pd.json_normalize([row], sep="_")], ignore_index=True)
    partial = table_path.with_suffix(".csv.partial")
    frame.to_csv(partial, index=False)
    os.replace(partial, table_path)


def to_markdown(frame: pd.DataFrame) -> str:
    """The references' results table: their columns, accuracies as fractions to 4 places."""
    columns = [c for c in MARKDOWN_COLUMNS if c in frame]
    lines = ["| " + " | ".join(MARKDOWN_COLUMNS[c] for c in columns) + " |",
             "|" + " --- |" * len(columns)]
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if isinstance(value, float):
                value = f"{value:,.0f}" if column == "trainable_params" else f"{value:.4g}"
            elif column == "trainable_params":
                value = f"{value:,}"
            cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def epoch_comparison(histories: dict[str, pd.DataFrame], reference: pd.DataFrame) -> str:
    """Per-epoch test accuracy of runs (``history.csv`` with ``test_accuracy``) beside a
    reference's (a CSV with ``epoch`` and ``test_accuracy``), as Markdown."""
    names = list(histories)
    lines = ["| epoch | reference | " + " | ".join(names) + " |",
             "| ---: | ---: |" + " ---: |" * len(names)]
    for _, ref in reference.iterrows():
        epoch = int(ref["epoch"])
        cells = []
        for name in names:
            rows = histories[name][histories[name]["epoch"] == epoch]
            cells.append(f"{rows['test_accuracy'].iloc[0]:.4f}" if len(rows) else "")
        lines.append(f"| {epoch + 1} | {ref['test_accuracy']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


SEED_COLUMNS = {
    "seed": "seed",
    "selected_epoch": "selected epoch (validation)",
    "test_accuracy": "test accuracy, selected model",
    "last_epoch_test_accuracy": "test accuracy, last epoch",
    "training_minutes": "training minutes",
}


def seed_summary(results: list[dict], threshold: float | None = None) -> str:
    """Markdown: one row per run (its ``results.json``) and a median row, plus how many
    runs reach ``threshold`` at the last epoch."""
    frame = pd.DataFrame(results)
    missing = [c for c in SEED_COLUMNS if c not in frame or frame[c].isna().any()]
    if missing:
        raise ValueError(f"results lack {', '.join(missing)}; the last-epoch test accuracy "
                         "needs runs trained with --log-test-accuracy.")
    frame = frame[list(SEED_COLUMNS)].sort_values("seed")
    lines = ["| " + " | ".join(SEED_COLUMNS.values()) + " |", "|" + " ---: |" * len(SEED_COLUMNS)]
    for _, row in frame.iterrows():
        lines.append(f"| {row['seed']:.0f} | {row['selected_epoch']:.0f} | {row['test_accuracy']:.4f} "
                     f"| {row['last_epoch_test_accuracy']:.4f} | {row['training_minutes']:.1f} |")
    median = frame.median()
    lines.append(f"| median | | {median['test_accuracy']:.4f} "
                 f"| {median['last_epoch_test_accuracy']:.4f} | {median['training_minutes']:.1f} |")
    text = "\n".join(lines) + "\n"
    if threshold is not None:
        reached = int((frame["last_epoch_test_accuracy"] >= threshold).sum())
        text += (f"\n{reached} of {len(frame)} runs reach {threshold:.2%} or more at the "
                 f"last epoch (lowest {frame['last_epoch_test_accuracy'].min():.4f}).\n")
    return text
