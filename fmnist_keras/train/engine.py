"""Training a config: runtime, model, optimiser, fit, selection and the final figures.

Model selection is on the validation hold-out; the test set is evaluated once, on the
selected model. A per-epoch test accuracy (``log_test_accuracy``) is only a comparison
with the references, which selected on the test set. Every file goes through `RunDir`.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from fmnist_keras.config import TrainConfig
from fmnist_keras.data.pipeline import make_dataset
from fmnist_keras.data.sources import load_splits
from fmnist_keras.hardware import device_description, resolve_mixed_precision
from fmnist_keras.models import build_model
from fmnist_keras.models.analysis import parameter_counts
from fmnist_keras.models.initialisation import (
    WHITENING_IMAGES,
    apply_dirac,
    apply_patch_whitening,
)
from fmnist_keras.timing import keras_batch1_latency_ms
from fmnist_keras.train.averaging import recompute_batch_norm_statistics
from fmnist_keras.train.callbacks import (
    AtomicBackupAndRestore,
    AtomicModelCheckpoint,
    EpochExtras,
    EpochSummary,
    ReseedEachEpoch,
    StopBeforeDeadline,
    StopOnNaN,
)
from fmnist_keras.train.distill import distillation_targets, load_teacher, teacher_probabilities
from fmnist_keras.train.evaluate import tta_accuracy
from fmnist_keras.train.losses import LabelAccuracy, SparseCrossentropy
from fmnist_keras.train.optimizers import SGD, Adam, TorchSGD, check_multipliers
from fmnist_keras.train.rundir import RunDir, load_checkpoint
from fmnist_keras.train.schedules import build_schedule


def configure_runtime(config: TrainConfig, pinned_precision: bool | None = None) -> dict:
    """Seeds every generator and sets the dtype policy; call before building models.

    Args:
        pinned_precision: the precision a resumed run started with, which wins over
            the config's ``auto`` (`RunDir.pinned_precision`).

    Returns:
        The settings resolved for this machine (``mixed_precision: auto``) and the
        machine itself, so each run's figures say where they were measured.
    """
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    mixed = resolve_mixed_precision(config.mixed_precision) if pinned_precision is None \
        else pinned_precision
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")
    return {"mixed_precision": mixed, "device": device_description()}


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """SGD or Adam on the recipe's schedule; decoupled weight decay goes here."""
    decoupled = config.weight_decay if config.weight_decay_mode == "decoupled" else None
    schedule = build_schedule(config, steps_per_epoch)
    common = {"use_ema": bool(config.ema_momentum), "ema_momentum": config.ema_momentum or 0.99,
              "weight_decay": decoupled, "lr_multipliers": config.lr_multipliers}
    if config.optimizer == "sgd":
        sgd = TorchSGD if config.sgd_form == "torch" else SGD
        return sgd(schedule, momentum=config.momentum, nesterov=config.nesterov, **common)
    # epsilon as in torch.optim.Adam, which the MNIST reference used
    return Adam(schedule, epsilon=1e-8, **common)


def apply_coupled_weight_decay(model, weight_decay: float) -> None:
    """The references' weight decay: ``weight_decay * w`` added to the gradient of
    every trainable variable (kernels, biases, BN gamma and beta), i.e. an L2 term
    ``weight_decay / 2 * ||w||^2`` in the loss, before momentum."""
    for variable in model.trainable_variables:
        variable.regularizer = keras.regularizers.L2(weight_decay / 2)


def whitening_images(splits) -> np.ndarray:
    """The first training images as the model sees them (normalised), from which a
    patch-whitening convolution is computed."""
    images = splits.x_train[:WHITENING_IMAGES].astype(np.float32) / 255.0
    return (images - splits.info.mean) / splits.info.std


def training_loss(config: TrainConfig, **kwargs) -> SparseCrossentropy:
    """The config's loss: cross-entropy with its label smoothing and distillation."""
    return SparseCrossentropy(config.label_smoothing, config.distill_weight,
                              config.distill_temperature, **kwargs)


def build_and_compile(config: TrainConfig, num_classes: int, steps_per_epoch: int,
                      train_images: np.ndarray | None = None):
    """Builds the config's model, sets its rule-based weights (patch whitening, Dirac)
    and compiles it.

    Args:
        train_images: `whitening_images` of the training set; needed with
            ``patch_whitening``.
    """
    model = build_model(config.arch, num_classes=num_classes, **config.model_kwargs)
    whitened = []
    if config.patch_whitening:
        if train_images is None:
            raise ValueError("patch_whitening needs the training images "
                             "(build_and_compile(..., train_images=whitening_images(splits))).")
        whitened.append(apply_patch_whitening(model, train_images))
    if config.dirac_init:
        apply_dirac(model, skip=whitened)
    check_multipliers(config.lr_multipliers, model)
    if config.weight_decay and config.weight_decay_mode == "coupled":
        apply_coupled_weight_decay(model, config.weight_decay)
    model.compile(optimizer=make_optimizer(config, steps_per_epoch),
                  loss=training_loss(config),
                  metrics=[LabelAccuracy()], jit_compile=config.jit_compile,
                  steps_per_execution=config.steps_per_execution)
    return model


def make_strategy(distribute: str | None):
    """None (default device), or a tf.distribute strategy by name."""
    if distribute in (None, "none"):
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if not devices:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise ValueError(f"Unknown distribution {distribute!r}; known: none, mirrored.")


def split_cpu(num_devices: int) -> None:
    """Splits the CPU into logical devices (to try MirroredStrategy without GPUs).
    Must run before TensorFlow initialises its devices."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


def datasets_for(config: TrainConfig, data_dir=None, data_source: str = "idx",
                 teacher_loader=load_teacher):
    """Loads the splits and builds the training, validation and test pipelines, the
    variable that tells the training pipeline which epoch it is (``"epoch"``), and
    ``"train_for"``, the training pipeline of another config's augmentation. With
    teachers, the training batches carry their probabilities beside the labels
    (`fmnist_keras.train.distill`), each loaded by ``teacher_loader`` (by default, from
    a run directory; the command line also takes exported models).

    Raises:
        TeacherError: for a teacher of other data, or one that trained on held-out images.
    """
    splits = load_splits(config.dataset, config.split, config.validation_size,
                         config.seed, data_dir, config.max_train_samples, source=data_source,
                         normalise_with=config.normalise_with)

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="pipeline_epoch")

    def pipeline(images, labels, training=False, recipe=config, targets=None):
        batch_size = recipe.batch_size if training else \
            recipe.eval_batch_size or recipe.batch_size
        return make_dataset(images, labels, splits.info, batch_size, training=training,
                            augment=recipe.augment, seed=recipe.seed, epoch=epoch,
                            targets=targets, **recipe.augment_options())

    targets = None
    if config.teacher:
        teachers = [teacher_loader(path, config.dataset, config.split, splits)
                    for path in config.teacher]
        probabilities = teacher_probabilities(
            teachers, pipeline(splits.x_train, splits.y_train), config.distill_temperature)
        targets = distillation_targets(splits.y_train, probabilities)

    return splits, {
        "epoch": epoch,
        "train": pipeline(splits.x_train, splits.y_train, training=True, targets=targets),
        # The same images under another recipe's augmentation (a search trial's).
        "train_for": lambda recipe: pipeline(splits.x_train, splits.y_train, True, recipe,
                                             targets),
        "val": pipeline(splits.x_val, splits.y_val) if len(splits.x_val) else None,
        "test": pipeline(splits.x_test, splits.y_test),
    }


def train(config: TrainConfig, run_dir, data_dir=None, overwrite: bool = False,
          distribute: str | None = None, extra_callbacks=(), verbose: bool = True,
          data_source: str = "idx", stop_after_minutes: float | None = None,
          teacher_loader=load_teacher) -> dict | None:
    """Trains, selects on validation, tests once, and records the run in ``run_dir``.

    Starting again after an interruption resumes from the last finished epoch with the
    optimiser state and schedule position of that epoch, and, on whatever machine, in
    the precision the run started with. Nothing is written outside ``run_dir``.
    ``stop_after_minutes`` (counted from this call) pauses the run on the last epoch
    boundary before it (`StopBeforeDeadline`): the run directory is left unfinished,
    to be continued by training it again.

    Returns:
        The run's results (also in ``run_dir/results.json``), or None when it paused.
    """
    started = time.monotonic()
    if distribute not in (None, "none") and config.steps_per_execution != 1:
        raise ValueError(f"steps_per_execution {config.steps_per_execution} fails under "
                         f"--distribute {distribute} (Keras 3.15); pass "
                         "--steps-per-execution 1.")
    run = RunDir(run_dir)
    resolved = configure_runtime(config, None if overwrite else run.pinned_precision())
    # Before the run directory is made, so that a refused teacher leaves nothing behind.
    splits, datasets = datasets_for(config, data_dir, data_source, teacher_loader)
    resuming = run.prepare(config, overwrite)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    strategy = make_strategy(distribute)
    with strategy.scope():
        model = build_and_compile(config, splits.info.num_classes, steps_per_epoch,
                                  whitening_images(splits))

    epochs_done = run.restored_epoch() if resuming else 0
    best_so_far = run.trim_history(epochs_done) if resuming else None
    run.record_start(resolved, epochs_done)
    monitor = "val_accuracy" if datasets["val"] is not None else "accuracy"
    stopper = None if stop_after_minutes is None else \
        StopBeforeDeadline(started + 60 * stop_after_minutes)
    callbacks = [
        ReseedEachEpoch(config.seed, datasets["epoch"]),
        StopOnNaN(),
        EpochExtras(datasets["test"] if config.log_test_accuracy else None,
                    # a resumed history's CSV rows keep the columns it began with
                    record_cpu_share=not epochs_done
                    or "cpu_share_others" in run.history().columns),
        keras.callbacks.CSVLogger(str(run.history_path), append=True),
        # Kept after fit (delete_checkpoint=False) so a crash before results.json
        # resumes into the evaluation instead of training again; removed after it.
        AtomicBackupAndRestore(run.backup_dir, delete_checkpoint=False),
        # best.keras only where it is the run's model: a fixed schedule's is last.keras.
        *([AtomicModelCheckpoint(run.model_path("best"), monitor=monitor, mode="max",
                                 save_best_only=True, initial_value_threshold=best_so_far)]
          if config.select == "best" else []),
        AtomicModelCheckpoint(run.model_path("last")),
        keras.callbacks.TensorBoard(str(run.tensorboard_dir)),
        *([EpochSummary(config.epochs)] if verbose else []),
        *extra_callbacks,
        *([stopper] if stopper else []),   # last: it stops once the others end the epoch
    ]
    model.fit(datasets["train"], validation_data=datasets["val"], epochs=config.epochs,
              callbacks=callbacks, verbose=0, shuffle=False)
    if stopper and stopper.stopped_after:
        return None
    if config.ema_momentum:
        # fit ends by writing the weights' moving average into the model (Keras'
        # finalize_variable_values), beside the raw weights' batch-norm statistics
        # unless they are recomputed; that is the last model.
        if config.ema_bn_batches:
            recompute_batch_norm_statistics(model, datasets["train"], config.ema_bn_batches)
        run.save_model(model, "last")
    return finish_run(config, run, splits, datasets, resolved,
                      replicas=strategy.num_replicas_in_sync)


def finish_run(config, run: RunDir, splits, datasets, resolved: dict, replicas=1) -> dict:
    """Evaluates the selected model on the test set once and writes ``results.json``."""
    history = run.history()
    selected = load_checkpoint(run.model_path(config.select))
    best_row = history.loc[history["val_accuracy"].idxmax()] if config.select == "best" \
        else history.iloc[-1]
    row = {
        "network": config.arch,
        **parameter_counts(selected).as_dict(),
        "train_accuracy": float(best_row["accuracy"]),
        "val_accuracy": float(best_row.get("val_accuracy", np.nan)),
        "test_accuracy": tta_accuracy(selected, datasets["test"], flip=False),
        "selected_epoch": int(best_row["epoch"]) + 1,
        "epochs": int(len(history)),
        "time_per_epoch_s": float(history["epoch_time_s"].mean()),
        "training_minutes": float(history["epoch_time_s"].sum() / 60),
        "inference_ms_batch1": keras_batch1_latency_ms(selected),
        "batch_size": config.batch_size,
        "recipe": config.recipe or "",
        "seed": config.seed,
        "dataset": config.dataset,
        "split": config.split,
        "train_examples": len(splits.x_train),
        "replicas": replicas,
        "run_dir": str(run.path),
        # A run resumed elsewhere names every machine it trained on.
        "resolved": {**resolved, "device": run.devices() or resolved["device"]},
    }
    if "cpu_share_others" in history:
        row["cpu_share_others"] = float(history["cpu_share_others"].mean())
    if config.ema_momentum and datasets["val"] is not None:
        # The hold-out score of the averaged weights (the per-epoch ones are the raw).
        row["val_accuracy_evaluated_model"] = tta_accuracy(selected, datasets["val"], flip=False)
    if config.test_time_flip:
        row["test_accuracy_flip_tta"] = tta_accuracy(selected, datasets["test"])
    if config.test_time_shift:
        black = -splits.info.mean / splits.info.std  # a zero pixel, normalised
        views = "flip_shift" if config.test_time_flip else "shift"
        started = time.perf_counter()
        row[f"test_accuracy_{views}_tta"] = tta_accuracy(
            selected, datasets["test"], flip=config.test_time_flip,
            shift=config.test_time_shift, fill=black)
        # Part of the method where TTA is: the speed run's time counts it.
        row["test_time_augmentation_s"] = time.perf_counter() - started
    if "test_accuracy" in history:
        # The references' way (best epoch chosen on the test set), for comparison only.
        row["best_test_accuracy_reference_style"] = float(history["test_accuracy"].max())
        row["last_epoch_test_accuracy"] = float(history["test_accuracy"].iloc[-1])
    run.write_results(row)
    return row

