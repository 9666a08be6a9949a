"""``benchmark-inference``: batch-1 latency (mean, p50, p90, p99), throughput and
(optionally) test accuracy of every format of an exported model."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pandas as pd

from fmnist_keras.cli import add_data_arguments, new_parser, one_line_errors
from fmnist_keras.data.sources import DATASETS, load_splits
from fmnist_keras.deploy.export import calibration_images
from fmnist_keras.deploy.latency import benchmark_serving, serves_test_time_flip
from fmnist_keras.train.rundir import load_trained


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="saved_models/NAME/VERSION")
    parser.add_argument("--keras-model", type=Path,
                        help="the .keras file or run directory it came from (times Keras too)")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--int8", action="store_true",
                        help="also time TFLite with int8 weights and activations "
                        "(calibrated on 500 training images)")
    parser.add_argument("--accuracy", action="store_true",
                        help="also score every exported format on the test set")
    parser.add_argument("--dataset", choices=sorted(DATASETS),
                        help="for --int8 and --accuracy (default: --keras-model's run "
                        "dataset, else fashion_mnist)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    add_data_arguments(parser)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    with one_line_errors():
        keras_model, run_dataset = load_trained(args.keras_model) if args.keras_model \
            else (None, None)
        dataset = args.dataset or run_dataset or "fashion_mnist"
        splits = load_splits(dataset, data_dir=args.data_dir, source=args.data_source) \
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
            "command": shlex.join(["python", "scripts/benchmark_inference.py", *argv]),
            "rows": rows}, indent=2))
