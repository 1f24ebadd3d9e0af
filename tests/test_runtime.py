"""The CPU plan: detected, forced by argument or by EDN_CPU_PATH, and what each path chooses."""
import pytest

import edn.core.runtime as runtime
from edn.core.errors import UserError
from edn.core.runtime import ENV_VAR, cpu_plan


@pytest.mark.parametrize("native,expected", [(True, "bf16"), (False, "fp32")])
def test_auto_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(runtime, "native_bf16", lambda: native)
    plan = cpu_plan()
    assert (plan.path, plan.source, plan.native_bf16) == (expected, "detected", native)
    assert cpu_plan("auto").path == expected


@pytest.mark.parametrize("native", [True, False])
def test_argument_and_environment_force_either_path_on_any_cpu(monkeypatch, native):
    monkeypatch.setattr(runtime, "native_bf16", lambda: native)
    monkeypatch.setenv(ENV_VAR, "fp32")
    assert cpu_plan().path == "fp32" and cpu_plan().source == f"{ENV_VAR}=fp32"
    assert cpu_plan("bf16").path == "bf16" and cpu_plan("bf16").source == "argument"
    monkeypatch.setenv(ENV_VAR, " BF16 ")
    assert cpu_plan().path == "bf16"
    monkeypatch.setenv(ENV_VAR, "")
    assert cpu_plan().source == "detected"


def test_each_path_makes_its_own_choices():
    bf16, fp32 = cpu_plan("bf16"), cpu_plan("fp32")
    assert bf16.autocast and not fp32.autocast
    assert bf16.train_winograd_min_channels is None and fp32.train_winograd_min_channels == 256
    assert fp32.narrow_head and not bf16.narrow_head
    assert bf16.compile_training and not fp32.compile_training
    assert "fp32 path" in fp32.describe() and fp32.capability in fp32.describe()


def test_unknown_path_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "fp16")
    with pytest.raises(UserError, match=f"unknown CPU path 'fp16' \\(from {ENV_VAR}=fp16\\)"):
        cpu_plan()
