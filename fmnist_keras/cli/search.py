"""``search``: keras-tuner search of a family's shape under a parameter budget."""

from __future__ import annotations

from pathlib import Path

from fmnist_keras import search
from fmnist_keras.cli import add_data_arguments, new_parser, one_line_errors
from fmnist_keras.config import recipe_names, resolve_config
from fmnist_keras.data.sources import DATASETS


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    space = parser.add_argument_group("what is searched")
    space.add_argument("--family", required=True, choices=sorted(search.FAMILIES))
    budget = space.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget", help="parameters: 8k, 10M, 8000 (see --count)")
    budget.add_argument("--budget-mb", type=float, help="float32 storage in MB instead")
    space.add_argument("--count", choices=search.COUNTS, default="trainable",
                       help="what --budget bounds: trainable parameters (the references' "
                       "count) or total ones (Keras' count_params, BN statistics included)")
    space.add_argument("--space", choices=search.SPACES, default="budget",
                       help="budget: widths derived to fit (default); free: sampled, "
                       "over-budget samples rejected before training")
    space.add_argument("--tune", type=lambda text: tuple(filter(None, text.split(","))),
                       default=(), metavar="KNOBS",
                       help="recipe knobs searched with the shape, a comma list of "
                       + ",".join(search.RECIPE_KNOBS))
    tuner = parser.add_argument_group("how")
    tuner.add_argument("--tuner", choices=search.TUNERS, default="hyperband")
    tuner.add_argument("--max-trials", type=int, default=10,
                       help="models to train (random, bayesian); hyperband sizes itself "
                       "from --epochs")
    tuner.add_argument("--epochs", type=int, help="epochs per trial (hyperband: the most)")
    tuner.add_argument("--final-epochs", type=int, help="epochs to retrain the best model")
    tuner.add_argument("--final-budget-fraction", type=float, metavar="FRACTION",
                       help="retrain the best shape at this share of the budget (1.0: "
                       "the widest that fits all of it; default: as it was searched)")
    tuner.add_argument("--recipe", choices=recipe_names(), metavar="RECIPE",
                       help="training recipe of the trials (default: " + ", ".join(
                           f"{k}: {v}" for k, v in search.SEARCH_RECIPES.items()) + ")")
    tuner.add_argument("--directory", type=Path, help="default: searches/<family>_<budget>")
    tuner.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    tuner.add_argument("--stop-after", type=float, metavar="MINUTES",
                       help="start no trial that would end past MINUTES (a machine held "
                       "for a fixed time); the same command continues the search")
    data = parser.add_argument_group("trial data")
    data.add_argument("--dataset", choices=sorted(DATASETS))
    data.add_argument("--batch-size", type=int)
    data.add_argument("--max-train-samples", type=int)
    data.add_argument("--validation-size", type=int)
    data.add_argument("--seed", type=int)
    add_data_arguments(parser)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        budget_params = search.budget_from_megabytes(args.budget_mb) if args.budget_mb \
            else search.parse_budget(args.budget)
    except ValueError as error:
        parser.error(str(error))
    if args.stop_after is not None and args.stop_after <= 0:
        parser.error(f"--stop-after {args.stop_after}: give minutes > 0")
    directory = args.directory or Path("searches") / f"{args.family}_{budget_params}"
    with one_line_errors():
        config = resolve_config(None, args.recipe or search.SEARCH_RECIPES[args.family], {
            "dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
            "max_train_samples": args.max_train_samples,
            "validation_size": args.validation_size, "seed": args.seed})
        try:
            table = search.run_search(config, args.family, budget_params, directory,
                                      args.tuner, args.max_trials, args.space, args.data_dir,
                                      args.final_epochs, args.overwrite, args.tune,
                                      count=args.count,
                                      final_budget_fraction=args.final_budget_fraction,
                                      stop_after_minutes=args.stop_after)
        except search.SearchPaused as pause:
            print(f"paused: {pause} (--stop-after {args.stop_after:g}); the same command "
                  f"continues {directory}, whose trials.csv has every trial finished")
            return
    if table is not None:
        print(table.to_string(index=False))
        print(f"\n{directory / 'trials.csv'}\n{directory / 'best_hyperparameters.json'}\n"
              f"{directory / 'best_run'}")
