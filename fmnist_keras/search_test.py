import json
import random

import keras
import keras_tuner as kt
import pandas as pd
import pytest

from fmnist_keras import search
from fmnist_keras.config import resolve_config

TINY = {"epochs": 1, "max_train_samples": 256, "validation_size": 128, "batch_size": 64}


@pytest.mark.parametrize("text, expected", [("8k", 8000), ("10M", 10_000_000), ("8000", 8000),
                                            ("2.5M", 2_500_000), ("1.5K", 1500)])
def test_parse_budget(text, expected):
    assert search.parse_budget(text) == expected


@pytest.mark.parametrize("text", ["ten", "8 GB", "", "-5", "0"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(ValueError, match="[Bb]udget"):
        search.parse_budget(text)


def test_megabytes_are_float32_storage():
    assert search.budget_from_megabytes(10) == 2_500_000


def test_budget_below_smallest_model_says_the_smallest_size():
    with pytest.raises(ValueError, match=r"smaller than the smallest mnist model .*\(\d[\d,]* parameters\)"):
        search.BudgetHyperModel("mnist", 100, resolve_config("mnist_final"), 4, 10)


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ValueError, match="known families: resnet, mnist"):
        search.family_space("vit")


@pytest.mark.parametrize("count", search.COUNTS)
def test_derived_widths_always_fit_and_use_the_budget(count):
    hypermodel = search.BudgetHyperModel("mnist", 4000, resolve_config("mnist_final"), 4, 10,
                                         count=count)
    kinds = set()
    for seed in range(6):
        hp = kt.HyperParameters()
        hypermodel.model_kwargs(hp)             # registers the space
        space = kt.oracles.RandomSearchOracle(hyperparameters=hp, seed=seed, max_trials=1)
        values = space.populate_space("0")["values"]
        hp.values.update(values)
        kwargs = hypermodel.model_kwargs(hp)
        kinds.add(kwargs["separable"])
        size = search.model_params("mnist_net", count, **kwargs)
        assert size <= 4000
        assert size > 0.6 * 4000 * 0.6          # fraction >= 0.6, and the widest that fits
    assert kinds == {True, False}               # both block kinds are searched


def test_tiny_search_finishes_within_budget(tmp_path, data_dir):
    config = resolve_config(None, "mnist_final", TINY)
    table = search.run_search(config, "mnist", 8000, tmp_path / "s", tuner="random",
                              max_trials=3, data_dir=data_dir, verbose=0)
    assert len(table) == 3
    assert (table["status"] == "COMPLETED").all()
    assert (table["trainable_params"] <= 8000).all() and table["within_budget"].all()
    assert table["val_accuracy"].notna().all()
    saved = pd.read_csv(tmp_path / "s" / "trials.csv")
    assert {"trial", "status", "trainable_params", "storage_mb", "val_accuracy",
            "budget_fraction", "taper", "epochs", "train_images", "minutes"} <= set(saved.columns)
    assert (saved["train_images"] == 256).all() and (saved["minutes"] > 0).all()
    best = json.loads((tmp_path / "s" / "best_hyperparameters.json").read_text())
    assert best["arch"] == "mnist_net" and best["budget"] == 8000
    assert (tmp_path / "s" / "best_run" / "best.keras").is_file()


def test_trials_draw_new_augmentation_every_epoch(tmp_path, data_dir, monkeypatch):
    # keras-tuner deep-copies the search's callbacks for each trial; the copy must still
    # move the training pipeline's epoch (its crops, flips and order follow from it).
    config = resolve_config(None, "mnist_final", {**TINY, "epochs": 3})
    epochs_seen = []
    original_fit = search.BudgetHyperModel.fit

    def fit_and_watch_the_pipeline(self, hp, model, *args, **kwargs):
        class Watch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                epochs_seen.append(int(pipeline_epoch[0].numpy()))
        kwargs["callbacks"] = [*kwargs["callbacks"], Watch()]
        return original_fit(self, hp, model, *args, **kwargs)

    original_datasets_for = search.datasets_for
    pipeline_epoch = []

    def datasets_for_kept(*args, **kwargs):
        splits, datasets = original_datasets_for(*args, **kwargs)
        pipeline_epoch.append(datasets["epoch"])
        return splits, datasets

    monkeypatch.setattr(search, "datasets_for", datasets_for_kept)
    monkeypatch.setattr(search.BudgetHyperModel, "fit", fit_and_watch_the_pipeline)
    monkeypatch.setattr(search, "train", lambda *args, **kwargs: None)   # no retraining
    search.run_search(config, "mnist", 8000, tmp_path / "s", tuner="random", max_trials=1,
                      data_dir=data_dir, verbose=0)
    assert epochs_seen == [0, 1, 2]


def test_a_trial_that_erases_trains_on_an_erasing_pipeline(tmp_path, data_dir, monkeypatch):
    config = resolve_config(None, "mnist_final", {**TINY, "seed": 4})   # one of each
    built = []
    original = search.datasets_for

    def datasets_for_recorded(*args, **kwargs):
        splits, datasets = original(*args, **kwargs)
        base = datasets["train_for"]
        datasets["train_for"] = lambda recipe: built.append(recipe) or base(recipe)
        return splits, datasets

    monkeypatch.setattr(search, "datasets_for", datasets_for_recorded)
    monkeypatch.setattr(search, "train", lambda *args, **kwargs: None)   # no retraining
    table = search.run_search(config, "mnist", 8000, tmp_path / "s", tuner="random",
                              max_trials=2, data_dir=data_dir, verbose=0, tune=("erase",))
    erasing = table[table["erase_probability"] > 0]
    assert len(erasing) == len(built) == 1 and len(table) == 2   # only it rebuilds
    assert sorted(recipe.erase_probability for recipe in built) == \
        sorted(erasing["erase_probability"])
    assert all("erase" in recipe.augment for recipe in built)


def test_free_space_rejects_over_budget_points_without_training(tmp_path, data_dir):
    config = resolve_config(None, "mnist_final", TINY)
    # Channels 4..32 per layer: about two samples in three are over 12,000 parameters.
    table = search.run_search(config, "mnist", 12000, tmp_path / "s", tuner="random",
                              max_trials=2, space="free", data_dir=data_dir, verbose=0)
    rejected = table[table["status"] == "FAILED"]
    completed = table[table["status"] == "COMPLETED"]
    assert len(completed) == 2                       # rejections did not use up trials
    assert len(rejected) >= 1
    assert (rejected["trainable_params"] > 12000).all()
    assert rejected["val_accuracy"].isna().all()     # never trained, never scored
    assert (completed["trainable_params"] <= 12000).all()


@pytest.mark.parametrize("tuner", search.TUNERS)
def test_every_tuner_builds_with_the_installed_extras(tuner, tmp_path):
    hypermodel = search.BudgetHyperModel("mnist", 8000, resolve_config("mnist_final"), 4, 10)
    built = search.make_tuner(hypermodel, tuner, tmp_path, max_trials=2)
    assert built.oracle.objective.name == "val_accuracy"
    assert built.oracle.max_consecutive_failed_trials > 3


def test_the_same_seed_samples_the_same_trials_whatever_ran_before(tmp_path):
    hypermodel = search.BudgetHyperModel("mnist", 8000, resolve_config("mnist_final"), 4, 10)

    def first_sample(directory):
        oracle = search.make_tuner(hypermodel, "random", directory, max_trials=2, seed=0).oracle
        return oracle.populate_space("t")["values"]

    first = first_sample(tmp_path / "a")
    random.seed(12345)                          # what ran before moves Python's global state
    assert first_sample(tmp_path / "b") == first


def test_a_search_killed_mid_trial_repeats_no_finished_trial(tmp_path, data_dir, monkeypatch):
    config = resolve_config(None, "mnist_final", TINY)
    fits = []
    original_fit = search.BudgetHyperModel.fit

    def fit_then_die_in_the_second(self, hp, model, *args, **kwargs):
        fits.append(dict(hp.values))
        if len(fits) == 2:
            raise KeyboardInterrupt     # a kill in the middle of the second trial
        return original_fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(search.BudgetHyperModel, "fit", fit_then_die_in_the_second)
    with pytest.raises(KeyboardInterrupt):
        search.run_search(config, "mnist", 8000, tmp_path / "s", tuner="random",
                          max_trials=2, data_dir=data_dir, verbose=0)
    so_far = pd.read_csv(tmp_path / "s" / "trials.csv")   # written as each trial ended
    assert list(so_far["status"]) == ["COMPLETED"] and so_far["val_accuracy"].notna().all()
    for weights in (tmp_path / "s").rglob("*.h5"):
        weights.unlink()                  # a fresh clone has the trial records, not weights
    monkeypatch.undo()
    retrained = []

    def fit_and_record(self, hp, model, *args, **kwargs):
        retrained.append(dict(hp.values))
        return original_fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(search.BudgetHyperModel, "fit", fit_and_record)
    table = search.run_search(config, "mnist", 8000, tmp_path / "s", tuner="random",
                              max_trials=2, data_dir=data_dir, verbose=0)
    assert (table["status"] == "COMPLETED").sum() == 2
    assert retrained == [fits[1]]                    # the killed trial alone, not the finished


def test_a_search_paused_at_its_deadline_continues_where_it_stopped(tmp_path, data_dir,
                                                                    monkeypatch):
    config = resolve_config(None, "mnist_final", TINY)
    fits = []
    original_fit = search.BudgetHyperModel.fit

    def fit_and_record(self, hp, model, *args, **kwargs):
        fits.append(dict(hp.values))
        return original_fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(search.BudgetHyperModel, "fit", fit_and_record)
    arguments = dict(tuner="random", max_trials=2, data_dir=data_dir, verbose=0)
    with pytest.raises(search.SearchPaused):
        search.run_search(config, "mnist", 8000, tmp_path / "s", **arguments,
                          stop_after_minutes=1e-6)
    assert len(fits) == 1                       # at least one trial, then no other
    so_far = pd.read_csv(tmp_path / "s" / "trials.csv")
    assert list(so_far["status"]) == ["COMPLETED"]
    assert not (tmp_path / "s" / "best_run").exists()
    table = search.run_search(config, "mnist", 8000, tmp_path / "s", **arguments,
                              stop_after_minutes=60)
    assert (table["status"] == "COMPLETED").sum() == 2
    assert len(fits) == 2                       # the finished trial did not train again
    assert (tmp_path / "s" / "best_run" / "best.keras").is_file()


def _sample(hypermodel, seed):
    """The builder arguments of one random point of the hypermodel's space."""
    hp = kt.HyperParameters()
    hypermodel.trial_config(hp)                 # registers the space
    # keras-tuner reads a seed of 0 as "draw one at random".
    oracle = kt.oracles.RandomSearchOracle(hyperparameters=hp, seed=seed + 1, max_trials=1)
    hp.values.update(oracle.populate_space("0")["values"])
    return hp, hypermodel.trial_config(hp)


def test_resnet_space_keeps_the_recipe_stem_and_tapers_within_the_budget():
    config = resolve_config(None, "search_speedrun")
    hypermodel = search.BudgetHyperModel("resnet", 300_000, config, 55_000, 10)
    pools, tapers = set(), set()
    for seed in range(4):
        hp, trial = _sample(hypermodel, seed)
        kwargs = trial.model_kwargs
        assert kwargs["stem_width"] == 16            # the whitening stem, from the recipe
        assert search.model_params("resnet", **kwargs) <= 300_000
        widths = kwargs["widths"]
        assert all(width % 16 == 0 for width in widths)  # the widths bfloat16 runs fast at
        # Each width is within half a multiple of its tapered value.
        assert abs(widths[-1] - hp["taper"] * widths[-2]) <= 8 * (1 + hp["taper"])
        pools.add(kwargs["stem_pool"])
        tapers.add(hp["taper"])
    assert len(pools | tapers) >= 3                   # both knobs actually vary


def test_plan_space_moves_the_pool_and_kernels_within_the_total_budget():
    hypermodel = search.BudgetHyperModel("mnist_plan", 4000, resolve_config(None, "search_mnist"),
                                         55_000, 10, count="total")
    plans, fits = set(), 0
    for seed in range(6):
        hp, trial = _sample(hypermodel, seed)
        plan = trial.model_kwargs["plan"]
        assert trial.arch == "mnist_plan"
        if search.model_params("mnist_plan", "total", **trial.model_kwargs) > 4000:
            with pytest.raises(kt.errors.FailedTrialError, match="over budget"):
                hypermodel.build(hp)          # a layout too big at any width: unbuilt
        else:
            fits += 1
        assert plan.index("p") == hp["blocks_before_pool"]
        assert all(int(block[1:]) % 4 == 0 for block in plan[:plan.index("p")])   # fast at 28x28
        assert ("_k5" in " ".join(plan)) == (hp["kernel"] == 5)
        plans.add(plan)
    assert len(plans) == 6 and fits >= 4


def _fixed(values):
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


# The mnist_plan choices of mnist_4k's layout.
FOUR_K_CHOICES = {"blocks_before_pool": 2, "blocks_after_pool": 4, "transition": True,
                  "separable": True, "kernel": 3, "taper": 1.0, "dropout": 0.0}


def test_plan_space_at_the_4k_nets_choices_is_the_4k_net():
    kwargs = search._plan_space(_fixed(FOUR_K_CHOICES), {})(8)
    assert kwargs["plan"] == ("c8", "s16", "p", "t12", "s20", "s24", "s26", "s26_same")
    assert search.model_params("mnist_plan", "total", **kwargs) == 3962       # mnist_4k


def test_plan_widths_move_in_fractions_of_a_step_to_fill_the_budget():
    # Of 3,600 parameters (90% of 4,000) the whole scale 7 uses 92% and 8 is over; a
    # quarter step uses over 97%.
    hp = _fixed({**FOUR_K_CHOICES, "budget_fraction": 0.9})
    size = search.model_params("mnist_plan", "total", **search._plan_budget(hp, 4000, "total", {}))
    whole = [search.model_params("mnist_plan", "total", **search._plan_space(hp, {})(scale))
             for scale in (7, 8)]
    assert whole[0] < 0.93 * 3600 < 0.97 * 3600 < size <= 3600 < whole[1]


def test_the_best_shape_retrains_at_the_whole_budget_when_asked():
    # The 8,000 plan search's winner (searches/mnist_plan_8k_fast_widths, trial 15) drew
    # 65% of the budget; at 1.0 the same layout takes the widest widths that fit it all.
    hypermodel = search.BudgetHyperModel("mnist_plan", 8000, resolve_config(None, "search_mnist"),
                                         55_000, 10, count="total")
    drawn = _fixed({"blocks_before_pool": 3, "blocks_after_pool": 2, "transition": False,
                    "separable": True, "kernel": 5, "taper": 0.9857491472497435,
                    "dropout": 0.0, "budget_fraction": 0.6537456976449605})
    whole = search.at_budget_fraction(drawn, 1.0)
    assert drawn["budget_fraction"] < 0.66                     # the sample is not changed
    assert hypermodel.trial_config(drawn).model_kwargs["plan"] == (
        "c12", "s24", "s24", "p", "s29_k5", "s35_k5_same")      # 5,178 parameters
    kwargs = hypermodel.trial_config(whole).model_kwargs
    assert kwargs["plan"] == ("c16", "s32", "s32", "p", "s38_k5", "s46_k5_same")
    assert 7900 < search.model_params("mnist_plan", "total", **kwargs) <= 8000


@pytest.mark.parametrize("fraction, space, message", [
    (1.5, "budget", "outside"), (0.0, "budget", "outside"), (1.0, "free", "space 'budget'")])
def test_a_final_budget_fraction_the_search_cannot_apply_is_refused(fraction, space, message):
    with pytest.raises(ValueError, match=message):
        search.check_final_budget_fraction(fraction, space)


def test_recipe_knobs_change_the_trial_recipe_and_unknown_ones_are_refused():
    config = resolve_config(None, "search_speedrun")
    hypermodel = search.BudgetHyperModel("resnet", 300_000, config, 55_000, 10,
                                         tune=search.RECIPE_KNOBS)
    seen_erase = set()
    for seed in range(6):
        hp, trial = _sample(hypermodel, seed)
        assert trial.lr == hp["lr"] and trial.weight_decay == hp["weight_decay"]
        assert trial.label_smoothing == hp["label_smoothing"]
        assert ("erase" in trial.augment) == (hp["erase_probability"] > 0)
        assert {"crop", "flip"} <= set(trial.augment)          # the recipe's own kept
        seen_erase.add("erase" in trial.augment)
    assert seen_erase == {True, False}
    with pytest.raises(ValueError, match="Unknown recipe knob.*dropout.*known: lr, "):
        search.BudgetHyperModel("resnet", 300_000, config, 55_000, 10, tune=("dropout",))


def test_a_promoted_hyperband_trial_is_built_fresh_over_its_whole_schedule(tmp_path):
    hypermodel = search.BudgetHyperModel("mnist", 8000, resolve_config("mnist_final"), 512, 10)
    tuner = search.make_tuner(hypermodel, "hyperband", tmp_path, max_trials=1)
    hp = kt.HyperParameters()
    hypermodel.trial_config(hp)
    # Keras-tuner's Hyperband would load this (missing) trial's checkpoint here.
    hp.values.update({"tuner/trial_id": "no-such-trial", "tuner/epochs": 3,
                      "tuner/initial_epoch": 1})
    assert tuner._build_hypermodel(hp).built          # nothing was loaded
    assert hypermodel.trial_config(hp).epochs == 3   # the rung's length is the schedule's


def test_a_one_epoch_rung_keeps_the_recipe_warm_up_as_a_fraction_of_it():
    config = resolve_config(None, "search_speedrun")        # 1 warm-up epoch of 9
    hypermodel = search.BudgetHyperModel("resnet", 300_000, config, 55_000, 10)
    hp = kt.HyperParameters()
    hypermodel.trial_config(hp)
    hp.values.update({"tuner/epochs": 1})
    trial = hypermodel.trial_config(hp)
    assert (trial.epochs, trial.warmup_epochs) == (1, pytest.approx(1 / 9))


def test_hyperband_trials_all_train_from_the_first_epoch(tmp_path, data_dir, monkeypatch):
    config = resolve_config(None, "mnist_final", {**TINY, "epochs": 3})
    fits = []
    original_fit = search.BudgetHyperModel.fit

    def fit_and_record(self, hp, model, *args, **kwargs):
        history = original_fit(self, hp, model, *args, **kwargs)
        fits.append((dict(hp.values), kwargs["epochs"], len(history.history["loss"])))
        if "tuner/trial_id" in hp.values:
            raise KeyboardInterrupt          # the first climbed rung is all this needs
        return history

    monkeypatch.setattr(search.BudgetHyperModel, "fit", fit_and_record)
    with pytest.raises(KeyboardInterrupt):
        search.run_search(config, "mnist", 8000, tmp_path / "s", tuner="hyperband",
                          data_dir=data_dir, verbose=0)
    promoted = [fit for fit in fits if "tuner/trial_id" in fit[0]]
    assert len(promoted) == 1 and len(fits) > 1       # a rung was climbed
    for values, epochs, trained in fits:
        assert epochs == values["tuner/epochs"] == trained   # every epoch of the rung ran
