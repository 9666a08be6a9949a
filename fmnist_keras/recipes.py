"""Training recipes as data: `TrainConfig` holds every knob with a neutral default,
``recipes.yaml`` holds the references' values, and command-line flags override both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

RECIPES_FILE = Path(__file__).with_name("recipes.yaml")


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs, saved as ``config.yaml`` in its run directory."""

    arch: str = "resnet14s"
    recipe: str | None = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    dataset: str = "fashion_mnist"
    split: str = "standard"
    validation_size: int = 5000
    max_train_samples: int | None = None
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"           # sgd | adam
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "multistep"      # constant | step | multistep | cosine
    milestones: list = dataclasses.field(default_factory=list)   # epochs
    step_size: int | None = None     # epochs, for "step"
    gamma: float = 0.1
    min_lr: float = 0.0              # cosine floor
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    weight_decay_mode: str = "coupled"   # coupled (L2 in the loss, the references') | decoupled
    label_smoothing: float = 0.0
    augment: list = dataclasses.field(default_factory=list)
    crop_padding: int = 4
    cutout_size: int = 16
    cutout_probability: float = 1.0
    cutout_inside: bool = False
    rotation_degrees: float = 7.0
    seed: int = 0
    mixed_precision: bool | str = False   # True: bfloat16 compute; "auto": where it is fast
    jit_compile: bool = False        # XLA on this CPU is 26x slower for mnist_final (docs/speed.md)
    log_test_accuracy: bool = False  # per-epoch test accuracy, for comparison only
    test_time_flip: bool = False     # also report test accuracy with flip averaging
    test_time_shift: int = 0         # ... and with views moved this many pixels (0: none)

    def augment_options(self) -> dict:
        return {"crop_padding": self.crop_padding, "cutout_size": self.cutout_size,
                "cutout_probability": self.cutout_probability,
                "cutout_inside": self.cutout_inside,
                "rotation_degrees": self.rotation_degrees}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CONFIG_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}


def load_recipes(path: Path = RECIPES_FILE) -> dict[str, dict]:
    """The named recipes of a YAML file; keys starting with ``_`` are shared anchors."""
    with open(path) as handle:
        recipes = yaml.safe_load(handle)
    return {name: values for name, values in recipes.items() if not name.startswith("_")}


def recipe_names() -> list[str]:
    return sorted(load_recipes())


def resolve_config(arch: str | None = None, recipe: str | None = None,
                   overrides: dict | None = None) -> TrainConfig:
    """Merges defaults, a recipe and overrides (None values are ignored).

    ``recipe`` defaults to the recipe named like ``arch``; an architecture without
    a recipe of its own trains with the defaults.

    Raises:
        ValueError: for an unknown recipe (listing the known ones) or an unknown key.
    """
    recipes = load_recipes()
    recipe = recipe or (arch if arch in recipes else None)
    values = {}
    if recipe is not None:
        if recipe not in recipes:
            raise ValueError(f"Unknown recipe {recipe!r}; known recipes: "
                             f"{', '.join(sorted(recipes))}.")
        values.update(recipes[recipe], recipe=recipe)
    if arch is not None:
        values["arch"] = arch
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = set(values) - CONFIG_FIELDS
    if unknown:
        raise ValueError(f"Unknown config keys {sorted(unknown)}; known: {sorted(CONFIG_FIELDS)}.")
    if values.get("mixed_precision") == "auto":
        values["mixed_precision"] = bfloat16_is_native()
    return TrainConfig(**values)


def bfloat16_is_native() -> bool:
    """Whether bfloat16 compute runs in hardware here: a GPU of compute capability 8.0
    or newer, or (without a GPU) a CPU with AMX-BF16 or AVX512-BF16. On this project's
    CPU it trains resnet14s 1.4x faster at the same accuracy (docs/speed.md)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0))
        return tuple(capability) >= (8, 0)
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
