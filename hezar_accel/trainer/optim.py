"""Optimizer and LR scheduler construction from the trainer config."""

from __future__ import annotations

import math
from functools import partial

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


def build_optimizer(model: nn.Module, name: str, learning_rate: float, weight_decay: float,
                    device_type: str = "cpu") -> torch.optim.Optimizer:
    """Build the named optimizer over ``model``'s trainable parameters.

    Uses the fused (GPU) or foreach kernels where the device has them; results are the same up to float rounding.
    """
    kwargs = {"lr": learning_rate}
    if name != OptimizerType.SGD and device_type == "cuda":
        kwargs["fused"] = True
    return _OPTIMIZERS[OptimizerType(name)](parameter_groups(model, weight_decay), **kwargs)


def _lr_lambda(step: int, kind: str, warmup: int, total: int, power: float, end_ratio: float) -> float:
    if warmup and step < warmup:
        return (step + 1) / (warmup + 1)
    if kind == LRSchedulerType.CONSTANT:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == LRSchedulerType.LINEAR:
        return max(0.0, 1.0 - progress)
    if kind == LRSchedulerType.COSINE:
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return end_ratio + (1.0 - end_ratio) * (1.0 - progress) ** power  # polynomial


def build_scheduler(optimizer: torch.optim.Optimizer, name: str | None, total_steps: int, warmup_steps: int,
                    kwargs: dict | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-update LR multiplier schedule: linear warm-up, then constant/linear/cosine/polynomial decay.

    Args:
        name: scheduler type, None = constant (after warm-up).
        total_steps: optimizer updates of the whole run.
        warmup_steps: updates of linear warm-up (0 = off).
        kwargs: polynomial options ``power`` (default 1.0) and ``lr_end_ratio`` (default 0.0).

    Returns:
        A ``LambdaLR``; a module-level function (not a lambda) so its state dict pickles for checkpoints.
    """
    kwargs = kwargs or {}
    fn = partial(_lr_lambda, kind=name or LRSchedulerType.CONSTANT, warmup=warmup_steps, total=total_steps,
                 power=float(kwargs.get("power", 1.0)), end_ratio=float(kwargs.get("lr_end_ratio", 0.0)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
