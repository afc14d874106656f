"""The distributed mode an ``accelerate launch`` asked for, the Accelerator arguments that honour it, and the check
that it was honoured.

accelerate falls back silently: with ``cpu=True`` it drops a DeepSpeed or FSDP request and gives plain DDP
(MULTI_CPU), and without a GPU it may even give ``DistributedType.NO`` (each process training alone). The launcher
tells its workers what it was asked for through ``ACCELERATE_USE_DEEPSPEED`` / ``ACCELERATE_USE_FSDP``; this module
reads them before the Accelerator exists and compares them with what it became (never a silent switch).
"""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError, MissingDependencyError, require_installed

# What the launcher exports to its workers -> the DistributedType that request must give.
LAUNCH_REQUESTS = {"ACCELERATE_USE_DEEPSPEED": "DEEPSPEED", "ACCELERATE_USE_FSDP": "FSDP"}


def requested_mode() -> str | None:
    """The distributed mode the launch asked for: ``"DEEPSPEED"``, ``"FSDP"`` or None (DDP, one process, ...).

    Must be read before the Accelerator is built: accelerate itself sets these variables once it has a plugin.
    """
    for variable, mode in LAUNCH_REQUESTS.items():
        if os.environ.get(variable, "false").lower() == "true":
            return mode
    return None


def accelerator_device_kwargs(force_cpu: bool, requested: str | None) -> dict:
    """``cpu`` and ``kwargs_handlers`` for ``Accelerator(...)``.

    DeepSpeed runs on CPUs (its CPU accelerator, gloo), but accelerate drops it whenever ``cpu=True``; so a DeepSpeed
    launch on a machine without CUDA gets ``cpu=False`` plus an explicit gloo process group (without it accelerate
    finds no backend and reports 1 process while torch.distributed has 2, and DeepSpeed's batch check fails). A
    DeepSpeed launch that forces the CPU on a machine *with* CUDA (``device: cpu``) keeps ``cpu=True``: DeepSpeed would
    take the GPU, so the request is refused by :func:`check_mode` instead of being half-honoured.

    Args:
        force_cpu: the run must stay on the CPU (``device: cpu``, ``use_cpu: true``, or no CUDA).
        requested: :func:`requested_mode`.

    Returns:
        Keyword arguments for ``Accelerator``.

    Raises:
        ConfigError: DeepSpeed was asked for but ``deepspeed`` (or ``transformers``, which accelerate imports whenever
            DeepSpeed is on) is not installed.
    """
    if requested != "DEEPSPEED":
        return {"cpu": force_cpu}
    _require_deepspeed()
    if torch.cuda.is_available():
        return {"cpu": force_cpu}
    from accelerate.utils import InitProcessGroupKwargs

    return {"cpu": False, "kwargs_handlers": [InitProcessGroupKwargs(backend="gloo")]}


def _require_deepspeed() -> None:
    problems = []
    purposes = {"deepspeed": "A DeepSpeed launch (ACCELERATE_USE_DEEPSPEED=true)",
                "transformers": "A DeepSpeed launch (ACCELERATE_USE_DEEPSPEED=true; accelerate imports transformers "
                                "whenever DeepSpeed is on)"}
    for module, purpose in purposes.items():
        try:
            require_installed(module, module, "deepspeed", purpose)
        except MissingDependencyError as e:
            problems.append(f"{module}: {e}")
    if problems:
        raise ConfigError("accelerate launch", problems)


def check_mode(accelerator, requested: str | None, force_cpu: bool) -> None:
    """Refuse an Accelerator whose distributed type is not the one the launch asked for.

    Args:
        accelerator: the freshly built Accelerator.
        requested: :func:`requested_mode`, read before it was built.
        force_cpu: whether the run was told to stay on the CPU.

    Raises:
        ConfigError: naming what was asked, what accelerate set up instead, and the fix.
    """
    if requested is None:
        return
    obtained = str(accelerator.distributed_type).split(".")[-1]
    if obtained == requested:
        return
    variable = next(v for v, m in LAUNCH_REQUESTS.items() if m == requested)
    if requested == "DEEPSPEED":
        fix = ("set trainer.device=cuda (and use_cpu: false) so DeepSpeed can use the GPU, or launch without DeepSpeed"
               if force_cpu and torch.cuda.is_available() else
               "check the launch line and the deepspeed_config of the accelerate config file")
    else:
        fix = ("accelerate selects FSDP only on GPUs: run on a GPU machine with trainer.device=cuda, or launch with "
               "accelerate_configs/cpu.yaml (DDP) or deepspeed_zero2/3.yaml (DeepSpeed also runs on CPUs)"
               if not torch.cuda.is_available() or force_cpu else "check the launch line and the fsdp_config")
    raise ConfigError("accelerate launch", [
        f"distributed_type: the launch asked for {requested} ({variable}=true) but accelerate set up {obtained} "
        f"with {accelerator.num_processes} process(es); refusing to train in another mode than the one asked for: "
        f"{fix}"])


def build_accelerator(config):
    """The run's one ``Accelerator``, for the mode the launch asked for (refused when accelerate would not honour it).

    Args:
        config: the TrainerConfig (device, mixed precision, accumulation, trackers, folders).

    Returns:
        The Accelerator; only the Trainer keeps it.

    Raises:
        ConfigError: fp16 on a CPU, a launch mode accelerate dropped, DeepSpeed without its packages.
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

    from .setup import check_precision

    use_cpu = config.use_cpu or config.device == "cpu" or not torch.cuda.is_available()
    check_precision(config.mixed_precision, on_cpu=use_cpu)
    trackers = [config.log_with] if isinstance(config.log_with, str) else list(config.log_with or [])
    # What the launcher asked for is read first: accelerate can fall back to another mode without a word (e.g.
    # cpu=True drops DeepSpeed), and the check below refuses any such switch.
    requested = requested_mode()
    accelerator = Accelerator(
        **accelerator_device_kwargs(use_cpu, requested),
        # Iterable datasets are sharded, never dispatched: dispatching concatenates the processes' batches on the
        # main process, which fails on dynamically padded batches of different lengths (iterables.py).
        dataloader_config=DataLoaderConfiguration(dispatch_batches=False),
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=trackers or None,
        # Accumulation is driven by the loop itself (update_groups + no_sync); accelerate only learns the number
        # of steps so that backward() and DeepSpeed scale consistently.
        project_config=ProjectConfiguration(project_dir=config.output_dir, logging_dir=config.logs_path),
        # The scheduler is stepped by hand once per real update (not num_processes times, not on skipped steps).
        step_scheduler_with_optimizer=False,
    )
    check_mode(accelerator, requested, use_cpu)
    return accelerator
