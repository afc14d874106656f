"""Optimizer and LR scheduler construction from the trainer config."""

from __future__ import annotations

import math
import torch
from torch import nn

from ..constants import LRSchedulerType, OptimizerType

_OPTIMIZERS = {
    OptimizerType.ADAM: torch.optim.Adam,
    OptimizerType.ADAMW: torch.optim.AdamW,
    OptimizerType.SGD: torch.optim.SGD,
}


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split trainable parameters into decayed (matrices) and non-decayed (biases, norms, embeddings' 1-D) groups."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


# Devices where torch (>= 2.4) has fused Adam/AdamW kernels and this package uses them.
FUSED_DEVICES = ("cuda", "cpu")


def build_optimizer(model: nn.Module, name: str, learning_rate: float, weight_decay: float,
                    device_type: str = "cpu") -> torch.optim.Optimizer:
    """Build the named optimizer over ``model``'s trainable parameters.

    Adam/AdamW use torch's fused kernel on CUDA and CPU (one kernel over all tensors: on a CPU ~4x faster than the
    default per-tensor loop, 0.9 vs 3-7 ms per step for 1.2M parameters); results equal the unfused ones up to float
    rounding. SGD keeps the default.
    """
    kwargs = {"lr": learning_rate}
    if name != OptimizerType.SGD and device_type in FUSED_DEVICES:
        kwargs["fused"] = True
    return _OPTIMIZERS[OptimizerType(name)](parameter_groups(model, weight_decay), **kwargs)


class Schedule:
    """LR multiplier per update: linear warm-up, then constant/linear/cosine/polynomial decay.

    A callable object rather than a closure: ``LambdaLR`` saves its ``__dict__`` in checkpoints, and its length can
    be set after ``accelerator.prepare`` (which needs the scheduler, e.g. for DeepSpeed) once the step plan is known.
    """

    def __init__(self, kind: str | None, total: int = 1, warmup: int = 0, power: float = 1.0, end_ratio: float = 0.0):
        # Plain str (not the enum): the scheduler state is reloaded with torch.load(weights_only=True).
        self.kind, self.total, self.warmup = str(kind or LRSchedulerType.CONSTANT), total, warmup
        self.power, self.end_ratio = power, end_ratio

    def __call__(self, step: int) -> float:
        if self.warmup and step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.kind == LRSchedulerType.CONSTANT:
            return 1.0
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        if self.kind == LRSchedulerType.LINEAR:
            return max(0.0, 1.0 - progress)
        if self.kind == LRSchedulerType.COSINE:
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.end_ratio + (1.0 - self.end_ratio) * (1.0 - progress) ** self.power  # polynomial


def build_scheduler(optimizer: torch.optim.Optimizer, name: str | None, kwargs: dict | None = None
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-update LR schedule over ``optimizer`` whose length is set later by :func:`set_schedule_length`.

    Args:
        name: scheduler type, None = constant (after warm-up).
        kwargs: polynomial options ``power`` (default 1.0) and ``lr_end_ratio`` (default 0.0).
    """
    kwargs = kwargs or {}
    schedule = Schedule(name, power=float(kwargs.get("power", 1.0)), end_ratio=float(kwargs.get("lr_end_ratio", 0.0)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def set_schedule_length(scheduler, total_steps: int, warmup_steps: int) -> None:
    """Give the schedule its length, and re-apply the multiplier of the current step to the optimizer's LRs."""
    inner = getattr(scheduler, "scheduler", scheduler)  # accelerate wraps it
    for schedule in getattr(inner, "lr_lambdas", []):
        if isinstance(schedule, Schedule):
            schedule.total, schedule.warmup = total_steps, warmup_steps
    optimizer = inner.optimizer
    for group, base, fn in zip(optimizer.param_groups, inner.base_lrs, inner.lr_lambdas):
        group["lr"] = base * fn(inner.last_epoch)
    inner._last_lr = [group["lr"] for group in optimizer.param_groups]


def scaler_scale(accelerator) -> float | None:
    """The fp16 grad scaler's scale before an update (None without a scaler or between accumulation micro-batches)."""
    if accelerator.scaler is None or not accelerator.sync_gradients:
        return None
    return accelerator.scaler.get_scale()


def update_was_skipped(accelerator, scale_before: float | None) -> bool:
    """Whether the optimizer update just attempted was skipped by the fp16 grad scaler (inf/NaN gradients).

    accelerate's ``optimizer_step_was_skipped`` watches whether the scaler called ``optimizer.step``; a fused
    optimizer is always called (its kernel skips the update itself), so that flag stays False. The scaler lowers its
    scale exactly when it found inf/NaN gradients, which holds for every optimizer kind.
    """
    if accelerator.optimizer_step_was_skipped:
        return True
    return scale_before is not None and accelerator.scaler.get_scale() < scale_before
