"""Model cards: what an exported model is, how good and fast it is, how to remake it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from fmnist_keras.data.pipeline import make_dataset
from fmnist_keras.data.sources import load_splits
from fmnist_keras.models.analysis import parameter_counts
from fmnist_keras.report import plots
from fmnist_keras.timing import shared_cpu
from fmnist_keras.train.rundir import RunDir

RECIPE_HEADING = "## Recipe\n\n```yaml\n"


def shared_cpu_note(share) -> str:
    """Where other processes took a tenth of the CPU or more during training (a run's
    mean ``cpu_share_others``), the clause a card puts beside the times the training
    run measured (its epochs and its batch-1 latency), which are then not this model's
    alone; empty for a run alone, or without the figure (None or NaN: recorded before
    the column, or off Linux)."""
    if not shared_cpu(share):
        return ""
    return f"other processes took {share:.0%} of the CPU meanwhile"


def count_confusions(labels, predictions, num_classes) -> np.ndarray:
    """Counts of (true class, predicted class) pairs."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def accuracy_rows(checkpoint, results, history, test_accuracy) -> list[str]:
    """The card's accuracy rows for the exported checkpoint; ``test_accuracy`` is the
    card's own evaluation of it."""
    if checkpoint == "best":
        return [f"| test accuracy (selected epoch {results['selected_epoch']}, evaluated once) "
                f"| {test_accuracy:.4f} |",
                f"| validation accuracy (selected) | {results['val_accuracy']:.4f} |"]
    rows = [f"| test accuracy (last epoch, {results['epochs']}; no selection) "
            f"| {test_accuracy:.4f} |"]
    last_val = history["val_accuracy"].iloc[-1] if "val_accuracy" in history else np.nan
    if not np.isnan(last_val):      # a run that held nothing out has no such score
        rows.append(f"| validation accuracy (last epoch) | {last_val:.4f} |")
    return rows


def read_recipe(model_dir) -> dict:
    """The training config a model card (``model_dir/README.md``) records, as the run
    saved it (`write_model_card`'s "Recipe" section).

    Raises:
        ValueError: when the folder has no model card with that section.
    """
    card = Path(model_dir) / "README.md"
    text = card.read_text() if card.is_file() else ""
    start = text.find(RECIPE_HEADING)
    if start < 0:
        raise ValueError(f"{str(model_dir)!r} has no model card with its recipe ({card}); "
                         "export it with scripts/export.py, which writes one.")
    block = text[start + len(RECIPE_HEADING):].split("```", 1)[0]
    return yaml.safe_load(block)


def write_model_card(run_dir, model_dir, command: str, benchmark_json=None, data_dir=None,
                     checkpoint: str | None = None) -> Path:
    """Writes ``model_dir/README.md`` and ``model_dir/confusion_matrix.png``.

    ``model_dir`` is ``saved_models/NAME`` (TF Serving ignores non-numeric entries);
    the figures come from the run's exported checkpoint on the full test set and from
    ``benchmark_json`` (``scripts/benchmark_inference.py --json``) when given.
    ``checkpoint`` is the exported one: ``best`` (selected on validation) or ``last``
    (the last epoch, for goals stated at the last epoch); by default the run's own.
    """
    run, model_dir = RunDir(run_dir), Path(model_dir)
    config, results, history = run.read_config(), run.results(), run.history()
    selected = run.selected_checkpoint()
    checkpoint = checkpoint or selected
    model = run.load_model(checkpoint)
    splits = load_splits(config["dataset"], config["split"], config["validation_size"],
                         config["seed"], data_dir,
                         normalise_with=config.get("normalise_with"))
    test = make_dataset(splits.x_test, splits.y_test, splits.info, 500)
    predictions = model.predict(test, verbose=0).argmax(axis=1)
    matrix = count_confusions(splits.y_test, predictions, splits.info.num_classes)
    plots.confusion_matrix(matrix, splits.info.class_names, model_dir / "confusion_matrix.png")
    per_class = matrix.diagonal() / matrix.sum(axis=1)
    counts = parameter_counts(model)
    shared_note = shared_cpu_note(results.get("cpu_share_others"))

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
        *accuracy_rows(checkpoint, results, history, matrix.trace() / matrix.sum()),
        f"| epochs | {results['epochs']} |",
        f"| training time | {history['epoch_time_s'].sum() / 60:.1f} min on this CPU "
        f"({results['time_per_epoch_s']:.1f} s per epoch{'; ' + shared_note if shared_note else ''}) |",
        f"| batch-1 latency, Keras graph (p50, training run) | {results['inference_ms_batch1']:.3f} ms"
        f"{' (' + shared_note + ')' if shared_note else ''} |",
    ]
    if benchmark_json:
        bench = json.loads(Path(benchmark_json).read_text())
        served = " with flip test-time augmentation" if bench.get("test_time_flip") else ""
        for row in bench["rows"]:
            lines.append(f"| batch-1 latency, {row['format']}{served} (p50 / p99) | "
                         f"{row['p50_ms']:.3f} / {row['p99_ms']:.3f} ms ({row['device']}; "
                         f"`{bench['model']}`) |")
            if "test_accuracy" in row:
                lines.append(f"| test accuracy, {row['format']}{served} | "
                             f"{row['test_accuracy']:.4f} |")
    if "last_epoch_test_accuracy" in results and checkpoint == "best":
        lines.append(f"| test accuracy at the last epoch (logged for comparison only) | "
                     f"{results['last_epoch_test_accuracy']:.4f} |")
    shift = f"{config.get('test_time_shift', 0)}-pixel shift"
    tta_views = {"test_accuracy_flip_tta": "flip", "test_accuracy_shift_tta": shift,
                 "test_accuracy_flip_shift_tta": f"flip and {shift}"}
    if checkpoint == selected:   # the training run's own evaluation of it
        lines += [f"| test accuracy with {views} test-time augmentation | {results[key]:.4f} |"
                  for key, views in tta_views.items() if key in results]
    lines += ["", RECIPE_HEADING.rstrip("\n"), yaml.safe_dump(config, sort_keys=False).strip(),
              "```", "", "## Reproduce", "", "```bash", command, "```", "",
              "## Per-class test accuracy", "", "| class | accuracy |", "| --- | ---: |"]
    lines += [f"| {name} | {accuracy:.4f} |"
              for name, accuracy in zip(splits.info.class_names, per_class)]
    lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
    path = model_dir / "README.md"
    path.write_text("\n".join(lines))
    return path
