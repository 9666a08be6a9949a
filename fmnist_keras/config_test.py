import dataclasses

import pytest

from fmnist_keras.cli.train import build_parser
from fmnist_keras.config import (
    ConfigError,
    TrainConfig,
    flag_name,
    load_recipes,
    resolve_config,
)


def test_every_recipe_resolves_to_a_valid_config():
    for name in load_recipes():
        assert resolve_config(recipe=name).recipe == name


def test_config_is_frozen_and_replace_checks_again():
    config = resolve_config("mnist_final")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    with pytest.raises(ConfigError, match="epochs"):
        config.replace(epochs=0)


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 0}, "epochs (--epochs) = 0 is not accepted; expected an integer >= 1."),
    ({"batch_size": 0}, "batch_size (--batch-size) = 0 is not accepted; expected an integer >= 1."),
    ({"lr": -1.0}, "lr (--lr) = -1.0 is not accepted; expected a finite number > 0.0."),
    ({"lr": float("nan")}, "lr (--lr) = nan"),
    ({"optimizer": "rmsprop"}, "expected one of sgd, adam."),
    ({"augment": ["crop", "mixup"]}, "augment (--augment) = 'mixup'"),
    ({"augment": ["crop", "crop"]}, "each augmentation at most once"),
    ({"label_smoothing": 1.0}, "expected a finite number >= 0.0 and < 1.0."),
    ({"epochs": 2.5}, "epochs (--epochs) = 2.5"),
    ({"nesterov": "yes"}, "expected true or false"),
    ({"mixed_precision": "fast"}, "expected one of True, False, auto"),
    ({"arch": "resnet50"}, "arch (--arch) = 'resnet50' is not accepted; expected one of "),
    ({"lr_multipliers": {"*_bn/beta": 0}}, "lr_multipliers (--lr-multiplier) = "
     "{'*_bn/beta': 0} is not accepted; expected PATTERN=FACTOR"),
    ({"lr_multipliers": {"*_bn/beta": "big"}}, "expected PATTERN=FACTOR with a glob"),
])
def test_bad_values_name_key_flag_value_and_what_is_accepted(overrides, message):
    with pytest.raises(ConfigError) as error:
        resolve_config("mnist_final", overrides=overrides)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("overrides, message", [
    ({"schedule": "cosine"}, "step_size (--step-size) = 6"),       # the recipe's step size
    ({"schedule": "multistep", "step_size": "none", "milestones": [3], "min_lr": 0.01},
     "min_lr (--min-lr) = 0.01"),
    ({"step_size": "none"}, "an epoch count >= 1 with --schedule step"),
    ({"nesterov": True}, "Nesterov momentum with --optimizer sgd only"),
    ({"warmup_epochs": 15}, "fewer than --epochs (15)"),
    ({"erase_area": [0.5, 0.1]}, "MIN <= MAX"),
    ({"teacher": ["runs/big"]}, "teacher (--teacher) = 'runs/big' is not accepted; expected "
     "a teacher with --distill-weight above 0 only"),
    ({"distill_weight": 0.5}, "distill_weight (--distill-weight) = 0.5"),
    ({"ema_bn_batches": 100}, "ema_bn_batches (--ema-bn-batches) = 100 is not accepted; "
     "expected 0 without --ema-momentum"),
    ({"ema_momentum": 0.999}, "select (--select) = 'best' is not accepted; expected last "
     "with --ema-momentum"),
])
def test_contradictions_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_config("mnist_final", overrides=overrides)


def test_milestones_with_another_schedule_say_how_to_drop_them():
    with pytest.raises(ConfigError, match="pass --milestones none"):
        resolve_config("resnet14s", overrides={"schedule": "cosine"})
    assert resolve_config("resnet14s", overrides={"schedule": "cosine",
                                                  "milestones": ()}).milestones == ()


def test_unknown_recipe_and_key_are_refused():
    with pytest.raises(ConfigError, match="known recipes: .*mnist_final"):
        resolve_config("mnist_final", recipe="imagenet")
    with pytest.raises(ConfigError, match="Unknown config keys \\['epoch'\\]"):
        resolve_config("mnist_final", overrides={"epoch": 3})


def test_auto_stays_auto_in_the_config():
    assert resolve_config("resnet14s").mixed_precision == "auto"
    assert resolve_config("mnist_final").mixed_precision is False
    assert resolve_config("resnet14s").to_dict()["mixed_precision"] == "auto"


def test_every_field_has_a_flag_in_its_group():
    parser = build_parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for field in dataclasses.fields(TrainConfig):
        assert flag_name(field.name) in flags, field.name
    titles = [group.title for group in parser._action_groups]
    for group in ("model", "data", "augmentation", "optimiser", "schedule", "run"):
        assert f"{group} (config)" in titles


def test_flags_override_the_recipe_and_lists_parse():
    args = build_parser().parse_args(["--recipe", "resnet14s", "--milestones", "none",
                                      "--schedule", "cosine", "--augment", "crop,flip",
                                      "--erase-area", "0.1,0.2", "--mixed-precision", "false"])
    assert args.milestones == () and args.augment == ("crop", "flip")
    assert args.erase_area == (0.1, 0.2) and args.mixed_precision is False
    args = build_parser().parse_args(["--recipe", "mnist_final", "--schedule", "cosine",
                                      "--step-size", "none"])
    assert resolve_config(None, "mnist_final", {"schedule": args.schedule,
                                                "step_size": args.step_size}).step_size is None


def test_a_model_argument_changes_only_that_argument_of_the_recipe():
    config = resolve_config(recipe="mnist_8k", overrides={"model_kwargs": {"dropout": 0.0}})
    assert config.model_kwargs == {"channels": [11, 22, 11, 10, 10, 13, 13], "dropout": 0.0}


@pytest.mark.parametrize("recipe, budget", [("mnist_4k", 4000), ("mnist_6k", 6312),
                                            ("mnist_8k_995", 8000), ("mnist_8k", 8000)])
def test_the_mnist_frontier_recipes_keep_their_budget_in_keras_count(recipe, budget):
    from fmnist_keras.models import build_model

    config = resolve_config(recipe=recipe)
    assert build_model(config.arch, **config.model_kwargs).count_params() <= budget


def test_mnist_6k_is_mnist_4k_on_wider_blocks():
    # Its seeds ran as mnist_4k with --model-arg channels=[...]: the same run.
    wider = resolve_config(recipe="mnist_4k", overrides={
        "model_kwargs": {"channels": [12, 24, 16, 28, 30, 34, 34]}}).to_dict()
    assert resolve_config(recipe="mnist_6k").to_dict() == {**wider, "recipe": "mnist_6k"}


@pytest.mark.parametrize("recipe", ["fmnist_96", "fmnist_96_resnet32"])
def test_the_96_percent_recipes_fit_ten_megabytes_of_float32_weights(recipe):
    from fmnist_keras.models import build_model
    from fmnist_keras.models.analysis import parameter_counts

    config = resolve_config(recipe=recipe)
    counts = parameter_counts(build_model(config.arch, **config.model_kwargs))
    assert counts.total_storage_mb <= 10.0
