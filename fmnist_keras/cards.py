"""Model cards: what an exported model is, how good and fast it is, how to remake it."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from fmnist_keras import augment, data  # noqa: E402
from fmnist_keras.models.analysis import parameter_counts  # noqa: E402


def confusion_matrix(labels, predictions, num_classes) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def plot_confusion(matrix, class_names, path) -> Path:
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
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def write_model_card(run_dir, model_dir, command: str, benchmark_json=None, data_dir=None) -> Path:
    """Writes ``model_dir/README.md`` and ``model_dir/confusion_matrix.png``.

    ``model_dir`` is ``saved_models/NAME`` (TF Serving ignores non-numeric entries);
    the figures come from the run's selected model on the full test set and from
    ``benchmark_json`` (``scripts/benchmark_inference.py --json``) when given.
    """
    run_dir, model_dir = Path(run_dir), Path(model_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    history = pd.read_csv(run_dir / "history.csv")
    model = keras.saving.load_model(run_dir / "best.keras")
    splits = data.load_splits(config["dataset"], config["split"], config["validation_size"],
                              config["seed"], data_dir)
    test = augment.make_dataset(splits.x_test, splits.y_test, splits.info, 500)
    predictions = model.predict(test, verbose=0).argmax(axis=1)
    matrix = confusion_matrix(splits.y_test, predictions, splits.info.num_classes)
    plot_confusion(matrix, splits.info.class_names, model_dir / "confusion_matrix.png")
    per_class = matrix.diagonal() / matrix.sum(axis=1)
    counts = parameter_counts(model)

    lines = [
        f"# {model_dir.name}",
        "",
        f"`{config['arch']}` ({json.dumps(config['model_kwargs']) if config['model_kwargs'] else 'preset'})"
        f" trained on {config['dataset']} ({config['split']} split, {results['train_examples']:,} "
        f"training images, {config['validation_size']:,} held out for model selection).",
        "",
        "| | |",
        "| --- | --- |",
        f"| trainable parameters | {counts.trainable:,} |",
        f"| parameters with BN statistics (Keras) | {counts.total:,} |",
        f"| float32 storage | {counts.storage_mb:.4f} MB |",
        f"| test accuracy (selected epoch {results['selected_epoch']}, evaluated once) | "
        f"{results['test_accuracy']:.4f} |",
        f"| validation accuracy (selected) | {results['val_accuracy']:.4f} |",
        f"| epochs | {results['epochs']} |",
        f"| training time | {history['epoch_time_s'].sum() / 60:.1f} min on this CPU "
        f"({results['time_per_epoch_s']:.1f} s per epoch) |",
        f"| batch-1 latency, Keras graph (p50, training run) | {results['inference_ms_batch1']:.3f} ms |",
    ]
    if benchmark_json:
        bench = json.loads(Path(benchmark_json).read_text())
        for row in bench["rows"]:
            lines.append(f"| batch-1 latency, {row['format']} (p50 / p99) | "
                         f"{row['p50_ms']:.3f} / {row['p99_ms']:.3f} ms ({row['device']}) |")
    if "last_epoch_test_accuracy" in results:
        lines.append(f"| test accuracy at the last epoch (logged for comparison only) | "
                     f"{results['last_epoch_test_accuracy']:.4f} |")
    lines += ["", "## Recipe", "", "```yaml", yaml.safe_dump(config, sort_keys=False).strip(),
              "```", "", "## Reproduce", "", "```bash", command, "```", "",
              "## Per-class test accuracy", "", "| class | accuracy |", "| --- | ---: |"]
    lines += [f"| {name} | {accuracy:.4f} |"
              for name, accuracy in zip(splits.info.class_names, per_class)]
    lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
    path = model_dir / "README.md"
    path.write_text("\n".join(lines))
    return path
