import pytest

from fmnist_keras import hardware


@pytest.mark.parametrize("flags, description, native", [
    ("fpu avx2 fma", "CPU: Test CPU (2 cores, avx2)", False),
    ("avx2 avx512f avx512_bf16 amx_bf16", "CPU: Test CPU (2 cores, amx_bf16, avx512_bf16, "
                                          "avx512f, avx2)", True),
    ("sse2", "CPU: Test CPU (2 cores)", False),
])
def test_a_cpu_is_described_by_the_features_that_set_its_speed(monkeypatch, flags, description,
                                                                native):
    monkeypatch.setattr(hardware, "cpu_info", lambda: {"model name": "Test CPU", "flags": flags})
    monkeypatch.setattr(hardware, "gpu_details", lambda: None)
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 2)
    assert hardware.device_description() == description
    assert hardware.bfloat16_is_native() is native
    assert hardware.resolve_mixed_precision("auto") is native
