"""``model-card``: saved_models/NAME/README.md and its confusion matrix, from a run."""

from __future__ import annotations

from pathlib import Path

from fmnist_keras.cli import add_run_arguments, new_parser, one_line_errors
from fmnist_keras.report.cards import write_model_card


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("model_dir", type=Path, help="saved_models/NAME")
    parser.add_argument("--command", required=True, help="the command that reproduces the run")
    parser.add_argument("--benchmark-json", type=Path)
    add_run_arguments(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors():
        print(write_model_card(args.run_dir, args.model_dir, args.command,
                               args.benchmark_json, args.data_dir, args.checkpoint))
