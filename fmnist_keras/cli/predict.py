"""``predict``: classify image files (PNG, JPEG...) and IDX image files with an
exported model (a saved_models/NAME/VERSION folder) or a pretrained model by name."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from fmnist_keras.cli import new_parser, one_line_errors
from fmnist_keras.deploy.client import load_inputs
from fmnist_keras.deploy.pretrained import list_pretrained, pretrained_path


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="NAME",
                        help="a pretrained model: " + (", ".join(list_pretrained()) or "none"))
    source.add_argument("--saved-model", type=Path, metavar="DIR",
                        help="an exported version folder, saved_models/NAME/VERSION")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=20, help="IDX files: first N images")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors():
        model_dir = pretrained_path(args.model) if args.model else args.saved_model
        if not (model_dir / "saved_model.pb").exists():
            raise FileNotFoundError(f"{model_dir}: no saved_model.pb; expected "
                                    "saved_models/NAME/VERSION (see scripts/export.py).")
        serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
        for path in args.files:
            names, images = load_inputs(path)
            outputs = serve(images=tf.constant(images[:args.limit]))
            for name, class_name, probabilities in zip(
                    names, outputs["class_name"].numpy(), outputs["probabilities"].numpy()):
                print(f"{name}\t{class_name.decode()}\t{probabilities.max():.4f}")
