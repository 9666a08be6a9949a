"""Command-line entry points: ``python -m fmnist_keras COMMAND`` and ``scripts/*.py``.

One module per command, each with ``build_parser()`` and ``main(argv)``. This package
imports nothing heavy until a command runs, so TensorFlow's C++ start-up messages can
be silenced before TensorFlow loads (``--verbose`` keeps them). Expected failures (bad
input, missing data, a taken run directory, a diverged run) end in one line on stderr
and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

COMMANDS = {
    "train": "train a model with a recipe",
    "summary": "a model's layers, parameter counts, multiply-adds, receptive fields",
    "search": "keras-tuner search of a family under a parameter budget",
    "export": "export a trained model for TF Serving (and TFLite)",
    "predict": "classify image files with an exported or pretrained model",
    "benchmark-inference": "batch-1 latency and accuracy of every exported format",
    "benchmark-training": "training images/s of a config",
    "model-card": "write an exported model's card from its run",
    "report": "results tables and training curves from run directories",
    "plot-data": "class distributions and sample grids of a dataset",
}


def quiet_tensorflow(verbose: bool = False) -> None:
    """Silences TensorFlow's C++ messages (the oneDNN notice, the CUDA probe on a
    machine without a GPU, those of libraries it loads later) and its Python warnings,
    unless ``verbose``.

    Some are printed before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``, and some only
    when a library loads mid-run, so the process's file descriptor 2 is pointed at
    /dev/null for good, while Python's ``sys.stderr`` (errors, tracebacks, warnings)
    keeps writing to the original stderr through a copy of it.
    """
    if verbose or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    original = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(original, "w", buffering=1)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def expected_errors() -> tuple[type[BaseException], ...]:
    from fmnist_keras.train.callbacks import CheckpointError, TrainingDiverged
    from fmnist_keras.train.rundir import RunDirectoryError

    return (ValueError, FileNotFoundError, RunDirectoryError, TrainingDiverged,
            CheckpointError)


@contextlib.contextmanager
def one_line_errors():
    """Expected failures print ``error: <message>`` and exit 2, without a traceback."""
    try:
        yield
    except expected_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def new_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's start-up messages")
    return parser


def add_data_arguments(parser) -> None:
    from fmnist_keras.data.sources import DATA_ENV_VAR, SOURCES

    group = parser.add_argument_group("data files")
    group.add_argument("--data-dir", help=f"folder with the IDX files (else ${DATA_ENV_VAR}, "
                       "the Keras cache, Debian's folder, then a download)")
    group.add_argument("--data-source", choices=SOURCES, default="idx",
                       help="idx: the IDX files; tfds: tensorflow-datasets (same arrays)")


MODEL_ARG_HELP = "model builder argument, e.g. widths=[16,32,64]"


def add_model_arguments(parser) -> None:
    """Repeated ``--model-arg KEY=VALUE``, collected as (key, value) pairs."""
    parser.add_argument("--model-arg", action="append", type=key_value, default=[],
                        metavar="KEY=VALUE", help=MODEL_ARG_HELP)


def add_run_arguments(parser) -> None:
    """Which model of a run directory (``--checkpoint``) and where its data is."""
    parser.add_argument("--checkpoint", choices=["best", "last"],
                        help="a run directory's model: selected on validation (best) or "
                        "the last epoch's (default: the one the run selected)")
    add_data_arguments(parser)


def key_value(text):
    """``KEY=VALUE`` with a YAML value: ``widths=[16,32,64]`` -> ("widths", [16, 32, 64])."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, received {text!r}")
    return key, yaml.safe_load(value)


def run(command: str, argv=None) -> None:
    """Runs one command's ``main`` after silencing TensorFlow (unless --verbose)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_tensorflow("--verbose" in argv)
    module = importlib.import_module(f"fmnist_keras.cli.{command.replace('-', '_')}")
    module.main(argv)


def main(argv=None) -> None:
    """``python -m fmnist_keras COMMAND [ARGS]``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        listing = "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items())
        print(f"usage: python -m fmnist_keras COMMAND [--help | ARGS]\n\ncommands:\n{listing}",
              file=sys.stderr if argv else sys.stdout)
        raise SystemExit(2 if argv and argv[0] not in ("-h", "--help") else 0)
    run(argv[0], argv[1:])
