"""``export``: a trained model as a TF Serving SavedModel, saved_models/NAME/VERSION/."""

from __future__ import annotations

from pathlib import Path

from fmnist_keras.cli import add_run_arguments, new_parser, one_line_errors
from fmnist_keras.data.sources import DATASETS, dataset_info, load_splits
from fmnist_keras.deploy.export import (
    TFLITE_FORMATS,
    calibration_images,
    export_for_serving,
    write_models_config,
    write_tflite,
)
from fmnist_keras.train.rundir import load_trained


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="a run directory or a .keras file")
    parser.add_argument("--name", required=True, help="model name in TF Serving")
    parser.add_argument("--version", type=int, help="default: the next free version")
    parser.add_argument("--dataset", choices=sorted(DATASETS),
                        help="normalisation and class names (default: the run's dataset and "
                        "normalisation)")
    parser.add_argument("--base-dir", type=Path, default=Path("saved_models"))
    parser.add_argument("--tflite", choices=TFLITE_FORMATS, action="append", default=[],
                        help="also write saved_models/NAME/VERSION.FORMAT.tflite (int8: "
                        "calibrated on 500 training images); repeatable")
    parser.add_argument("--test-time-flip", action="store_true",
                        help="serve the mean of each image's and its mirror's probabilities")
    add_run_arguments(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors():
        model, info = load_trained(args.source, args.checkpoint)
        if args.dataset:
            info = dataset_info(args.dataset)
        if info is None:
            raise ValueError(f"{args.source} is a .keras file; say which dataset it was "
                             "trained on with --dataset.")
        target = export_for_serving(model, info, args.name, args.base_dir, args.version,
                                    args.test_time_flip)
        written = [target, write_models_config(args.base_dir)]
        for tflite_format in args.tflite:
            calibration = None if tflite_format == "float32" else calibration_images(
                load_splits(info.name, data_dir=args.data_dir, source=args.data_source).x_train)
            written.append(write_tflite(target, tflite_format, calibration))
    print("\n".join(map(str, written)))
