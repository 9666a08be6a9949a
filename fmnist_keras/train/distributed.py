"""Multi-worker training with `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3's ``model.fit`` fails under this strategy (keras-team/keras#20585: "Attempt to
convert a value (PerReplica...)"), so this module runs the same model, optimiser,
schedule and data pipeline through a custom loop: one ``strategy.run`` per step inside
a ``tf.function``, gradients all-reduced by the strategy, the loss averaged over the
global batch. The cluster comes from ``TF_CONFIG`` as usual::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' \
        python scripts/train.py --recipe mnist_final --distribute multiworker ...

Every worker runs the same command with its own ``task.index``. Worker 0 (the chief)
writes the run directory through `RunDir`, like a single-process run: ``config.yaml``,
``history.csv``, ``last.keras``, and a checkpoint per epoch in ``checkpoints/``
(``tf.train.CheckpointManager``) from which a restarted cluster resumes.
"""

from __future__ import annotations

import json
import math
import os
import time

import pandas as pd
import tensorflow as tf

from fmnist_keras.config import TrainConfig
from fmnist_keras.train.engine import (
    build_and_compile,
    configure_runtime,
    datasets_for,
    training_loss,
    whitening_images,
)
from fmnist_keras.train.losses import LabelAccuracy
from fmnist_keras.train.rundir import RunDir


def task_index() -> int:
    """This worker's index in ``TF_CONFIG`` (0 without one)."""
    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))


def train_multiworker(config: TrainConfig, run_dir, data_dir=None,
                      max_steps_per_epoch: int | None = None) -> pd.DataFrame:
    """Trains ``config`` on every worker of the ``TF_CONFIG`` cluster.

    ``config.batch_size`` is the global batch, split evenly over the replicas.
    ``max_steps_per_epoch`` bounds each epoch (for demonstrations and tests).

    Returns:
        The per-epoch history (loss, accuracy, val_accuracy, epoch_time_s).
    """
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    configure_runtime(config)
    splits, datasets = datasets_for(config, data_dir)
    steps = math.ceil(len(splits.x_train) / config.batch_size)
    if max_steps_per_epoch:
        steps = min(steps, max_steps_per_epoch)
    with strategy.scope():
        model = build_and_compile(config, splits.info.num_classes, steps,
                                  whitening_images(splits))
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
        train_accuracy, val_accuracy = LabelAccuracy(), LabelAccuracy()
    loss_fn = training_loss(config, reduction=None)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_data = strategy.experimental_distribute_dataset(
        datasets["train"].repeat().with_options(options))
    val_data = None
    if datasets["val"] is not None:
        val_data = strategy.experimental_distribute_dataset(datasets["val"].with_options(options))

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.nn.compute_average_loss(loss_fn(labels, logits),
                                              global_batch_size=config.batch_size)
            if model.losses:  # coupled weight decay, split over the replicas
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_accuracy.update_state(labels, logits)
        return loss

    @tf.function
    def train_step(iterator):
        per_replica = strategy.run(replica_step, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    @tf.function
    def val_step(images, labels):
        # model.evaluate fails here too (the same Keras bug); a replica step does not.
        strategy.run(lambda x, y: val_accuracy.update_state(y, model(x, training=False)),
                     args=(images, labels))

    def validate():
        if val_data is None:
            return float("nan")
        val_accuracy.reset_state()
        for images, labels in val_data:
            val_step(images, labels)
        return float(val_accuracy.result())

    run = RunDir(run_dir)
    is_chief = task_index() == 0
    if is_chief:
        run.prepare(config)
    # Non-chief workers write their (identical) checkpoints to a scratch folder, as
    # the tf.distribute guide asks, so that every worker takes part in saving.
    checkpoint_dir = run.checkpoints_dir if is_chief else \
        run.path / f"scratch_worker{task_index()}"
    epoch_counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_counter)
    manager = tf.train.CheckpointManager(checkpoint, str(checkpoint_dir), max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)

    rows = run.history().to_dict("records") if run.history_path.exists() else []
    rows = [row for row in rows if row["epoch"] < int(epoch_counter.numpy())]
    iterator = iter(train_data)
    for epoch in range(int(epoch_counter.numpy()), config.epochs):
        started = time.perf_counter()
        train_accuracy.reset_state()
        total_loss = 0.0
        for _ in range(steps):
            total_loss += float(train_step(iterator))
        rows.append({"epoch": epoch, "loss": total_loss / steps,
                     "accuracy": float(train_accuracy.result()),
                     "val_accuracy": validate(),
                     "epoch_time_s": time.perf_counter() - started,
                     "replicas": strategy.num_replicas_in_sync})
        epoch_counter.assign(epoch + 1)
        manager.save()
        if is_chief:
            pd.DataFrame(rows).to_csv(run.history_path, index=False)
            print(f"epoch {epoch + 1}/{config.epochs}: loss {rows[-1]['loss']:.4g}, accuracy "
                  f"{rows[-1]['accuracy']:.4g}, val_accuracy {rows[-1]['val_accuracy']:.4g}, "
                  f"{strategy.num_replicas_in_sync} replicas", flush=True)
    if is_chief:
        model.save(run.model_path("last"))
    return pd.DataFrame(rows)
