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


class SchedulerStepper:
    """Steps the LR scheduler once per real optimizer update, without making the host wait for the device.

    Without a grad scaler every update is real and the scheduler steps right after it (a skip that accelerate itself
    reports, e.g. DeepSpeed's fp16 overflow, is a host flag). With fp16's grad scaler an update whose gradients hold
    inf/NaN is skipped, which only the device knows: the scaler lowers its scale. Reading that at once would stall
    the host every update, so the comparison stays on the device and is read one update late, in
    :meth:`before_update` (the next update's forward and backward are already queued; its optimizer step is the first
    use of the learning rate), and by :meth:`settle` wherever the schedule is read or saved (logging, checkpoints,
    epoch ends). A fused optimizer is always called by the scaler (its kernel skips the update itself), so the
    scale, not accelerate's ``optimizer_step_was_skipped``, is what tells a skipped update.

    Args:
        accelerator: the run's Accelerator (its ``scaler``, and ``optimizer_step_was_skipped``).
        scheduler: the prepared LR scheduler.
    """

    def __init__(self, accelerator, scheduler):
        self.accelerator, self.scheduler = accelerator, scheduler
        self._scale_before: torch.Tensor | None = None
        self._skipped: torch.Tensor | None = None  # on the device: the last update was skipped, not read yet

    def before_update(self) -> None:
        """Call right before ``optimizer.step()`` of an update: settles the previous one, notes the current scale."""
        self.settle()
        scaler = self.accelerator.scaler
        if scaler is not None:
            # torch's GradScaler keeps its scale as a device tensor in `_scale` (get_scale() would read it to the host).
            self._scale_before = scaler._scale.clone()

    def after_update(self) -> None:
        """Call right after ``optimizer.step()`` of an update (the micro-batch that synced gradients)."""
        scaler = self.accelerator.scaler
        if scaler is None:
            if not self.accelerator.optimizer_step_was_skipped:
                self.scheduler.step()
            return
        self._skipped = scaler._scale < self._scale_before

    def settle(self) -> None:
        """Apply the last update's pending scheduler step now (one host read); a no-op when nothing is pending."""
        if self._skipped is None:
            return
        skipped, self._skipped = bool(self._skipped.item()), None
        if not skipped:
            self.scheduler.step()
