import types

from fmnist_keras.train.callbacks import StopBeforeDeadline


def run_epochs(callback, durations, epochs):
    """Feeds ``callback`` epochs of the given durations on a fake clock."""
    now = [0.0]
    callback.clock = lambda: now[0]
    callback.set_model(types.SimpleNamespace(stop_training=False))
    callback.set_params({"epochs": epochs})
    for epoch, duration in enumerate(durations):
        callback.on_epoch_begin(epoch)
        now[0] += duration
        callback.on_epoch_end(epoch, {})
        if callback.model.stop_training:
            return epoch + 1
    return None


def test_it_stops_when_one_more_of_the_longest_epochs_would_end_past_the_deadline():
    # Ends at 10, 30 (longest 20: 50 <= 55), 40 (40 + 20 > 55: stop).
    assert run_epochs(StopBeforeDeadline(55.0), [10, 20, 10, 10, 10], epochs=5) == 3
    assert run_epochs(StopBeforeDeadline(60.0), [10, 20, 10, 10, 10], epochs=5) == 4


def test_it_never_stops_the_last_epoch_and_always_lets_one_train():
    callback = StopBeforeDeadline(0.0)
    assert run_epochs(callback, [10], epochs=1) is None and callback.stopped_after is None
    callback = StopBeforeDeadline(0.0)
    assert run_epochs(callback, [10, 10], epochs=2) == 1 and callback.stopped_after == 1
