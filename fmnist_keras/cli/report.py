"""``report``: the results page (docs/results.md, from the committed results tables),
or a seed table, an epoch comparison of run directories or a search's trials; training
curves as PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fmnist_keras.cli import new_parser, one_line_errors
from fmnist_keras.report import plots, results
from fmnist_keras.search import read_trials
from fmnist_keras.train.rundir import RunDir


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    parser.add_argument("--results-table", type=Path, default=Path("results/results.csv"))
    parser.add_argument("--references", type=Path, default=Path("results/references.csv"))
    parser.add_argument("--inference-dir", type=Path, default=Path("docs/inference"),
                        help="benchmark_inference.py --json files to list")
    parser.add_argument("--out", type=Path, default=Path("docs/results.md"))
    parser.add_argument("--curves-dir", type=Path,
                        help="also draw the training curves of the table's runs found on disk")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="RUN_DIR",
                        help="instead: per-epoch test accuracy of these runs beside --reference")
    parser.add_argument("--reference", type=Path, help="CSV with epoch and test_accuracy")
    parser.add_argument("--seeds", nargs="+", type=Path, metavar="RUN_DIR",
                        help="instead: one row per run (seed) and the median, to --out")
    parser.add_argument("--threshold", type=float,
                        help="with --seeds or --frontier: the target accuracy at the last epoch")
    parser.add_argument("--frontier", choices=["mnist", "fashion_mnist"],
                        help="instead: parameters against median and worst-seed accuracy of "
                        "every recipe run on this dataset, to --out and --plot")
    parser.add_argument("--public", type=Path, default=Path("results/mnist_public_frontier.csv"),
                        help="with --frontier: the public results to mark")
    parser.add_argument("--plot", type=Path, help="with --frontier: the PNG to draw")
    parser.add_argument("--trials", type=Path, metavar="TRIALS_CSV",
                        help="instead: a search's trials.csv as a table, best first, to --out")
    parser.add_argument("--frontier-accuracy", choices=sorted(results.FRONTIER_ACCURACIES),
                        default="last", help="with --frontier: " + "; ".join(
                            f"{k}: {v}" for k, v in results.FRONTIER_ACCURACIES.items()))
    return parser


def write_markdown(path: Path, markdown: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown)
    print(markdown)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.compare and not args.reference:
        parser.error("--compare needs --reference")
    if args.frontier and (args.threshold is None or args.plot is None):
        parser.error("--frontier needs --threshold and --plot")
    with one_line_errors():
        if args.seeds:
            markdown = results.seed_summary([RunDir(run).results() for run in args.seeds],
                                            args.threshold)
            return write_markdown(args.out, markdown)
        if args.frontier:
            frame, markdown = results.frontier_table(
                pd.read_csv(args.results_table), pd.read_csv(args.public), args.frontier,
                args.threshold, args.frontier_accuracy)
            plots.frontier(frame, pd.read_csv(args.public), args.threshold,
                           f"{args.frontier}: parameters against accuracy", args.plot,
                           results.FRONTIER_ACCURACIES[args.frontier_accuracy])
            return write_markdown(args.out, markdown)
        if args.trials:
            return write_markdown(args.out, results.trials_markdown(*read_trials(args.trials)))
        if args.compare:
            histories = {run.name: RunDir(run).history() for run in args.compare}
            markdown = results.epoch_comparison(histories, pd.read_csv(args.reference))
            return write_markdown(args.out, markdown)
        for table in (args.results_table, args.references):
            if not table.exists():
                raise FileNotFoundError(f"{table} does not exist; train a model with "
                                        "--results-table first, or pass another table.")
        frame = pd.read_csv(args.results_table)
        benchmarks = [json.loads(path.read_text())
                      for path in sorted(args.inference_dir.glob("*.json"))]
        page = results.results_page(frame, pd.read_csv(args.references), benchmarks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page)
    print(args.out)
    for run_dir in frame.get("run_dir", []) if args.curves_dir else []:
        run = RunDir(run_dir)
        if run.history_path.exists():
            print(plots.training_curves(run.history(), run.path.name,
                                        args.curves_dir / f"{run.path.name}.png"))
