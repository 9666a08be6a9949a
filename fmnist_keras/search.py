"""keras-tuner searches of a family's widths (and depth) under a parameter budget.

How the budget is kept (no over-budget model is ever trained):

* ``space="budget"`` (the default) **derives the widths from the budget**: the
  hyperparameters are the shape of the network (depth, stage count, taper, and the
  fraction of the budget to use) and the builder picks the widest network of that
  shape that fits. Every sample whose shape fits at all is trained within the budget
  and gives the optimiser a real score (a shape whose narrowest member is over the
  budget is rejected unbuilt, as below); this is the only mode safe for distributed
  tuning.
* ``space="free"`` samples widths directly. A sample over the budget is rejected in
  ``HyperModel.build`` with keras-tuner's ``FailedTrialError`` before any training,
  so it never gets a (fake) score. Because keras-tuner counts failed trials toward
  ``max_trials`` and aborts after ``max_consecutive_failed_trials`` failures in a row,
  the tuner raises that limit and grants one more trial per rejection, so the search
  still trains ``max_trials`` models (up to ``MAX_REJECTIONS_PER_TRIAL`` rejections per
  trained model, after which the space is reported as too far over budget).

Besides the shape, ``tune`` names recipe knobs to search with it (``RECIPE_KNOBS``:
learning rate, weight decay, label smoothing, random erasing), each over a range around
the recipe's own value.

Hyperband's rungs are complete runs: a trial promoted from 3 to 9 epochs trains 9
epochs from scratch over the recipe's whole schedule (warm-up, decay to its end)
instead of continuing the 3-epoch weights, whose rate has already decayed. A rung's
score is then the score of a real recipe of that length, and the search's cost is the
sum of its rungs' epochs (``trials.csv`` gives each trial's epochs, training images
and minutes).

A search given ``stop_after_minutes`` pauses between trials, never inside one (a trial
cut off trains again from its start when the search resumes): the same call continues
it, and ``trials.csv`` holds every trial finished so far.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from pathlib import Path

import keras
import keras_tuner as kt
import pandas as pd

from fmnist_keras.config import TrainConfig
from fmnist_keras.models import build_model
from fmnist_keras.models.analysis import BYTES_PER_FLOAT32, parameter_counts
from fmnist_keras.models.mnist_net import DEFAULT_CHANNELS
from fmnist_keras.timing import Deadline
from fmnist_keras.train.callbacks import EpochExtras, ReseedEachEpoch
from fmnist_keras.train.engine import (
    build_and_compile,
    configure_runtime,
    datasets_for,
    train,
    whitening_images,
)
from fmnist_keras.train.rundir import FinishedRunError

# The recipe a family's trials train with unless told otherwise.
SEARCH_RECIPES = {"resnet": "search_resnet", "mnist": "mnist_final",
                  "mnist_plan": "search_mnist"}
OVER_BUDGET = "over budget"
MAX_REJECTIONS_PER_TRIAL = 20
TUNERS = ("hyperband", "bayesian", "random")
RECIPE_KNOBS = ("lr", "weight_decay", "label_smoothing", "erase")
SPACES = ("budget", "free")
TRIALS_TABLE = "trials.csv"
# trials.csv's columns besides the searched hyperparameters (`trials_table`).
TRIAL_COLUMNS = ("trial", "status", "epochs", "train_images", "minutes", "model_kwargs",
                 "trainable_params", "total_params", "storage_mb", "within_budget",
                 "val_accuracy")
COUNTS = ("trainable", "total")   # what a budget bounds


def parse_budget(text) -> int:
    """``"10M"``, ``"2.5M"``, ``"8k"``, ``"8000"`` -> a parameter count."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*", str(text))
    if not match:
        raise ValueError(f"Budget {text!r} is not a number with an optional k or M suffix "
                         "(e.g. 8k, 10M, 8000).")
    value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    if value < 1:
        raise ValueError(f"Budget must be at least 1 parameter; received {text!r}.")
    return int(value)


def budget_from_megabytes(megabytes: float) -> int:
    """Float32 storage in (decimal) MB -> trainable parameters."""
    return int(megabytes * 1e6 / BYTES_PER_FLOAT32)


_COUNTS_CACHE: dict = {}


def model_counts(model_name: str, **kwargs):
    """The `ParameterCounts` of a model built from a family's arguments (each shape is
    built once: the trials table recounts every trial after each one)."""
    key = (model_name, json.dumps(kwargs, sort_keys=True, default=list))
    if key not in _COUNTS_CACHE:
        keras.backend.clear_session(free_memory=False)
        _COUNTS_CACHE[key] = parameter_counts(build_model(model_name, **kwargs))
    return _COUNTS_CACHE[key]


def model_params(model_name: str, count: str = "trainable", **kwargs) -> int:
    """A model's trainable parameters (the references' count) or ``total`` ones
    (Keras' ``count_params()``, BN moving statistics included)."""
    if count not in COUNTS:
        raise ValueError(f"Unknown parameter count {count!r}; known: {', '.join(COUNTS)}.")
    return getattr(model_counts(model_name, **kwargs), count)


def largest_fitting(make_kwargs, model_name: str, budget: int, low: int, high: int,
                    count: str = "trainable"):
    """The largest integer scale in [low, high] whose model fits the budget (model size
    grows with the scale), by bisection; None when even ``low`` does not fit."""
    if model_params(model_name, count, **make_kwargs(low)) > budget:
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if model_params(model_name, count, **make_kwargs(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


@dataclasses.dataclass(frozen=True)
class FamilySpace:
    """How one family's hyperparameters become builder arguments."""

    model_name: str
    # Both take the recipe's own builder arguments (``fixed``, e.g. a whitening stem's
    # width) and return them with the searched ones on top.
    define_budget: callable   # (hp, budget, count, fixed) -> kwargs, always within the budget
    define_free: callable     # (hp, fixed) -> kwargs, may exceed the budget
    smallest: dict            # kwargs of the smallest model the spaces can produce


# Channel counts this CPU's convolutions (oneDNN) run fast at, measured per training
# step (docs/speed.md, "Channel counts"): the bfloat16 ResNets at multiples of 16, the
# float32 MNIST nets at multiples of 4 where the maps are 28x28 (before the pool). In
# between they ran 1.3-2.9x slower, so the searches round their widths to these.
RESNET_WIDTH_MULTIPLE = 16
PLAN_WIDTH_MULTIPLE_BEFORE_POOL = 4


def fast_width(value: float, multiple: int) -> int:
    """``value`` rounded to the nearest positive multiple of ``multiple``."""
    return multiple * max(1, round(value / multiple))


def _resnet_budget(hp, budget, count, fixed):
    stages = hp.Int("stages", 3, 4)
    blocks = hp.Int("blocks_per_stage", 1, 3)
    fraction = hp.Float("budget_fraction", 0.3, 1.0)
    # Width ratio of consecutive stages (2: the references' doubling).
    taper = hp.Choice("taper", [1.5, 2.0, 2.5])
    # Where the resolution first halves: right after the stem (max-pool, every stage
    # at 14x14 and below) or at the second stage's stride.
    stem_pool = hp.Boolean("stem_pool")

    def kwargs(base):
        widths = tuple(fast_width(base * taper ** i, RESNET_WIDTH_MULTIPLE)
                       for i in range(stages))
        return {**fixed, "widths": widths,
                "blocks_per_stage": blocks, "stem_pool": stem_pool}

    base = largest_fitting(kwargs, "resnet", int(budget * fraction), 4, 512, count) or 4
    return kwargs(base)


def _resnet_free(hp, fixed):
    stages = hp.Int("stages", 3, 4)
    base = hp.Choice("base_width", [8, 16, 32, 64, 128, 256])
    return {**fixed, "widths": tuple(base * 2 ** i for i in range(stages)),
            "blocks_per_stage": hp.Int("blocks_per_stage", 1, 3)}


def _mnist_budget(hp, budget, count, fixed):
    fraction = hp.Float("budget_fraction", 0.6, 1.0)
    taper = hp.Float("taper", 0.5, 2.0)        # late (after the pool) vs early widths
    dropout = hp.Choice("dropout", [0.0, 0.01, 0.05])
    separable = hp.Boolean("separable")        # depthwise-separable 3x3 blocks

    def kwargs(scale):
        channels = tuple(max(2, round(scale / 8 * width * (taper if i >= 3 else 1.0)))
                         for i, width in enumerate(DEFAULT_CHANNELS))
        return {**fixed, "channels": channels, "batch_norm": True, "dropout": dropout,
                "separable": separable}

    scale = largest_fitting(kwargs, "mnist_net", int(budget * fraction), 2, 64, count) or 2
    return kwargs(scale)


def _mnist_free(hp, fixed):
    channels = tuple(hp.Int(f"c{i}", 4, 32, step=4) for i in range(1, 8))
    return {**fixed, "channels": channels, "batch_norm": True,
            "dropout": hp.Choice("dropout", [0.0, 0.01, 0.05]),
            "separable": hp.Boolean("separable")}


def _plan_space(hp, fixed):
    """The mnist_plan shape a sample picks, as a function of the width ``scale``: the
    blocks before and after the pool, the transition, plain or separable blocks, the
    kernel after the pool. Widths follow mnist_4k's proportions (scale 8, taper 1,
    2 + 4 separable 3x3 blocks with the transition give exactly its net)."""
    before = hp.Int("blocks_before_pool", 1, 3)
    after = hp.Int("blocks_after_pool", 2, 5)
    transition = hp.Boolean("transition")
    separable = hp.Boolean("separable")
    kernel = hp.Choice("kernel", [3, 5])        # of the blocks after the pool
    taper = hp.Float("taper", 0.5, 2.0)         # widths after the pool relative to before
    dropout = hp.Choice("dropout", [0.0, 0.05])
    plain_or_separable = "s" if separable else "c"

    def kwargs(scale):
        plan, size = [], 28
        for i in range(before):                 # the first block sees one channel: plain
            width = fast_width(scale * min(i + 1, 2), PLAN_WIDTH_MULTIPLE_BEFORE_POOL)
            plan.append(f"{'c' if i == 0 else plain_or_separable}{width}")
            size -= 2
        plan.append("p")
        size //= 2
        if transition:
            plan.append(f"t{max(2, round(1.5 * scale))}")
        for i in range(after):
            width = max(2, round(scale * taper * min(2.5 + 0.5 * i, 3.25)))
            # Valid convolutions while the maps stay at 5 pixels or more, then padded.
            pad = size - kernel + 1 < 5
            size = size if pad else size - kernel + 1
            plan.append(f"{plain_or_separable}{width}" + (f"_k{kernel}" if kernel != 3 else "")
                        + ("_same" if pad else ""))
        return {**fixed, "plan": tuple(plan), "batch_norm": True, "dropout": dropout}

    return kwargs


def _plan_budget(hp, budget, count, fixed):
    fraction = hp.Float("budget_fraction", 0.6, 1.0)
    kwargs = _plan_space(hp, fixed)
    # The width scale moves in quarters: a whole step adds 15-30% parameters at these
    # sizes, which left samples using 37-81% of the budget.
    quarters = largest_fitting(lambda quarter: kwargs(quarter / 4), "mnist_plan",
                               int(budget * fraction), 8, 256, count) or 8
    return kwargs(quarters / 4)


def _plan_free(hp, fixed):
    return _plan_space(hp, fixed)(hp.Int("scale", 2, 16))


FAMILIES = {
    "resnet": FamilySpace("resnet", _resnet_budget, _resnet_free,
                          {"widths": (4, 8, 16), "blocks_per_stage": 1}),
    "mnist": FamilySpace("mnist_net", _mnist_budget, _mnist_free,
                         {"channels": (2,) * 7, "batch_norm": True}),
    "mnist_plan": FamilySpace("mnist_plan", _plan_budget, _plan_free,
                              {"plan": ("c2", "p", "c2", "c2_same")}),
}


def recipe_knobs(hp, config: TrainConfig, knobs) -> dict:
    """The trial's changes to the recipe for the ``knobs`` searched (``RECIPE_KNOBS``)."""
    unknown = sorted(set(knobs) - set(RECIPE_KNOBS))
    if unknown:
        raise ValueError(f"Unknown recipe knob(s) {', '.join(unknown)} to tune; known: "
                         f"{', '.join(RECIPE_KNOBS)}.")
    changes = {}
    if "lr" in knobs:
        # Around a tuned rate: three times the speed run's diverged in the first trials.
        changes["lr"] = hp.Float("lr", config.lr / 4, config.lr * 2, sampling="log")
    if "weight_decay" in knobs:
        centre = config.weight_decay or 5e-4
        changes["weight_decay"] = hp.Float("weight_decay", centre / 5, centre * 5,
                                           sampling="log")
    if "label_smoothing" in knobs:
        changes["label_smoothing"] = hp.Choice("label_smoothing", [0.0, 0.1, 0.2])
    if "erase" in knobs:
        probability = hp.Choice("erase_probability", [0.0, 0.25, 0.5])
        kept = tuple(name for name in config.augment if name != "erase")
        changes["augment"] = kept + ("erase",) if probability else kept
        if probability:     # without erasing, the recipe's pipeline serves unchanged
            changes["erase_probability"] = probability
    return changes


def family_space(name: str) -> FamilySpace:
    if name not in FAMILIES:
        raise ValueError(f"Unknown search family {name!r}; known families: "
                         f"{', '.join(FAMILIES)}.")
    return FAMILIES[name]


class BudgetHyperModel(kt.HyperModel):
    """Builds a family member from the hyperparameters and trains it with the run's
    recipe (optimiser, schedule, weight decay); refuses over-budget models unbuilt."""

    def __init__(self, family: str, budget: int, config: TrainConfig, train_examples: int,
                 num_classes: int, space: str = "budget", tune: tuple = (),
                 train_images=None, count: str = "trainable", train_pipeline=None):
        super().__init__(name=f"{family}_under_{budget}")
        if space not in SPACES:
            raise ValueError(f"Unknown search space {space!r}; known: {', '.join(SPACES)}.")
        self.family, self.space = family_space(family), space
        self.budget, self.config, self.train_examples = budget, config, train_examples
        self.num_classes, self.tune = num_classes, tuple(tune)
        recipe_knobs(kt.HyperParameters(), config, self.tune)   # refuses unknown knobs now
        self.train_images = train_images   # for a recipe with patch whitening
        self.count = count
        # config -> training dataset, for a trial whose augmentation differs (``erase``).
        self.train_pipeline = train_pipeline
        smallest = model_params(self.family.model_name, count,
                                **{**config.model_kwargs, **self.family.smallest})
        if budget < smallest:
            raise ValueError(f"Budget {budget:,} {count} parameters is smaller than the smallest "
                             f"{family} model of the search space ({smallest:,} parameters).")

    def model_kwargs(self, hp) -> dict:
        fixed = dict(self.config.model_kwargs)
        if self.space == "budget":
            return self.family.define_budget(hp, self.budget, self.count, fixed)
        return self.family.define_free(hp, fixed)

    def trial_config(self, hp) -> TrainConfig:
        """The recipe a trial trains: the searched model and knobs, and Hyperband's
        rung length as the whole schedule's (the warm-up the same fraction of it)."""
        epochs = hp.values.get("tuner/epochs", self.config.epochs)
        return self.config.replace(
            arch=self.family.model_name, model_kwargs=self.model_kwargs(hp), epochs=epochs,
            warmup_epochs=self.config.warmup_epochs * epochs / self.config.epochs,
            **recipe_knobs(hp, self.config, self.tune))

    def build(self, hp):
        config = self.trial_config(hp)
        size = model_params(config.arch, self.count, **config.model_kwargs)
        if size > self.budget:
            raise kt.errors.FailedTrialError(
                f"{OVER_BUDGET}: {size:,} {self.count} parameters > {self.budget:,}; "
                "rejected before training.")
        return build_and_compile(config, self.num_classes,
                                 math.ceil(self.train_examples / config.batch_size),
                                 self.train_images)

    def fit(self, hp, model, *args, **kwargs):
        # The tf.data pipeline shuffles (seeded); Keras' own shuffle flag does not apply.
        # Every trial starts at epoch 0, a Hyperband rung included (module docstring).
        kwargs["initial_epoch"] = 0
        trial = self.trial_config(hp)
        if self.train_pipeline is not None and _augmentation(trial) != _augmentation(self.config):
            args = (self.train_pipeline(trial), *args[1:])
        history = model.fit(*args, shuffle=False, **kwargs)
        # Keras-tuner keeps only the best epoch's logs: give each epoch the trial's cost.
        minutes = sum(history.history["epoch_time_s"]) / 60
        history.history["trial_minutes"] = [minutes] * len(history.history["epoch_time_s"])
        return history


def _augmentation(config: TrainConfig):
    return config.augment, config.augment_options()


class _GrantsTrialsForRejections:
    """Mixin: a budget rejection neither uses up a trial (random and Bayesian search get
    one more) nor counts toward keras-tuner's consecutive-failure abort. Hyperband's
    brackets are fixed by ``max_epochs``; there a rejection leaves its slot empty."""

    def __init__(self, *args, rejection_limit=MAX_REJECTIONS_PER_TRIAL * 10, **kwargs):
        super().__init__(*args, max_consecutive_failed_trials=rejection_limit + 1, **kwargs)
        self.rejections = 0
        self.rejection_limit = rejection_limit

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if trial.status == kt.engine.trial.TrialStatus.FAILED and \
                OVER_BUDGET in (trial.message or ""):
            self.rejections += 1
            if self.rejections > self.rejection_limit:
                raise RuntimeError(f"{self.rejections} samples were over the budget; the "
                                   "search space is too far over it (use space='budget').")
            if getattr(self.oracle, "max_trials", None):
                self.oracle.max_trials += 1


class _WritesTrialsTable:
    """Mixin: ``trials.csv`` is rewritten after every trial, so a search stopped at any
    point leaves the table of what it finished (the chief's; a worker sees only its own)."""

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if not is_distributed_worker():
            trials_table(self, self.hypermodel).to_csv(
                Path(self.directory) / TRIALS_TABLE, index=False)


class SearchPaused(Exception):
    """A search stopped between trials at its deadline; the same call continues it."""


class _StopsBeforeDeadline:
    """Mixin: after each trial, starts no other that, as long as the longest so far,
    would end past ``deadline`` (a ``time.monotonic()`` time; None: never; `Deadline`).
    The trials train one epoch count per Hyperband rung, so a longer rung's first trial
    may still run past. At least one trial trains."""

    def __init__(self, *args, deadline=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = None if deadline is None else Deadline(deadline)
        self.another_fits = True

    def on_trial_begin(self, trial):
        self.trial_started = time.monotonic()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.deadline is not None:
            self.another_fits = self.deadline.another_fits(self.trial_started, time.monotonic())

    def pre_create_trial(self):
        if not self.another_fits:
            raise SearchPaused(f"the next trial would end past the deadline (trials take up "
                               f"to {self.deadline.longest / 60:.1f} min)")
        super().pre_create_trial()


class _RungsTrainFromScratch:
    """Hyperband mixin: a promoted trial is built fresh instead of loading the weights
    of the rung below (module docstring: each rung is a complete schedule)."""

    def _build_hypermodel(self, hp):
        return super(kt.Hyperband, self)._build_hypermodel(hp)


def _tuner_class(name: str):
    bases = {"hyperband": (_RungsTrainFromScratch, kt.Hyperband),
             "bayesian": (kt.BayesianOptimization,), "random": (kt.RandomSearch,)}
    if name not in bases:
        raise ValueError(f"Unknown tuner {name!r}; known: {', '.join(TUNERS)}.")
    return type(f"Budget{bases[name][-1].__name__}",
                (_StopsBeforeDeadline, _WritesTrialsTable, _GrantsTrialsForRejections,
                 *bases[name]), {})


def make_tuner(hypermodel: BudgetHyperModel, tuner: str, directory, max_trials: int,
               seed: int = 0, overwrite: bool = False, deadline: float | None = None):
    """A keras-tuner tuner on validation accuracy; ``overwrite=False`` resumes, and
    ``deadline`` (a ``time.monotonic()`` time) pauses it between trials.

    Random and Bayesian search train ``max_trials`` models; Hyperband sizes its
    brackets from the recipe's epochs (``max_epochs``) with factor 3. The samples
    follow ``seed``: keras-tuner reads a seed of 0 as none (a random one), so the
    oracle gets ``seed + 1``.
    """
    options = dict(objective=kt.Objective("val_accuracy", "max"), seed=seed + 1,
                   directory=str(directory), project_name="trials", overwrite=overwrite,
                   rejection_limit=MAX_REJECTIONS_PER_TRIAL * max_trials, deadline=deadline)
    if tuner == "hyperband":
        return _tuner_class(tuner)(hypermodel, max_epochs=hypermodel.config.epochs, factor=3,
                                   hyperband_iterations=1, **options)
    return _tuner_class(tuner)(hypermodel, max_trials=max_trials, **options)


def is_distributed_worker() -> bool:
    """True in a keras-tuner worker process (``KERASTUNER_TUNER_ID`` set, not "chief")."""
    return os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief"


def trials_table(tuner, hypermodel: BudgetHyperModel) -> pd.DataFrame:
    """One row per trial: hyperparameters, the model they give, its size and score."""
    rows = []
    for trial in tuner.oracle.trials.values():
        hp = trial.hyperparameters
        config = hypermodel.trial_config(hp)
        counts = model_counts(config.arch, **config.model_kwargs)
        score = trial.metrics.get_best_value("val_accuracy") \
            if trial.metrics.exists("val_accuracy") else None
        minutes = trial.metrics.get_last_value("trial_minutes") \
            if trial.metrics.exists("trial_minutes") else None
        rows.append({"trial": trial.trial_id, "status": trial.status,
                     **{k: v for k, v in hp.values.items() if not k.startswith("tuner/")},
                     # The fidelity the score was measured at, and what it cost.
                     "epochs": config.epochs, "train_images": hypermodel.train_examples,
                     "minutes": minutes,
                     "model_kwargs": json.dumps(config.model_kwargs),
                     "trainable_params": counts.trainable,
                     "total_params": counts.total,
                     "storage_mb": round(counts.storage_mb, 4),
                     "within_budget": getattr(counts, hypermodel.count) <= hypermodel.budget,
                     "val_accuracy": score})
    return pd.DataFrame(rows).sort_values("trial", ignore_index=True)


def read_trials(path) -> tuple[pd.DataFrame, list[str]]:
    """A search's ``trials.csv`` and the names of its searched hyperparameters."""
    trials = pd.read_csv(path, dtype={"trial": str})
    return trials, [column for column in trials.columns if column not in TRIAL_COLUMNS]


def at_budget_fraction(hp, fraction: float):
    """A copy of a budget-space sample with its ``budget_fraction`` replaced: the same
    shape at another share of the budget. Samples draw fractions from 0.6 (ResNets 0.3),
    so a winner often leaves much of the budget unused; 1.0 gives it the whole budget."""
    scaled = hp.copy()
    scaled.values["budget_fraction"] = fraction
    return scaled


def check_final_budget_fraction(fraction: float | None, space: str) -> None:
    """Refuses a final budget fraction the search could not apply, before any trial."""
    if fraction is None:
        return
    if space != "budget":
        raise ValueError(f"A final budget fraction needs space 'budget'; space {space!r} "
                         "samples widths. Drop the fraction or use space 'budget'.")
    if not 0 < fraction <= 1:
        raise ValueError(f"Final budget fraction {fraction} is outside (0, 1]; use 1.0 for "
                         "the whole budget.")


def run_search(config: TrainConfig, family: str, budget: int, directory, tuner: str = "hyperband",
               max_trials: int = 10, space: str = "budget", data_dir=None,
               final_epochs: int | None = None, overwrite: bool = False,
               tune: tuple = (), verbose: int = 1, count: str = "trainable",
               final_budget_fraction: float | None = None,
               stop_after_minutes: float | None = None):
    """Searches, writes ``trials.csv`` and ``best_hyperparameters.json``, and (on the
    chief, or alone) retrains the best model into ``directory/best_run`` for export,
    at ``final_budget_fraction`` of the budget if given (else as it was searched).

    ``stop_after_minutes`` (counted from this call) pauses the search between trials
    (module docstring) by raising `SearchPaused`; the same call continues it.

    Returns:
        The trials table (None on a distributed worker, whose chief reports).
    """
    deadline = None if stop_after_minutes is None else time.monotonic() + 60 * stop_after_minutes
    directory = Path(directory)
    check_final_budget_fraction(final_budget_fraction, space)
    configure_runtime(config)
    splits, datasets = datasets_for(config, data_dir)
    if datasets["val"] is None:
        raise ValueError("A search needs a validation hold-out (validation_size > 0); the "
                         "test set is never its objective.")
    hypermodel = BudgetHyperModel(family, budget, config, len(splits.x_train),
                                  splits.info.num_classes, space, tune,
                                  whitening_images(splits), count, datasets["train_for"])
    search_tuner = make_tuner(hypermodel, tuner, directory, max_trials, config.seed, overwrite,
                              deadline)
    search_tuner.search(datasets["train"], validation_data=datasets["val"],
                        epochs=config.epochs, verbose=verbose,
                        callbacks=[ReseedEachEpoch(config.seed, datasets["epoch"]),
                                   EpochExtras()])
    if is_distributed_worker():
        return None
    table = trials_table(search_tuner, hypermodel)
    table.to_csv(directory / TRIALS_TABLE, index=False)
    best_hp = search_tuner.get_best_hyperparameters(1)[0]
    if final_budget_fraction is not None:
        best_hp = at_budget_fraction(best_hp, final_budget_fraction)
    best_config = hypermodel.trial_config(best_hp).replace(epochs=final_epochs or config.epochs)
    (directory / "best_hyperparameters.json").write_text(json.dumps(
        {"hyperparameters": best_hp.values, "arch": best_config.arch,
         "model_kwargs": best_config.model_kwargs, "budget": budget, "count": count},
        indent=2))
    try:
        train(best_config, directory / "best_run", data_dir=data_dir, overwrite=overwrite)
    except FinishedRunError:
        pass  # a resumed search whose best model was already retrained
    return table
