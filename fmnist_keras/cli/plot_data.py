"""``plot-data``: class-distribution bar charts of train and test, and a sample grid."""

from __future__ import annotations

from pathlib import Path

from fmnist_keras.cli import add_data_arguments, new_parser, one_line_errors
from fmnist_keras.data.sources import DATASETS, dataset_info, load_arrays
from fmnist_keras.report import plots


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="fashion_mnist")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/data"))
    add_data_arguments(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors():
        arrays = load_arrays(args.dataset, data_dir=args.data_dir)
    info = dataset_info(args.dataset)
    written = [
        plots.class_distribution({"train": arrays["train_labels"], "test": arrays["test_labels"]},
                                 info.class_names, args.dataset,
                                 args.out_dir / f"{args.dataset}_class_distribution.png"),
        plots.sample_grid(arrays["train_images"], arrays["train_labels"], info.class_names,
                          args.out_dir / f"{args.dataset}_samples.png"),
    ]
    for path in written:
        print(path)
