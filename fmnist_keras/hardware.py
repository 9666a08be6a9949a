"""What the machine offers, probed once: the CPU's name and flags, the GPU, bfloat16.

Settings written as ``auto`` in a config are resolved here at run time (never while the
config is built, so a saved config and its run directory name do not depend on the
machine).
"""

from __future__ import annotations

import functools
import os
import platform


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def gpu_details() -> dict | None:
    """TensorFlow's details of the first GPU, or None without one."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return {"name": gpus[0].name, **tf.config.experimental.get_device_details(gpus[0])}


def bfloat16_is_native() -> bool:
    """Whether bfloat16 compute runs in hardware here: a GPU of compute capability 8.0
    or newer, or (without a GPU) a CPU with AMX-BF16 or AVX512-BF16. On this project's
    CPU it trains resnet14s 1.4x faster at the same accuracy (docs/speed.md)."""
    gpu = gpu_details()
    if gpu is not None:
        return tuple(gpu.get("compute_capability", (0, 0))) >= (8, 0)
    flags = cpu_info().get("flags", "").split()
    return "amx_bf16" in flags or "avx512_bf16" in flags


# The CPU features that set the speed of this project's training, widest first: only
# AMX or AVX512-BF16 run bfloat16 natively, and the same float32 MNIST recipe took
# about three times as long per image on an AVX2-only 2-core machine (docs/speed.md,
# "Machines").
SPEED_FEATURES = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")


def device_description() -> str:
    """"GPU: <name>" when TensorFlow sees a GPU, else "CPU: <model name> (N cores,
    <features>)", the features those of ``SPEED_FEATURES`` the CPU has: a virtual
    machine's model name ("AMD EPYC") may not tell two machines apart, and every
    training figure here depends on them."""
    gpu = gpu_details()
    if gpu is not None:
        return f"GPU: {gpu.get('device_name', gpu['name'])}"
    name = cpu_info().get("model name") or platform.processor() or platform.machine()
    flags = set(cpu_info().get("flags", "").split())
    features = [feature for feature in SPEED_FEATURES if feature in flags]
    return f"CPU: {name} ({', '.join([f'{os.cpu_count()} cores', *features])})"


def resolve_mixed_precision(setting) -> bool:
    """A config's ``mixed_precision`` (true, false or auto) for this machine."""
    return bfloat16_is_native() if setting == "auto" else bool(setting)
