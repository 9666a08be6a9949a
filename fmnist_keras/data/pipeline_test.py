import keras
import numpy as np
import tensorflow as tf

from fmnist_keras.data.pipeline import make_dataset
from fmnist_keras.data.sources import load_splits
from fmnist_keras.train.callbacks import ReseedEachEpoch

AUGMENT = ["rotate", "crop", "flip", "cutout", "erase"]


def epoch_batches(splits, epoch_value, seed=0):
    """Every batch of one training pass at ``epoch_value``, from a fresh pipeline (as
    after a restart)."""
    epoch = tf.Variable(epoch_value, dtype=tf.int64)
    dataset = make_dataset(splits.x_train, splits.y_train, splits.info, 64, training=True,
                           augment=AUGMENT, seed=seed, epoch=epoch)
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_an_epoch_is_a_function_of_seed_and_epoch_alone(data_dir):
    splits = load_splits("fashion_mnist", data_dir=data_dir, max_train_samples=300)
    third = epoch_batches(splits, 2)
    again = epoch_batches(splits, 2)                   # a new process resuming at epoch 2
    assert len(third) == 5 and sum(len(y) for _, y in third) == 300
    for (x1, y1), (x2, y2) in zip(third, again):
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(x1, x2)
    first, other_seed = epoch_batches(splits, 0), epoch_batches(splits, 2, seed=1)
    assert not np.array_equal(first[0][1], third[0][1])          # another order per epoch
    assert not np.array_equal(other_seed[0][1], third[0][1])     # and per seed
    assert sorted(np.concatenate([y for _, y in third])) == sorted(splits.y_train)


def test_reseed_each_epoch_sets_the_pipeline_epoch_and_the_model_generators():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5, seed=3),
                              keras.layers.Dense(2)])
    state = model.layers[0].seed_generator.state
    epoch = tf.Variable(0, dtype=tf.int64)
    callback = ReseedEachEpoch(seed=7, epoch_variable=epoch)
    callback.set_model(model)
    callback.on_epoch_begin(4)
    at_four = state.numpy().copy()
    model(np.ones((8, 4), "float32"), training=True)          # draws advance the counter
    callback.on_epoch_begin(4)
    assert int(epoch.numpy()) == 4 and np.array_equal(state.numpy(), at_four)
    callback.on_epoch_begin(5)
    assert not np.array_equal(state.numpy(), at_four)


def test_no_pipeline_runs_the_autotuning_model_that_holds_up_a_deleted_iterator(data_dir):
    # With it on, deleting an iterator waits for the tuner's next wake-up (up to 60 s),
    # and Keras deletes one at the end of every epoch and of every evaluation.
    splits = load_splits("fashion_mnist", data_dir=data_dir, max_train_samples=300)
    for training in (True, False):
        dataset = make_dataset(splits.x_train, splits.y_train, splits.info, 64,
                               training=training, augment=AUGMENT)
        assert dataset.options().autotune.enabled is False
