"""PNG figures: the data look (class distributions, sample grids) and training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def class_distribution(labels_by_part: dict[str, np.ndarray], class_names, title, path) -> Path:
    """One bar chart per part (train, test) of the number of images per class."""
    figure, axes = plt.subplots(1, len(labels_by_part), figsize=(6 * len(labels_by_part), 4))
    for axis, (part, labels) in zip(np.atleast_1d(axes), labels_by_part.items()):
        counts = np.bincount(labels, minlength=len(class_names))
        axis.bar(range(len(class_names)), counts)
        axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
        axis.set_title(f"{title}: {part} ({len(labels):,} images)")
        axis.set_ylabel("images")
    return _save(figure, path)


def sample_grid(images, labels, class_names, path, per_class: int = 8, seed: int = 0) -> Path:
    """A grid with one row per class and ``per_class`` random images of it."""
    rng = np.random.default_rng(seed)
    figure, axes = plt.subplots(len(class_names), per_class,
                                figsize=(per_class * 0.9, len(class_names) * 0.95))
    for row, name in enumerate(class_names):
        chosen = rng.choice(np.flatnonzero(labels == row), per_class, replace=False)
        for column, index in enumerate(chosen):
            axis = axes[row, column]
            axis.imshow(images[index], cmap="gray_r")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    return _save(figure, path)


def training_curves(history: pd.DataFrame, title: str, path) -> Path:
    """Accuracy and loss per epoch for train, validation (and test where logged)."""
    figure, (accuracy_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = history["epoch"] + 1
    for prefix, label in (("", "train"), ("val_", "validation"), ("test_", "test")):
        if f"{prefix}accuracy" in history:
            accuracy_axis.plot(epochs, history[f"{prefix}accuracy"], label=label)
        if f"{prefix}loss" in history:
            loss_axis.plot(epochs, history[f"{prefix}loss"], label=label)
    for axis, name in ((accuracy_axis, "accuracy"), (loss_axis, "loss")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.set_title(f"{title}: {name}")
        axis.legend()
        axis.grid(alpha=0.3)
    return _save(figure, path)


def frontier(frame: pd.DataFrame, public: pd.DataFrame, threshold: float, title: str,
             path, accuracy_label: str = "test accuracy at the last epoch") -> Path:
    """Parameters (log scale) against test accuracy: each recipe's median over seeds
    with a bar down to its worst seed, the public results as crosses, the target line."""
    figure, axis = plt.subplots(figsize=(8, 5))
    axis.errorbar(frame["total_params"], frame["median"],
                  yerr=[frame["median"] - frame["minimum"], 0 * frame["median"]],
                  fmt="o", capsize=3, label="this project: median, bar to the worst seed")
    for recipe, row in frame.iterrows():
        axis.annotate(recipe, (row["total_params"], row["median"]), fontsize=7,
                      xytext=(4, 4), textcoords="offset points")
    axis.scatter(public["total_params"], public["test_accuracy"], marker="x", color="black",
                 label="public results (single runs)")
    axis.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xlabel("parameters (Keras' count, BN statistics included)")
    axis.set_ylabel(accuracy_label)
    axis.set_title(title)
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
    return _save(figure, path)


def confusion_matrix(matrix, class_names, path) -> Path:
    """A confusion matrix (rows: true class, columns: predicted) with its counts."""
    figure, axis = plt.subplots(figsize=(7, 6))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, column), count in np.ndenumerate(matrix):
        axis.text(column, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > matrix.max() / 2 else "black")
    figure.colorbar(image)
    return _save(figure, path)


def _save(figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
