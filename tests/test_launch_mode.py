"""The Trainer honours the distributed mode the launch asked for, or refuses to train (never a silent switch).

Fast and in-process: the launcher's request is the ``ACCELERATE_USE_DEEPSPEED`` / ``ACCELERATE_USE_FSDP`` variable it
exports to its workers. The real 2-process launches are in test_deepspeed.py and test_distributed_fsdp.py.
"""

import importlib.util
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType, InitProcessGroupKwargs

from hezar_accel.errors import ConfigError
from hezar_accel.trainer import backend


@pytest.fixture(autouse=True)
def no_launch_request(monkeypatch):
    for variable in backend.LAUNCH_REQUESTS:
        monkeypatch.delenv(variable, raising=False)


def hide_modules(monkeypatch, *names):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name in names else real(name, *a, **k))


def test_the_requested_mode_is_read_from_the_variables_accelerate_launch_exports(monkeypatch):
    assert backend.requested_mode() is None
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert backend.requested_mode() == "FSDP"
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "True")
    assert backend.requested_mode() == "DEEPSPEED"


def test_a_deepspeed_launch_without_cuda_is_not_forced_to_the_cpu_mode_and_gets_a_gloo_process_group(monkeypatch):
    pytest.importorskip("deepspeed")
    pytest.importorskip("transformers")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    kwargs = backend.accelerator_device_kwargs(force_cpu=True, requested="DEEPSPEED")
    assert kwargs["cpu"] is False  # accelerate drops DeepSpeed whenever cpu=True
    (handler,) = kwargs["kwargs_handlers"]
    assert isinstance(handler, InitProcessGroupKwargs) and handler.backend == "gloo"
    # Other launches keep the CPU flag as asked.
    assert backend.accelerator_device_kwargs(force_cpu=True, requested=None) == {"cpu": True}
    assert backend.accelerator_device_kwargs(force_cpu=True, requested="FSDP") == {"cpu": True}


@pytest.mark.parametrize("missing", ["deepspeed", "transformers"])
def test_a_deepspeed_launch_without_the_packages_names_them_and_the_install_command(monkeypatch, missing):
    hide_modules(monkeypatch, missing)
    with pytest.raises(ConfigError) as e:
        backend.accelerator_device_kwargs(force_cpu=True, requested="DEEPSPEED")
    message = str(e.value)
    assert f"needs the `{missing}` package, which is not installed" in message
    assert "pip install 'hezar_accel[deepspeed]'" in message and "ACCELERATE_USE_DEEPSPEED=true" in message


def test_the_trainer_refuses_a_deepspeed_launch_without_deepspeed_before_building_anything(monkeypatch, tmp_path,
                                                                                         text_data):
    from tiny import build_trainer

    hide_modules(monkeypatch, "deepspeed")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    expected = r"`deepspeed` package, which is not installed.*pip install 'hezar_accel\[deepspeed\]'"
    with pytest.raises(ConfigError, match=expected):
        build_trainer(str(tmp_path / "out"), text_data)


@pytest.mark.parametrize("requested, obtained", [("DEEPSPEED", DistributedType.MULTI_CPU),
                                                 ("FSDP", DistributedType.MULTI_CPU),
                                                 ("FSDP", DistributedType.NO)])
def test_an_accelerator_in_another_mode_than_the_launch_asked_for_is_refused_with_the_fix(requested, obtained):
    accelerator = SimpleNamespace(distributed_type=obtained, num_processes=2)
    with pytest.raises(ConfigError) as e:
        backend.check_mode(accelerator, requested, force_cpu=True)
    message = str(e.value)
    variable = "ACCELERATE_USE_DEEPSPEED" if requested == "DEEPSPEED" else "ACCELERATE_USE_FSDP"
    assert f"asked for {requested} ({variable}=true)" in message
    assert f"set up {obtained.name} with 2 process(es)" in message
    if requested == "FSDP" and not torch.cuda.is_available():
        assert "accelerate_configs/cpu.yaml" in message  # the fix on a CPU-only machine


def test_an_accelerator_in_the_requested_mode_or_without_a_request_passes():
    backend.check_mode(SimpleNamespace(distributed_type=DistributedType.DEEPSPEED, num_processes=2), "DEEPSPEED", True)
    backend.check_mode(SimpleNamespace(distributed_type=DistributedType.FSDP, num_processes=2), "FSDP", True)
    backend.check_mode(SimpleNamespace(distributed_type=DistributedType.MULTI_CPU, num_processes=2), None, True)
