"""``train``: one run of a recipe, every config value overridable by its flag.

The flags are generated from `TrainConfig`'s fields, in the config's groups (model,
data, augmentation, optimiser, schedule, run); a value given by a flag overrides the
recipe, which overrides the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from fmnist_keras.cli import (
    MODEL_ARG_HELP,
    add_data_arguments,
    key_value,
    new_parser,
    one_line_errors,
)
from fmnist_keras.config import (
    CLEARED,
    GROUPS,
    LIST_FIELDS,
    MAPPING_FLAGS,
    TrainConfig,
    describe_range,
    flag_name,
    recipe_names,
    resolve_config,
)
from fmnist_keras.models import list_models

DISTRIBUTIONS = ("none", "mirrored", "multiworker")
# An augmentation's settings, by the prefix of their keys: given without it, a mistake.
AUGMENTATION_OF_PREFIX = {"crop_": "crop", "rotation_": "rotate", "cutout_": "cutout",
                          "elastic_": "elastic", "erase_": "erase"}


def _list_of(kind):
    def parse(text):
        if text.strip().lower() in ("", "none"):
            return ()
        try:
            return tuple(kind(item) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {kind.__name__} values, received {text!r}") from None
    return parse


def _optional(kind):
    def parse(text):
        return CLEARED if text.strip().lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def _bool_or_auto(text):
    value = {"true": True, "on": True, "false": False, "off": False, "auto": "auto"}.get(
        text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true, false or auto, received {text!r}")
    return value


MAPPING_HELP = {   # metavar and help of the repeated KEY=VALUE flags
    "model_kwargs": ("KEY=VALUE", MODEL_ARG_HELP),
    "lr_multipliers": ("PATTERN=FACTOR", "learning-rate factor for the variables whose "
                       "path matches a glob, e.g. '*_bn/beta=64' (the batch-norm biases)"),
}


def add_config_flags(parser) -> None:
    """One flag per `TrainConfig` field, in its group; every default is None (unset),
    so only the flags given override the recipe."""
    groups = {name: parser.add_argument_group(f"{name} (config)") for name in GROUPS}
    models = list_models() + list_models(families=True)
    for field in dataclasses.fields(TrainConfig):
        meta, group = field.metadata, groups[field.metadata["group"]]
        options = {"dest": field.name, "default": None, "help": meta["help"]}
        if meta["kind"] in (int, float) and meta["choices"] is None and \
                any(meta[k] is not None for k in ("minimum", "maximum", "above", "below")):
            options["help"] += f" ({describe_range(field)})"
        if field.name == "arch":
            options.update(choices=models, metavar="ARCH")
            options["help"] += ": " + ", ".join(list_models())
        elif field.name == "recipe":
            options.update(choices=recipe_names(), metavar="RECIPE")
            options["help"] = "recipe (default: the one named like --arch): " + \
                ", ".join(recipe_names())
        elif field.name in MAPPING_FLAGS:
            metavar, text = MAPPING_HELP[field.name]
            group.add_argument(flag_name(field.name), action="append", type=key_value,
                               dest=field.name, default=None, metavar=metavar, help=text)
            continue
        elif field.name == "mixed_precision":
            options.update(type=_bool_or_auto, metavar="{true,false,auto}")
        elif field.metadata["kind"] is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif field.name in LIST_FIELDS:
            options.update(type=_list_of(meta["kind"]), metavar="A,B,...")
        elif meta["choices"] is not None:
            options["choices"] = meta["choices"]
        elif field.default is None:
            options["type"] = _optional(meta["kind"])
        else:
            options["type"] = meta["kind"]
        group.add_argument(flag_name(field.name), **options)


def _config_flag_groups() -> dict[str, str]:
    """Each config field's flag and the group it belongs to."""
    return {flag_name(field.name): field.metadata["group"]
            for field in dataclasses.fields(TrainConfig)}


def _full_flag(token: str, flags) -> str:
    """The flag a command-line token names among ``flags``, its ``=value`` dropped and
    an unambiguous abbreviation (argparse takes those) resolved."""
    flag = token.split("=", 1)[0]
    matches = [name for name in flags if name.startswith(flag)]
    return flag if flag in flags or len(matches) != 1 else matches[0]


def results_label(recipe: str, argv: list[str]) -> str:
    """What a run's row in a results table groups under (its "recipe" column): the
    recipe's name followed by the flags given that change what it trains, as given
    (``mnist_4k --model-arg channels=[12,24,16,28,30,34,34]``), so that a recipe's seeds
    group together and a changed recipe stays apart. Flags of the run group (seed,
    precision, logging) and those outside the config (where the run lives) are left out."""
    config_flags = _config_flag_groups()
    changing = {flag for flag, group in config_flags.items() if group != "run"} - {"--recipe"}
    if "--recipe" not in (_full_flag(token, config_flags) for token in argv):
        changing.discard("--arch")          # --arch alone names the recipe
    label, keep = [recipe], False
    for token in argv:
        if token.startswith("--"):
            keep = _full_flag(token, config_flags) in changing
        if keep:
            label.append(token)
    return " ".join(label)


def results_command(argv: list[str]) -> str:
    """The command a run's row in a results table records: the one given, less
    ``--stop-after``, which pauses a run without changing it, so that the command
    trains the whole run in one go (it also continues a paused one)."""
    flags = ["--stop-after", *_config_flag_groups()]
    kept, skip_value = [], False
    for token in argv:
        if skip_value:
            skip_value = False
        elif _full_flag(token, flags) == "--stop-after":
            skip_value = "=" not in token
        else:
            kept.append(token)
    return shlex.join(["python", "scripts/train.py", *kept])


def build_parser():
    parser = new_parser("Train a model with a recipe; every value can be overridden.")
    add_config_flags(parser)
    run = parser.add_argument_group("where and how")
    run.add_argument("--run-dir", type=Path,
                     help="default: runs/<arch>_<recipe>_seed<seed>_<config hash>; an "
                     "unfinished run there resumes")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing run directory instead of refusing")
    run.add_argument("--results-table", type=Path,
                     help="also append the results row to this CSV")
    run.add_argument("--stop-after", type=float, metavar="MINUTES",
                     help="pause on the last epoch boundary within MINUTES (a machine "
                     "held for a fixed time); the same command continues the run")
    run.add_argument("--distribute", choices=DISTRIBUTIONS, default="none",
                     help="tf.distribute strategy; multiworker reads TF_CONFIG and trains "
                     "in a custom loop (fmnist_keras.train.distributed)")
    run.add_argument("--max-steps-per-epoch", type=int,
                     help="bound each epoch (multiworker demonstrations)")
    run.add_argument("--cpu-devices", type=int,
                     help="split the CPU into N logical devices (to try --distribute mirrored)")
    add_data_arguments(parser)
    return parser


def main(argv=None):
    parser = build_parser()
    argv_given = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv_given)
    if args.arch is None and args.recipe is None:
        parser.error("give --arch or --recipe")
    if args.cpu_devices is not None and args.distribute != "mirrored":
        parser.error("--cpu-devices needs --distribute mirrored")
    if args.max_steps_per_epoch is not None and args.distribute != "multiworker":
        parser.error("--max-steps-per-epoch needs --distribute multiworker")
    if args.stop_after is not None and (args.stop_after <= 0 or args.distribute == "multiworker"):
        parser.error(f"--stop-after {args.stop_after}: give minutes > 0, without "
                     "--distribute multiworker")
    overrides = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainConfig)
                 if field.name not in ("arch", "recipe")}
    for name in MAPPING_FLAGS:
        if overrides[name] is not None:
            overrides[name] = dict(overrides[name])
    with one_line_errors():
        config = resolve_config(args.arch, args.recipe, overrides)   # checked: before any data
        for key, value in overrides.items():
            needed = next((a for p, a in AUGMENTATION_OF_PREFIX.items() if key.startswith(p)), None)
            if value is not None and needed and needed not in config.augment:
                parser.error(f"{flag_name(key)} needs {needed} in --augment "
                             f"(the augmentations are {','.join(config.augment) or 'none'})")
        from fmnist_keras.deploy.pretrained import load_teacher
        from fmnist_keras.train.engine import split_cpu, train
        from fmnist_keras.train.rundir import RunDir

        run_dir = RunDir(args.run_dir) if args.run_dir else RunDir.default_for(config)
        if args.cpu_devices:
            split_cpu(args.cpu_devices)
        if args.distribute == "multiworker":
            from fmnist_keras.train.distributed import train_multiworker

            history = train_multiworker(config, run_dir, data_dir=args.data_dir,
                                        max_steps_per_epoch=args.max_steps_per_epoch)
            print(history.to_string(index=False))
            return
        row = train(config, run_dir, data_dir=args.data_dir, overwrite=args.overwrite,
                    distribute=args.distribute, data_source=args.data_source,
                    stop_after_minutes=args.stop_after, teacher_loader=load_teacher)
        if row is None:
            print(f"paused after epoch {len(run_dir.history())} of {config.epochs} "
                  f"(--stop-after {args.stop_after:g}); the same command continues {run_dir.path}")
            return
        if args.results_table:
            from fmnist_keras.report.results import append_row

            append_row(args.results_table, {
                **row, "recipe": results_label(row["recipe"], argv_given),
                "command": results_command(argv_given)})
    print(json.dumps(row, indent=2))
