"""Command-line entry points; `scripts/*.py` and the console scripts call these.

Each ``*_main`` parses arguments, calls the package, and turns the package's expected
errors (bad input, missing data, a taken run directory, a diverged run) into one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from pathlib import Path

import yaml

from fmnist_keras import data

EXPECTED_ERRORS = (ValueError, FileNotFoundError, RuntimeError)


@contextlib.contextmanager
def one_line_errors():
    """Expected failures print ``error: <message>`` and exit 2, without a traceback."""
    try:
        yield
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _int_list(text):
    return [int(item) for item in text.split(",") if item.strip()]


def _key_value(text):
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, received {text!r}")
    return key, yaml.safe_load(value)


def add_data_arguments(parser):
    parser.add_argument("--data-dir", help=f"folder with the IDX files (else ${data.DATA_ENV_VAR}, "
                        "the Keras cache, Debian's folder, then a download)")


# ------------------------------------------------------------------------- train


def train_parser():
    from fmnist_keras.models import list_models
    from fmnist_keras.recipes import recipe_names

    parser = argparse.ArgumentParser(
        description="Train a model with its reference recipe; every value can be overridden.")
    parser.add_argument("--arch", choices=list_models() + list_models(families=True),
                        metavar="ARCH", help="architecture: " + ", ".join(list_models()))
    parser.add_argument("--recipe", choices=recipe_names(), metavar="RECIPE",
                        help="recipe (default: the one named like --arch): "
                        + ", ".join(recipe_names()))
    parser.add_argument("--model-arg", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="model builder argument, e.g. widths=[16,32,64]")
    parser.add_argument("--dataset", choices=sorted(data.DATASETS))
    parser.add_argument("--split", choices=data.SPLITS)
    parser.add_argument("--validation-size", type=int)
    parser.add_argument("--max-train-samples", type=int, help="train on this many images only")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--optimizer", choices=["sgd", "adam"])
    parser.add_argument("--lr", type=float)
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--nesterov", action=argparse.BooleanOptionalAction)
    parser.add_argument("--schedule", choices=["constant", "step", "multistep", "cosine"])
    parser.add_argument("--milestones", type=_int_list, help="epochs, e.g. 60,120,160")
    parser.add_argument("--step-size", type=int, help="epochs between decays (schedule step)")
    parser.add_argument("--gamma", type=float)
    parser.add_argument("--min-lr", type=float, help="cosine floor")
    parser.add_argument("--warmup-epochs", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--weight-decay-mode", choices=["coupled", "decoupled"])
    parser.add_argument("--label-smoothing", type=float, help="0 (default) to 1")
    parser.add_argument("--augment", help="comma list of rotate,crop,flip,cutout,erase, or none")
    parser.add_argument("--crop-padding", type=int)
    parser.add_argument("--cutout-size", type=int)
    parser.add_argument("--cutout-inside", action=argparse.BooleanOptionalAction)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                        help="bfloat16 compute (AMX on this CPU)")
    parser.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, help="XLA")
    parser.add_argument("--log-test-accuracy", action=argparse.BooleanOptionalAction,
                        help="also log test accuracy per epoch (comparison only, never selection)")
    parser.add_argument("--test-time-flip", action=argparse.BooleanOptionalAction,
                        help="also report test accuracy averaged over each image and its mirror")
    parser.add_argument("--test-time-shift", type=int, metavar="PIXELS",
                        help="also report test accuracy averaged over views moved this many "
                             "pixels up, down, left and right (with their mirrors under "
                             "--test-time-flip)")
    add_data_arguments(parser)
    parser.add_argument("--run-dir", type=Path,
                        help="default: runs/<arch>_<recipe>_seed<seed>_<config hash>")
    parser.add_argument("--results-table", type=Path, default=Path("results/results.csv"))
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing run directory instead of refusing")
    parser.add_argument("--distribute", choices=["none", "mirrored", "multiworker"],
                        default="none", help="tf.distribute strategy; multiworker reads "
                        "TF_CONFIG and trains in a custom loop (fmnist_keras.distributed)")
    parser.add_argument("--max-steps-per-epoch", type=int,
                        help="bound each epoch (multiworker demonstrations)")
    parser.add_argument("--cpu-devices", type=int,
                        help="split the CPU into N logical devices (to try --distribute mirrored)")
    return parser


CONFIG_FLAGS = ("dataset", "split", "validation_size", "max_train_samples", "epochs",
                "batch_size", "optimizer", "lr", "momentum", "nesterov", "schedule",
                "milestones", "step_size", "gamma", "min_lr", "warmup_epochs", "weight_decay",
                "weight_decay_mode", "label_smoothing", "augment", "crop_padding", "cutout_size",
                "cutout_inside", "seed", "mixed_precision", "jit_compile", "log_test_accuracy",
                "test_time_flip", "test_time_shift")


def check_contradictions(parser, args, config):
    """Flags that cannot all hold: argparse errors, before any work is done."""
    if args.milestones is not None and config.schedule != "multistep":
        parser.error(f"--milestones needs --schedule multistep (the schedule is {config.schedule})")
    if args.step_size is not None and config.schedule != "step":
        parser.error(f"--step-size needs --schedule step (the schedule is {config.schedule})")
    if args.min_lr is not None and config.schedule != "cosine":
        parser.error(f"--min-lr needs --schedule cosine (the schedule is {config.schedule})")
    if args.nesterov and config.optimizer != "sgd":
        parser.error("--nesterov needs --optimizer sgd")
    if (args.cutout_size is not None or args.cutout_inside is not None) \
            and "cutout" not in config.augment:
        parser.error("--cutout-size/--cutout-inside need cutout in --augment")
    if args.cpu_devices is not None and args.distribute != "mirrored":
        parser.error("--cpu-devices needs --distribute mirrored")
    if args.max_steps_per_epoch is not None and args.distribute != "multiworker":
        parser.error("--max-steps-per-epoch needs --distribute multiworker")


def default_run_dir(config) -> Path:
    """Same command, same directory (so running it again resumes); other flags, other
    directory (so a new config never lands in an old run)."""
    digest = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return Path("runs") / f"{config.arch}_{config.recipe or 'custom'}_seed{config.seed}_{digest}"


def train_main(argv=None):
    from fmnist_keras.augment import parse_augmentations
    from fmnist_keras.recipes import resolve_config

    parser = train_parser()
    args = parser.parse_args(argv)
    if args.arch is None and args.recipe is None:
        parser.error("give --arch or --recipe")
    overrides = {flag: getattr(args, flag) for flag in CONFIG_FLAGS}
    if args.augment is not None:
        try:
            overrides["augment"] = list(parse_augmentations(args.augment))
        except ValueError as error:
            parser.error(str(error))
    if args.model_arg:
        overrides["model_kwargs"] = dict(args.model_arg)
    config = resolve_config(args.arch, args.recipe, overrides)
    check_contradictions(parser, args, config)
    with one_line_errors():
        if args.cpu_devices:
            from fmnist_keras.training import split_cpu
            split_cpu(args.cpu_devices)
        run_dir = args.run_dir or default_run_dir(config)
        if args.distribute == "multiworker":
            from fmnist_keras.distributed import train_multiworker
            history = train_multiworker(config, run_dir, data_dir=args.data_dir,
                                        max_steps_per_epoch=args.max_steps_per_epoch)
            print(history.to_string(index=False))
            return
        from fmnist_keras.training import train
        row = train(config, run_dir, data_dir=args.data_dir,
                    overwrite=args.overwrite, results_table=args.results_table,
                    distribute=args.distribute)
    print(json.dumps(row, indent=2))


# ----------------------------------------------------------------------- summary


def summary_main(argv=None):
    """Model summary, parameter counts, multiply-adds, receptive fields."""
    from fmnist_keras.models import build_model, list_models
    from fmnist_keras.models.analysis import (is_chain, multiply_adds, parameter_counts,
                                              receptive_field_table)

    parser = argparse.ArgumentParser(description=summary_main.__doc__)
    parser.add_argument("--arch", required=True,
                        choices=list_models() + list_models(families=True), metavar="ARCH",
                        help="architecture or family: " + ", ".join(list_models()))
    parser.add_argument("--model-arg", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="builder argument, e.g. widths=[16,32,64]")
    parser.add_argument("--no-layers", action="store_true", help="skip model.summary()")
    args = parser.parse_args(argv)
    with one_line_errors():
        model = build_model(args.arch, **dict(args.model_arg))
    if not args.no_layers:
        model.summary(line_length=110)
    counts = parameter_counts(model)
    print(f"trainable params:        {counts.trainable:,}  (what the references report)")
    print(f"total params (Keras):    {counts.total:,}  (includes BN moving statistics)")
    print(f"float32 storage:         {counts.storage_mb:.3f} MB trainable, "
          f"{counts.total_storage_mb:.3f} MB total")
    print(f"multiply-adds per image: {multiply_adds(model):,}")
    if is_chain(model):
        print("\nreceptive field:")
        print(receptive_field_table(model).to_string(index=False))


# --------------------------------------------------------------------- plot data


def plot_data_main(argv=None):
    """Class-distribution bar charts of train and test, and a sample grid per class."""
    from fmnist_keras import plots

    parser = argparse.ArgumentParser(description=plot_data_main.__doc__)
    parser.add_argument("--dataset", choices=sorted(data.DATASETS), default="fashion_mnist")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/data"))
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    with one_line_errors():
        arrays = data.load_arrays(args.dataset, data_dir=args.data_dir)
    info = data.dataset_info(args.dataset)
    written = [
        plots.class_distribution({"train": arrays["train_labels"], "test": arrays["test_labels"]},
                                 info.class_names, args.dataset,
                                 args.out_dir / f"{args.dataset}_class_distribution.png"),
        plots.sample_grid(arrays["train_images"], arrays["train_labels"], info.class_names,
                          args.out_dir / f"{args.dataset}_samples.png"),
    ]
    for path in written:
        print(path)


# ------------------------------------------------------------------------ report


def _write_markdown(path: Path, markdown: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown)
    print(markdown)


def report_main(argv=None):
    """The results table as Markdown, and training curves of the runs as PNG."""
    import pandas as pd

    from fmnist_keras import plots, results

    parser = argparse.ArgumentParser(description=report_main.__doc__)
    parser.add_argument("--results-table", type=Path, default=Path("results/results.csv"))
    parser.add_argument("--out", type=Path, default=Path("results/results.md"))
    parser.add_argument("--curves-dir", type=Path, default=Path("results/curves"))
    parser.add_argument("--compare", nargs="+", type=Path, metavar="RUN_DIR",
                        help="instead: per-epoch test accuracy of these runs beside --reference")
    parser.add_argument("--reference", type=Path, help="CSV with epoch and test_accuracy")
    parser.add_argument("--seeds", nargs="+", type=Path, metavar="RUN_DIR",
                        help="instead: one row per run (seed) and the median, to --out")
    parser.add_argument("--threshold", type=float,
                        help="with --seeds: count the runs at or above it at the last epoch")
    args = parser.parse_args(argv)
    if args.seeds:
        with one_line_errors():
            markdown = results.seed_summary(
                [json.loads((run / "results.json").read_text()) for run in args.seeds],
                args.threshold)
        return _write_markdown(args.out, markdown)
    if args.compare:
        if not args.reference:
            parser.error("--compare needs --reference")
        with one_line_errors():
            histories = {run.name: pd.read_csv(run / "history.csv") for run in args.compare}
            markdown = results.epoch_comparison(histories, pd.read_csv(args.reference))
        return _write_markdown(args.out, markdown)
    with one_line_errors():
        if not args.results_table.exists():
            raise FileNotFoundError(f"{args.results_table} does not exist; train a model "
                                    "first (scripts/train.py) or pass --results-table.")
        frame = pd.read_csv(args.results_table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(results.to_markdown(frame))
    print(args.out)
    for run_dir in frame.get("run_dir", []):
        history_path = Path(run_dir) / "history.csv"
        if history_path.exists():
            png = plots.training_curves(pd.read_csv(history_path), Path(run_dir).name,
                                        args.curves_dir / f"{Path(run_dir).name}.png")
            print(png)


# -------------------------------------------------------------- training speed


def benchmark_training_main(argv=None):
    """Training images/s for each combination of --mixed-precision and --jit-compile,
    or (--pipeline-only) the input pipeline's images/s with the given augmentations."""
    import itertools

    import pandas as pd

    from fmnist_keras.benchmark import pipeline_throughput, training_throughput
    from fmnist_keras.recipes import resolve_config
    from fmnist_keras.training import datasets_for

    parser = argparse.ArgumentParser(description=benchmark_training_main.__doc__)
    parser.add_argument("--arch", default="resnet14s")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--augment", default="flip")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--pipeline-only", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    augment = [a for a in args.augment.split(",") if a and a != "none"]
    rows = []
    with one_line_errors():
        if args.pipeline_only:
            config = resolve_config(args.arch, overrides={"batch_size": args.batch_size,
                                                          "augment": augment})
            _, datasets = datasets_for(config, args.data_dir)
            rows.append({"augment": ",".join(augment) or "none", "batch_size": args.batch_size,
                         "pipeline_images_per_s": round(pipeline_throughput(
                             datasets["train"], args.batch_size, args.steps), 1)})
        for mixed, jit in [] if args.pipeline_only else itertools.product((False, True),
                                                                          (False, True)):
            config = resolve_config(args.arch, overrides={
                "batch_size": args.batch_size, "mixed_precision": mixed, "jit_compile": jit,
                "augment": augment})
            rows.append(training_throughput(config, args.data_dir, steps=args.steps))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)


# ------------------------------------------------------------------------ export


def add_checkpoint_argument(parser):
    parser.add_argument("--checkpoint", choices=["best", "last"], default="best",
                        help="a run directory's model: selected on validation (best) or "
                        "the last epoch's")


def load_trained(source, checkpoint: str = "best"):
    """A Keras model and its dataset name from a run directory (its ``best.keras``, or
    ``last.keras``, and ``config.yaml``) or a ``.keras`` file (dataset: fashion_mnist
    unless told)."""
    from fmnist_keras.training import load_checkpoint

    source = Path(source)
    if source.is_dir():
        config = yaml.safe_load((source / "config.yaml").read_text()) \
            if (source / "config.yaml").exists() else {}
        path = source / f"{checkpoint}.keras"
        if not path.exists():
            raise FileNotFoundError(f"{source} has no {checkpoint}.keras; is it a finished run?")
        return load_checkpoint(path), config.get("dataset")
    if source.suffix != ".keras" or not source.exists():
        raise FileNotFoundError(f"{source}: expected a run directory or an existing .keras file.")
    return load_checkpoint(source), None


def export_main(argv=None):
    """Export a trained model as a TF Serving SavedModel: saved_models/NAME/VERSION/."""
    from fmnist_keras.export import (TFLITE_FORMATS, calibration_images, export_for_serving,
                                     write_models_config, write_tflite)

    parser = argparse.ArgumentParser(description=export_main.__doc__)
    parser.add_argument("source", type=Path, help="a run directory or a .keras file")
    parser.add_argument("--name", required=True, help="model name in TF Serving")
    parser.add_argument("--version", type=int, help="default: the next free version")
    parser.add_argument("--dataset", choices=sorted(data.DATASETS),
                        help="normalisation and class names (default: the run's dataset)")
    parser.add_argument("--base-dir", type=Path, default=Path("saved_models"))
    parser.add_argument("--tflite", choices=TFLITE_FORMATS, action="append", default=[],
                        help="also write saved_models/NAME/VERSION.FORMAT.tflite (int8: "
                        "calibrated on 500 training images); repeatable")
    parser.add_argument("--test-time-flip", action="store_true",
                        help="serve the mean of each image's and its mirror's probabilities")
    add_checkpoint_argument(parser)
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    with one_line_errors():
        model, run_dataset = load_trained(args.source, args.checkpoint)
        info = data.dataset_info(args.dataset or run_dataset or "fashion_mnist")
        target = export_for_serving(model, info, args.name, args.base_dir, args.version,
                                    args.test_time_flip)
        written = [target, write_models_config(args.base_dir)]
        for tflite_format in args.tflite:
            calibration = None if tflite_format == "float32" else calibration_images(
                data.load_splits(info.name, data_dir=args.data_dir).x_train)
            written.append(write_tflite(target, tflite_format, calibration))
    print("\n".join(map(str, written)))


def predict_main(argv=None):
    """Classify image files (PNG/JPEG...) and IDX image files with a SavedModel."""
    import tensorflow as tf

    from fmnist_keras.serving import load_inputs

    parser = argparse.ArgumentParser(description=predict_main.__doc__)
    parser.add_argument("model", type=Path, help="saved_models/NAME/VERSION")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=20, help="IDX files: first N images")
    args = parser.parse_args(argv)
    with one_line_errors():
        if not (args.model / "saved_model.pb").exists():
            raise FileNotFoundError(f"{args.model}: no saved_model.pb; expected "
                                    "saved_models/NAME/VERSION (see scripts/export.py).")
        serve = tf.saved_model.load(str(args.model)).signatures["serving_default"]
        for path in args.files:
            names, images = load_inputs(path)
            outputs = serve(images=tf.constant(images[:args.limit]))
            for name, class_name, probabilities in zip(
                    names, outputs["class_name"].numpy(), outputs["probabilities"].numpy()):
                print(f"{name}\t{class_name.decode()}\t{probabilities.max():.4f}")


def benchmark_inference_main(argv=None):
    """Batch-1 latency (mean, p50, p90, p99) and throughput of an exported model."""
    import pandas as pd

    from fmnist_keras.benchmark import benchmark_serving, serves_test_time_flip
    from fmnist_keras.export import calibration_images

    parser = argparse.ArgumentParser(description=benchmark_inference_main.__doc__)
    parser.add_argument("model", type=Path, help="saved_models/NAME/VERSION")
    parser.add_argument("--keras-model", type=Path,
                        help="the .keras file or run directory it came from (times Keras too)")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--int8", action="store_true",
                        help="also time TFLite with int8 weights and activations "
                        "(calibrated on 500 training images)")
    parser.add_argument("--accuracy", action="store_true",
                        help="also score every exported format on the test set")
    parser.add_argument("--dataset", choices=sorted(data.DATASETS),
                        help="for --int8 and --accuracy (default: --keras-model's run "
                        "dataset, else fashion_mnist)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    with one_line_errors():
        keras_model, run_dataset = load_trained(args.keras_model) if args.keras_model \
            else (None, None)
        dataset = args.dataset or run_dataset or "fashion_mnist"
        splits = data.load_splits(dataset, data_dir=args.data_dir) \
            if args.int8 or args.accuracy else None
        rows = benchmark_serving(
            args.model, keras_model, runs=args.runs,
            calibration_images=calibration_images(splits.x_train) if args.int8 else None,
            test_set=(splits.x_test, splits.y_test) if args.accuracy else None)
    table = pd.DataFrame(rows)
    print(f"{args.model} on {rows[0]['device']}")
    print(table.drop(columns="device").round(4).to_string(index=False))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "model": str(args.model), "test_time_flip": serves_test_time_flip(args.model),
            "rows": rows}, indent=2))


# ------------------------------------------------------------------------ search

SEARCH_RECIPES = {"resnet": "search_resnet", "mnist": "mnist_final"}


def search_main(argv=None):
    """keras-tuner search of a family's widths under a parameter budget."""
    from fmnist_keras import search
    from fmnist_keras.recipes import recipe_names, resolve_config

    parser = argparse.ArgumentParser(description=search_main.__doc__)
    parser.add_argument("--family", required=True, choices=sorted(search.FAMILIES))
    parser.add_argument("--dataset", choices=sorted(data.DATASETS))
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget", help="trainable parameters: 8k, 10M, 8000")
    budget.add_argument("--budget-mb", type=float, help="float32 storage in MB instead")
    parser.add_argument("--tuner", choices=search.TUNERS, default="hyperband")
    parser.add_argument("--space", choices=search.SPACES, default="budget",
                        help="budget: widths derived to fit (default); free: sampled, "
                        "over-budget samples rejected before training")
    parser.add_argument("--max-trials", type=int, default=10,
                        help="models to train (random, bayesian); hyperband sizes itself "
                        "from --epochs")
    parser.add_argument("--epochs", type=int, help="epochs per trial (hyperband: the most)")
    parser.add_argument("--final-epochs", type=int, help="epochs to retrain the best model")
    parser.add_argument("--recipe", choices=recipe_names(), metavar="RECIPE",
                        help="training recipe of the trials (default: "
                        + ", ".join(f"{k}: {v}" for k, v in SEARCH_RECIPES.items()) + ")")
    parser.add_argument("--tune-lr", action="store_true", help="also search the learning rate")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--max-train-samples", type=int)
    parser.add_argument("--validation-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--directory", type=Path, help="default: searches/<family>_<budget>")
    parser.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    try:
        budget_params = search.budget_from_megabytes(args.budget_mb) if args.budget_mb \
            else search.parse_budget(args.budget)
    except ValueError as error:
        parser.error(str(error))
    config = resolve_config(None, args.recipe or SEARCH_RECIPES[args.family], {
        "dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
        "max_train_samples": args.max_train_samples, "validation_size": args.validation_size,
        "seed": args.seed})
    directory = args.directory or Path("searches") / f"{args.family}_{budget_params}"
    with one_line_errors():
        table = search.run_search(config, args.family, budget_params, directory, args.tuner,
                                  args.max_trials, args.space, args.data_dir,
                                  args.final_epochs, args.overwrite, args.tune_lr)
    if table is not None:
        print(table.to_string(index=False))
        print(f"\n{directory / 'trials.csv'}\n{directory / 'best_hyperparameters.json'}\n"
              f"{directory / 'best_run'}")


def model_card_main(argv=None):
    """Write saved_models/NAME/README.md and its confusion matrix from a finished run."""
    from fmnist_keras.cards import write_model_card

    parser = argparse.ArgumentParser(description=model_card_main.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("model_dir", type=Path, help="saved_models/NAME")
    parser.add_argument("--command", required=True, help="the command that reproduces the run")
    parser.add_argument("--benchmark-json", type=Path)
    add_checkpoint_argument(parser)
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    with one_line_errors():
        print(write_model_card(args.run_dir, args.model_dir, args.command,
                               args.benchmark_json, args.data_dir, args.checkpoint))
