"""Wall-clock timing of repeated calls, shared by training's batch-1 figure and the
inference benchmarks, and the share of the CPU that other processes took meanwhile."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import tensorflow as tf


class Deadline:
    """When work done in units (epochs, trials) pauses to end by a fixed time: after each
    unit, one more goes on only if, as long as the longest so far, it would end by ``at``
    (a clock time). Training's ``--stop-after`` pauses between epochs, a search's between
    trials."""

    def __init__(self, at: float):
        self.at = at
        self.longest = 0.0

    def another_fits(self, started: float, now: float) -> bool:
        """Records a unit that ran from ``started`` to ``now``; whether one more fits."""
        self.longest = max(self.longest, now - started)
        return now + self.longest <= self.at


def time_calls(call, runs: int = 200, warmup: int = 20) -> dict:
    """Wall times of ``call()`` in ms after a warm-up: mean and percentiles."""
    for _ in range(warmup):
        call()
    timings = np.empty(runs)
    for index in range(runs):
        started = time.perf_counter()
        call()
        timings[index] = time.perf_counter() - started
    timings *= 1000
    return {"mean_ms": float(timings.mean()), "p50_ms": float(np.percentile(timings, 50)),
            "p90_ms": float(np.percentile(timings, 90)), "p99_ms": float(np.percentile(timings, 99))}


def keras_batch1_latency_ms(model, runs: int = 200, warmup: int = 20) -> float:
    """Median wall time in ms of one traced forward pass on a single image.

    The model call is wrapped in a ``tf.function`` (inference mode) so the figure is
    the graph's, not Python's eager dispatch.
    """
    image = tf.zeros((1, *model.input_shape[1:]), tf.float32)
    forward = tf.function(lambda x: model(x, training=False))
    return time_calls(lambda: forward(image).numpy(), runs, warmup)["p50_ms"]


def cpu_times() -> tuple[int, int, int] | None:
    """Clock ticks since boot from Linux's ``/proc``: all CPUs' total, all CPUs' busy
    (not idle or waiting for I/O), and this process's own (user and system, all its
    threads); None where ``/proc`` is not there to read."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0]
                 .split()[1:9]]    # user nice system idle iowait irq softirq steal
        # The fields after the command name, which may hold spaces, start at "state";
        # utime and stime are the 14th and 15th fields of the line.
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return sum(ticks), sum(ticks) - ticks[3] - ticks[4], int(own[11]) + int(own[12])
    except (OSError, ValueError, IndexError):
        return None


# From this share of the CPU taken by other processes on, a time is not the job's alone.
SHARED_CPU_SHARE = 0.1


def others_cpu_share(before, after) -> float:
    """The share of all CPUs' time between two ``cpu_times()`` readings that other
    processes than this one used: about 0 for a job alone, 0.5 on 2 cores beside one
    busy single-threaded job. A time measured beside another job is not this job's
    time; this says so from the machine itself. NaN without both readings."""
    if before is None or after is None or after[0] <= before[0]:
        return math.nan
    total, busy, own = (end - start for start, end in zip(before, after))
    return min(max((busy - own) / total, 0.0), 1.0)


def shared_cpu(share) -> bool:
    """Whether other processes took a tenth of the CPU or more while a time was
    measured (an ``others_cpu_share``), so that the time is not the job's alone; False
    without the figure (None or NaN: recorded before it existed, or off Linux)."""
    return share is not None and share >= SHARED_CPU_SHARE
