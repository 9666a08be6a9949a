"""One run, one config: `TrainConfig` and the named recipes it is merged from.

A config is built in a fixed order, as hysts' configs are: the field defaults below,
then a named recipe of ``recipes.yaml``, then explicit overrides (command-line flags or
keyword arguments). The result is frozen and checked as a whole when it is built
(allowed values, ranges, contradictions), so a bad value stops the run before any data
is loaded, with one line naming the key, its flag, the value and what is accepted.

Every field carries its command-line group and help text; `scripts/train.py`'s flags
are generated from them, so a new field is a new flag. Settings that depend on the
machine (``mixed_precision: auto``) are saved as written and resolved at run time; the
resolved values go to the run's ``results.json``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import yaml

from fmnist_keras.data.augment import AUGMENTATIONS
from fmnist_keras.data.sources import DATASETS, SPLITS
from fmnist_keras.models import list_models

RECIPES_FILE = Path(__file__).with_name("recipes.yaml")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "multistep", "cosine")
WEIGHT_DECAY_MODES = ("coupled", "decoupled")
GROUPS = ("model", "data", "augmentation", "optimiser", "distillation", "schedule", "run")
LIST_FIELDS = ("augment", "milestones", "erase_area", "erase_aspect", "teacher")  # tuples, YAML lists


CLEARED = "none"   # an override that sets an optional value (step_size...) back to None


class ConfigError(ValueError):
    """A config value that is not accepted; the message names key, flag and value."""


# Mapping fields take repeated KEY=VALUE flags, named in the singular.
MAPPING_FLAGS = {"model_kwargs": "--model-arg", "lr_multipliers": "--lr-multiplier"}


def flag_name(key: str) -> str:
    return MAPPING_FLAGS.get(key, "--" + key.replace("_", "-"))


def _field(default, group: str, help: str, *, kind=None, choices=None, minimum=None,
           maximum=None, above=None, below=None):
    """A config field: its default and what the flag generator and validator need.

    ``kind`` is the type of the value, or of each item of a tuple (default: the type
    of ``default``); ``minimum``/``maximum`` are inclusive bounds, ``above``/``below``
    exclusive ones.
    """
    metadata = {"group": group, "help": help, "kind": kind or type(default),
                "choices": choices, "minimum": minimum, "maximum": maximum,
                "above": above, "below": below}
    if isinstance(default, (list, tuple, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs, saved as ``config.yaml`` in its run directory."""

    # model
    arch: str = _field("resnet14s", "model", "architecture or family (scripts/summary.py)")
    recipe: str | None = _field(None, "model", "recipe the config started from", kind=str)
    model_kwargs: dict = _field({}, "model", "builder arguments (--model-arg KEY=VALUE)")
    patch_whitening: bool = _field(False, "model", "fix the first convolution to whiten the "
                                   "training images' patches (both signs; not trained)")
    dirac_init: bool = _field(False, "model", "3x3 convolutions start as the identity on "
                              "their first channels")
    # data
    dataset: str = _field("fashion_mnist", "data", "dataset", choices=tuple(DATASETS))
    split: str = _field("standard", "data", "train/test split", choices=SPLITS)
    validation_size: int = _field(5000, "data", "training images held out for model "
                                  "selection (0: none)", minimum=0)
    max_train_samples: int | None = _field(None, "data", "train on this many images (none: all)",
                                           kind=int, minimum=1)
    normalise_with: str | None = _field(None, "data", "standardise the images with this "
                                        "dataset's mean and std (none: their own; the goal "
                                        "notes' code used mnist's on fashion_mnist)",
                                        kind=str, choices=tuple(DATASETS))
    # augmentation
    augment: tuple = _field((), "augmentation", "comma list of "
                            + ",".join(AUGMENTATIONS) + ", or none", kind=str,
                            choices=AUGMENTATIONS)
    crop_padding: int = _field(4, "augmentation", "crop: pixels of zero padding", minimum=0)
    rotation_degrees: float = _field(7.0, "augmentation", "rotate, affine: up to this many "
                                     "degrees", minimum=0.0, maximum=180.0)
    affine_scale: float = _field(0.1, "augmentation", "affine: scale by 1 +- up to this",
                                 minimum=0.0, below=1.0)
    affine_translate: float = _field(0.05, "augmentation", "affine: shift by up to this "
                                     "fraction of the image size", minimum=0.0, maximum=0.5)
    elastic_alpha: float = _field(34.0, "augmentation", "elastic: scale of the displacement "
                                  "field, in pixels", minimum=0.0)
    elastic_sigma: float = _field(4.0, "augmentation", "elastic: smoothness of the "
                                  "displacement field, the Gaussian's sd in pixels", above=0.0)
    cutout_size: int = _field(16, "augmentation", "cutout: side of the square", minimum=1)
    cutout_probability: float = _field(1.0, "augmentation", "cutout: chance per image",
                                       minimum=0.0, maximum=1.0)
    cutout_inside: bool = _field(False, "augmentation", "cutout: keep the square inside")
    alternate_flip: bool = _field(False, "augmentation", "flip: each image in alternate "
                                  "epochs (at random in the first) instead of at random")
    erase_probability: float = _field(0.5, "augmentation", "erase: chance per image",
                                      minimum=0.0, maximum=1.0)
    erase_area: tuple = _field((0.02, 0.4), "augmentation", "erase: MIN,MAX fraction of "
                               "the image", kind=float, above=0.0, maximum=1.0)
    erase_aspect: tuple = _field((0.3, 1 / 0.3), "augmentation", "erase: MIN,MAX aspect "
                                 "ratio (log-uniform)", kind=float, above=0.0)
    # optimiser
    optimizer: str = _field("sgd", "optimiser", "optimiser", choices=OPTIMIZERS)
    lr: float = _field(0.1, "optimiser", "peak learning rate", above=0.0)
    momentum: float = _field(0.9, "optimiser", "SGD momentum", minimum=0.0, below=1.0)
    nesterov: bool = _field(False, "optimiser", "Nesterov momentum (SGD)")
    sgd_form: str = _field("keras", "optimiser", "SGD's momentum form: keras (the rate "
                           "inside the buffer) or torch (PyTorch's, as the references)",
                           choices=("keras", "torch"))
    weight_decay: float = _field(0.0, "optimiser", "weight decay", minimum=0.0)
    weight_decay_mode: str = _field("coupled", "optimiser", "coupled: L2 in the gradient as "
                                    "the references; decoupled: AdamW-style",
                                    choices=WEIGHT_DECAY_MODES)
    lr_multipliers: dict = _field({}, "optimiser", "learning-rate factors by variable path "
                                  "(--lr-multiplier '*_bn/beta=64')")
    label_smoothing: float = _field(0.0, "optimiser", "label smoothing", minimum=0.0,
                                    below=1.0)
    ema_momentum: float = _field(0.0, "optimiser", "evaluate and export an exponential "
                                 "moving average of the weights (the optimiser's use_ema) "
                                 "with this momentum; 0: off", minimum=0.0, below=1.0)
    ema_bn_batches: int = _field(0, "optimiser", "with --ema-momentum: recompute the "
                                 "averaged weights' batch-norm statistics over this many "
                                 "training batches when training ends; 0: keep the raw "
                                 "weights' (Keras' use_ema)", minimum=0)
    # distillation
    teacher: tuple = _field((), "distillation", "finished runs' directories or trained "
                            "models' names under saved_models/ (comma list) whose mean "
                            "predicted probabilities the model also learns from (none: no "
                            "teacher)", kind=str)
    distill_weight: float = _field(0.0, "distillation", "weight of the teachers' term in "
                                   "the loss; the label's term gets 1 minus it",
                                   minimum=0.0, maximum=1.0)
    distill_temperature: float = _field(1.0, "distillation", "the teachers' term divides "
                                        "the teachers' and the model's logits by this "
                                        "(> 1 softens them)", above=0.0)
    # schedule
    epochs: int = _field(10, "schedule", "epochs", minimum=1)
    batch_size: int = _field(128, "schedule", "images per step", minimum=1)
    schedule: str = _field("multistep", "schedule", "learning-rate schedule",
                           choices=SCHEDULES)
    milestones: tuple = _field((), "schedule", "multistep: epochs where the rate is "
                               "multiplied by gamma, e.g. 60,120,160 (none: no milestone)",
                               kind=int, minimum=1)
    step_size: int | None = _field(None, "schedule", "step: epochs between decays (none: unset)",
                                   kind=int, minimum=1)
    gamma: float = _field(0.1, "schedule", "decay factor (step, multistep)", above=0.0,
                          maximum=1.0)
    min_lr: float = _field(0.0, "schedule", "cosine: final learning rate", minimum=0.0)
    warmup_epochs: float = _field(0.0, "schedule", "linear warm-up (epochs)", minimum=0.0)
    select: str = _field("best", "schedule", "the model evaluated: best (validation "
                         "accuracy) or last (a fixed schedule's final model)",
                         choices=("best", "last"))
    # run
    seed: int = _field(0, "run", "seed of the hold-out, data order, augmentation and "
                       "initialisation", minimum=0)
    mixed_precision: bool | str = _field(False, "run", "bfloat16 compute: true, false, "
                                         "or auto (where the hardware has it)",
                                         kind=bool, choices=(True, False, "auto"))
    jit_compile: bool = _field(False, "run", "XLA (slower on this CPU: docs/speed.md)")
    deterministic: bool = _field(False, "run", "TensorFlow op determinism: a resumed run "
                                 "ends with the uninterrupted run's weights (docs/training.md)")
    steps_per_execution: int = _field(1, "run", "training steps per call into the graph "
                                      "(amortises per-step overhead)", minimum=1)
    eval_batch_size: int | None = _field(None, "run", "images per evaluation batch (none: "
                                         "the training batch); evaluation keeps no batch "
                                         "statistics, so a larger one only saves time",
                                         kind=int, minimum=1)
    log_test_accuracy: bool = _field(False, "run", "also log test accuracy per epoch "
                                     "(comparison only, never selection)")
    test_time_flip: bool = _field(False, "run", "also report test accuracy averaged over "
                                  "each image and its mirror")
    test_time_shift: int = _field(0, "run", "also report test accuracy averaged over views "
                                  "moved this many pixels (0: none)", minimum=0)

    def __post_init__(self):
        for name in LIST_FIELDS:
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        for field in dataclasses.fields(self):
            _check_field(field, getattr(self, field.name))
        self._check_combinations()

    def _check_combinations(self):
        known = list_models() + list_models(families=True)
        if self.arch not in known:
            _refuse("arch", self.arch, "one of " + ", ".join(known))
        if len(set(self.augment)) != len(self.augment):
            _refuse("augment", ",".join(self.augment), "each augmentation at most once")
        if self.milestones and self.schedule != "multistep":
            _refuse("milestones", list(self.milestones), "milestones with --schedule "
                    f"multistep only (the schedule is {self.schedule}; pass --milestones none)")
        if self.schedule == "step" and self.step_size is None:
            _refuse("step_size", None, "an epoch count >= 1 with --schedule step")
        if self.step_size is not None and self.schedule != "step":
            _refuse("step_size", self.step_size, f"a step size with --schedule step only "
                    f"(the schedule is {self.schedule}; pass --step-size none)")
        if self.min_lr and self.schedule != "cosine":
            _refuse("min_lr", self.min_lr, "a floor with --schedule cosine only")
        if self.min_lr > self.lr:
            _refuse("min_lr", self.min_lr, f"at most --lr ({self.lr})")
        if self.warmup_epochs >= self.epochs:
            _refuse("warmup_epochs", self.warmup_epochs, f"fewer than --epochs ({self.epochs})")
        if self.select == "best" and not self.validation_size:
            _refuse("select", "best", "last when nothing is held out (--validation-size 0)")
        if self.alternate_flip and "flip" not in self.augment:
            _refuse("alternate_flip", True, "flip in --augment")
        if self.ema_bn_batches and not self.ema_momentum:
            _refuse("ema_bn_batches", self.ema_bn_batches, "0 without --ema-momentum")
        if self.ema_momentum and self.select == "best":
            # The averaged weights exist only after fit, in the last model; best.keras
            # would be a raw-weights checkpoint, so the average would never be scored.
            _refuse("select", "best", "last with --ema-momentum (the averaged weights are "
                    "the last model)")
        if self.nesterov and self.optimizer != "sgd":
            _refuse("nesterov", True, "Nesterov momentum with --optimizer sgd only")
        if self.teacher and not self.distill_weight:
            _refuse("teacher", ",".join(self.teacher), "a teacher with --distill-weight "
                    "above 0 only (pass --teacher none)")
        if self.distill_weight and not self.teacher:
            _refuse("distill_weight", self.distill_weight, "0 without --teacher")
        for pattern, factor in self.lr_multipliers.items():
            if not isinstance(pattern, str) or isinstance(factor, bool) or \
                    not isinstance(factor, (int, float)) or not 0 < factor < math.inf:
                _refuse("lr_multipliers", {pattern: factor},
                        "PATTERN=FACTOR with a glob pattern and a finite factor > 0")
        for name in ("erase_area", "erase_aspect"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                _refuse(name, ",".join(map(str, value)), "two numbers MIN,MAX with MIN <= MAX")

    def augment_options(self) -> dict:
        """The pipeline's keyword arguments for the named augmentations."""
        return {"crop_padding": self.crop_padding, "cutout_size": self.cutout_size,
                "cutout_probability": self.cutout_probability,
                "cutout_inside": self.cutout_inside, "rotation_degrees": self.rotation_degrees,
                "affine_scale": self.affine_scale, "affine_translate": self.affine_translate,
                "elastic_alpha": self.elastic_alpha, "elastic_sigma": self.elastic_sigma,
                "erase_probability": self.erase_probability, "erase_area": self.erase_area,
                "erase_aspect": self.erase_aspect, "alternate_flip": self.alternate_flip}

    def to_dict(self) -> dict:
        """Plain YAML/JSON values (tuples as lists), as saved in ``config.yaml``."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    def replace(self, **changes) -> "TrainConfig":
        """A checked copy with some values changed."""
        return dataclasses.replace(self, **changes)


CONFIG_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}


def _refuse(key, value, accepted):
    raise ConfigError(f"{key} ({flag_name(key)}) = {value!r} is not accepted; "
                      f"expected {accepted}.")


def _check_field(field, value) -> None:
    """Type, choices and range of one value (each item of a tuple)."""
    meta = field.metadata
    if value is None:
        if field.default is not None:
            _refuse(field.name, value, "a value")
        return
    for item in value if isinstance(value, tuple) else (value,):
        if meta["choices"] is not None:
            if not any(item == choice and type(item) is type(choice)
                       for choice in meta["choices"]):
                _refuse(field.name, item, "one of " + ", ".join(map(str, meta["choices"])))
        elif meta["kind"] is bool and not isinstance(item, bool):
            _refuse(field.name, item, "true or false")
        elif meta["kind"] in (int, float):
            is_number = isinstance(item, (int, float)) and not isinstance(item, bool)
            if not is_number or not math.isfinite(item) or \
                    (meta["kind"] is int and not float(item).is_integer()):
                _refuse(field.name, item, describe_range(field))
            if ((meta["minimum"] is not None and item < meta["minimum"])
                    or (meta["maximum"] is not None and item > meta["maximum"])
                    or (meta["above"] is not None and item <= meta["above"])
                    or (meta["below"] is not None and item >= meta["below"])):
                _refuse(field.name, item, describe_range(field))


def describe_range(field) -> str:
    """``"a number > 0.0"``, ``"an integer >= 1"``... for messages and ``--help``."""
    meta = field.metadata
    bounds = [f"{symbol} {meta[key]}" for key, symbol in
              (("minimum", ">="), ("above", ">"), ("maximum", "<="), ("below", "<"))
              if meta[key] is not None]
    kind = "an integer" if meta["kind"] is int else "a finite number"
    return " ".join([kind, " and ".join(bounds)]).strip()


# ------------------------------------------------------------------------ recipes


def load_recipes(path: Path = RECIPES_FILE) -> dict[str, dict]:
    """The named recipes of a YAML file; keys starting with ``_`` are shared anchors."""
    with open(path) as handle:
        recipes = yaml.safe_load(handle)
    return {name: values for name, values in recipes.items() if not name.startswith("_")}


def recipe_names() -> list[str]:
    return sorted(load_recipes())


def resolve_config(arch: str | None = None, recipe: str | None = None,
                   overrides: dict | None = None) -> TrainConfig:
    """Defaults, then a recipe, then overrides (None values are ignored; `CLEARED`
    sets a value back to None; a mapping is merged into the recipe's), checked.

    ``recipe`` defaults to the recipe named like ``arch``; an architecture without a
    recipe of its own trains with the defaults.

    Raises:
        ConfigError: for an unknown recipe or key, or a value the config refuses.
    """
    recipes = load_recipes()
    recipe = recipe or (arch if arch in recipes else None)
    values = {}
    if recipe is not None:
        if recipe not in recipes:
            raise ConfigError(f"recipe (--recipe) = {recipe!r} is not known; known recipes: "
                              f"{', '.join(sorted(recipes))}.")
        values.update(recipes[recipe], recipe=recipe)
    if arch is not None:
        values["arch"] = arch
    for key, value in (overrides or {}).items():
        if key in MAPPING_FLAGS and isinstance(value, dict):
            value = {**values.get(key, {}), **value}   # --model-arg changes one argument
        if value is not None:
            values[key] = None if value is CLEARED else value
    unknown = set(values) - set(CONFIG_FIELDS)
    if unknown:
        raise ConfigError(f"Unknown config keys {sorted(unknown)}; known: "
                          f"{sorted(CONFIG_FIELDS)}.")
    return TrainConfig(**values)
