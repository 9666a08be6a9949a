"""``benchmark-training``: training images/s of a config (a recipe's, or an
architecture's with the options given), for each combination of --mixed-precision and
--jit-compile (a recipe: its own) and each --steps-per-execution; or (--pipeline-only)
the input pipeline's images/s."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from fmnist_keras.cli import add_data_arguments, add_model_arguments, new_parser, one_line_errors
from fmnist_keras.config import recipe_names, resolve_config
from fmnist_keras.train.engine import datasets_for
from fmnist_keras.train.throughput import pipeline_throughput, training_throughput


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    parser.add_argument("--arch", default="resnet14s")
    parser.add_argument("--recipe", choices=recipe_names(), metavar="RECIPE",
                        help="time this recipe's model, batch, augmentation and settings")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--augment", help="comma list (default: the recipe's, else flip)")
    add_model_arguments(parser)
    parser.add_argument("--steps-per-execution", default="",
                        help="comma list, e.g. 1,8 (default: the config's)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--pipeline-only", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    add_data_arguments(parser)
    return parser


def config_from_args(args):
    """The config timed: the recipe's (or the architecture's defaults with flip), with
    the batch size, augmentation and builder arguments given merged in."""
    augment = None if args.augment is None else \
        [a for a in args.augment.split(",") if a and a != "none"]
    if augment is None and args.recipe is None:
        augment = ["flip"]
    overrides = {"batch_size": args.batch_size, "augment": augment,
                 "model_kwargs": dict(args.model_arg) or None}
    return resolve_config(None if args.recipe else args.arch, args.recipe, overrides)


def main(argv=None):
    args = build_parser().parse_args(argv)
    steps_per_execution = [int(n) for n in args.steps_per_execution.split(",") if n.strip()]
    rows = []
    with one_line_errors():
        config = config_from_args(args)
        if args.pipeline_only:
            _, datasets = datasets_for(config, args.data_dir, args.data_source)
            rows.append({"augment": ",".join(config.augment) or "none",
                         "batch_size": config.batch_size,
                         "pipeline_images_per_s": round(pipeline_throughput(
                             datasets["train"], config.batch_size, args.steps), 1)})
        settings = [(config.mixed_precision, config.jit_compile)] if args.recipe else \
            itertools.product((False, True), (False, True))
        for (mixed, jit), per_call in itertools.product(
                [] if args.pipeline_only else settings,
                steps_per_execution or [config.steps_per_execution]):
            rows.append(training_throughput(
                config.replace(mixed_precision=mixed, jit_compile=jit,
                               steps_per_execution=per_call), args.data_dir, steps=args.steps))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
