"""``summary``: a model's layers, parameter counts, multiply-adds and receptive fields."""

from __future__ import annotations

from fmnist_keras.cli import add_model_arguments, new_parser, one_line_errors
from fmnist_keras.models import build_model, list_models
from fmnist_keras.models.analysis import (
    is_chain,
    multiply_adds,
    parameter_counts,
    receptive_field_table,
)


def build_parser():
    parser = new_parser(__doc__.split("\n")[0])
    parser.add_argument("--arch", required=True,
                        choices=list_models() + list_models(families=True), metavar="ARCH",
                        help="architecture or family: " + ", ".join(list_models()))
    add_model_arguments(parser)
    parser.add_argument("--no-layers", action="store_true", help="skip model.summary()")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors():
        model = build_model(args.arch, **dict(args.model_arg))
    if not args.no_layers:
        model.summary(line_length=110)
    counts = parameter_counts(model)
    print(f"trainable params:        {counts.trainable:,}  (what the references report)")
    print(f"total params (Keras):    {counts.total:,}  (includes BN moving statistics)")
    print(f"float32 storage:         {counts.storage_mb:.3f} MB trainable, "
          f"{counts.total_storage_mb:.3f} MB total")
    print(f"multiply-adds per image: {multiply_adds(model):,}")
    if is_chain(model):
        print("\nreceptive field:")
        print(receptive_field_table(model).to_string(index=False))
