import math
import os
import subprocess
import sys
import time

import pytest

from fmnist_keras.timing import cpu_times, others_cpu_share, shared_cpu


def test_the_share_of_others_is_the_busy_time_this_process_did_not_use():
    # 200 ticks pass on all CPUs; 200 busy, of which this process used 150
    assert others_cpu_share((1000, 400, 100), (1200, 600, 250)) == pytest.approx(0.25)
    assert others_cpu_share((1000, 400, 100), (1200, 450, 150)) == 0.0     # alone
    assert others_cpu_share((1000, 400, 100), (1200, 390, 150)) == 0.0     # clamped
    assert math.isnan(others_cpu_share(None, (1200, 600, 250)))
    assert math.isnan(others_cpu_share((1000, 400, 100), (1000, 400, 100)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_a_busy_process_beside_this_one_shows_in_the_share():
    before = cpu_times()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.5)
    finally:
        busy.kill()
        busy.wait()
    share = others_cpu_share(before, cpu_times())
    # one of the machine's cores, less start-up and scheduling slack
    assert share >= 0.5 / os.cpu_count()


def test_a_time_is_shared_from_a_tenth_of_the_cpu_taken_by_others():
    assert shared_cpu(0.1) and shared_cpu(0.5)
    assert not shared_cpu(0.09)
    assert not shared_cpu(None) and not shared_cpu(math.nan)     # no figure: nothing to say
