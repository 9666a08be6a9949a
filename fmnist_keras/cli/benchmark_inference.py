"""``benchmark-inference``: batch-1 latency (mean, p50, p90, p99), throughput and
(optionally) test accuracy of every format of an exported model."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from fmnist_keras.cli import add_data_arguments, new_parser, one_line_errors
from fmnist_keras.data.sources import DATASETS, load_splits
from fmnist_keras.deploy.export import calibration_images
from fmnist_keras.deploy.latency import (
    benchmark_serving,
    concurrent_calls,
    exported_dataset,
    serves_test_time_flip,
)
from fmnist_keras.hardware import device_description
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
                        "dataset, else the one the export records, else fashion_mnist)")
    parser.add_argument("--threads", type=int,
                        help="instead: this many threads calling the SavedModel at once "
                        "(--runs calls each, batch 1); calls/s, and whether every thread "
                        "got one thread's outputs")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    add_data_arguments(parser)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.threads:
        return write_json(args.json, argv, load_test(args.model, args.threads, args.runs))
    with one_line_errors():
        keras_model, run_info = load_trained(args.keras_model) if args.keras_model \
            else (None, None)
        dataset = args.dataset or (run_info and run_info.name) or exported_dataset(args.model) \
            or "fashion_mnist"
        splits = load_splits(dataset, data_dir=args.data_dir, source=args.data_source) \
            if args.int8 or args.accuracy else None
        rows = benchmark_serving(
            args.model, keras_model, runs=args.runs,
            calibration_images=calibration_images(splits.x_train) if args.int8 else None,
            test_set=(splits.x_test, splits.y_test) if args.accuracy else None)
    table = pd.DataFrame(rows)
    print(f"{args.model} on {rows[0]['device']}")
    print(table.drop(columns="device").round(4).to_string(index=False))
    write_json(args.json, argv, {"model": str(args.model),
                                 "test_time_flip": serves_test_time_flip(args.model),
                                 "rows": rows})


def load_test(model_dir: Path, threads: int, calls: int) -> dict:
    """Concurrent batch-1 calls on one loaded SavedModel, against one thread's answer."""
    images = tf.constant(np.zeros((1, 28, 28), np.uint8))
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    alone = serve(images=images)["probabilities"].numpy()
    result = concurrent_calls(serve, images, threads, calls)
    summary = {"model": str(model_dir), "threads": threads, "calls_per_thread": calls,
               "calls_per_s": round(result["calls_per_s"], 1), "device": device_description(),
               "same_outputs": all(np.array_equal(o, alone) for o in result["outputs"])}
    print(json.dumps(summary, indent=2))
    return summary


def write_json(path: Path | None, argv, record: dict) -> None:
    """The figures and the command that produced them."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            **record, "command": shlex.join(["python", "scripts/benchmark_inference.py", *argv])},
            indent=2))
