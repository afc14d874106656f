"""All step arithmetic of a run, in one pure function (DESIGN promise 1).

A step is one optimizer update. Everything is counted per process: each process sees ``batches_per_epoch`` batches
of its own shard, and ``gradient_accumulation_steps`` of them make one update; the last, partial group of an epoch
still makes an update (accelerate syncs at the end of the dataloader).

An iterable dataset has no length (``batches_per_epoch=None``): only ``max_steps`` plans the run, and the steps of an
epoch (one pass of the iterator) stay unknown until the pass ends (``steps_per_epoch`` and ``num_epochs`` are None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class StepPlan:
    """Resolved step numbers of a run.

    Attributes:
        batches_per_epoch: batches each process draws per epoch; None for an iterable dataset (unknown).
        steps_per_epoch: optimizer updates per epoch; None for an iterable dataset (an epoch ends when its pass does).
        num_epochs: epochs to run (the last may stop early at ``total_steps``); None for an iterable dataset (as many
            passes as ``total_steps`` takes).
        total_steps: optimizer updates of the whole run (the LR schedule's length).
        warmup_steps: updates of linear warm-up.
        save_steps / log_steps / eval_steps: interval in updates, or None when off.
        notes: what was adjusted to fit the run (an interval longer than the run is clamped to it), to print once.
    """

    batches_per_epoch: int | None
    steps_per_epoch: int | None
    num_epochs: int | None
    total_steps: int
    warmup_steps: int
    save_steps: int | None
    log_steps: int | None
    eval_steps: int | None
    notes: tuple[str, ...] = ()

    def is_due(self, interval: int | None, global_step: int) -> bool:
        """Whether an every-``interval`` event (save/log/eval) falls on ``global_step``."""
        return interval is not None and global_step % interval == 0

    def runs_epoch(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1-based) belongs to the run (always, when the number of epochs is unknown)."""
        return self.num_epochs is None or epoch <= self.num_epochs

    def is_last_epoch(self, epoch: int) -> bool:
        """Whether ``epoch`` is the run's last planned one (never known ahead for an iterable dataset)."""
        return self.num_epochs is not None and epoch >= self.num_epochs


def _resolve(name: str, value: int | float | None, total_steps: int, notes: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):
        return max(1, math.ceil(value * total_steps))
    if value > total_steps:
        # A short run (a smoke test with max_steps: 5 under a recipe's log_steps: 20) would otherwise never log,
        # evaluate or save mid-run; at the run's end every event happens anyway.
        notes.append(f"{name}: {value} is more than the run's {total_steps} total steps; using {total_steps}")
        return total_steps
    return int(value)


def plan_steps(batches_per_epoch: int | None, gradient_accumulation_steps: int, num_epochs: int | None,
               max_steps: int | None, warmup_steps: int | float = 0, save_steps: int | float | None = None,
               log_steps: int | float | None = None, eval_steps: int | float | None = None) -> StepPlan:
    """Resolve the run's step numbers from the prepared dataloader length and the config.

    Args:
        batches_per_epoch: ``len(prepared_train_dataloader)`` (per process); None for an iterable dataset.
        gradient_accumulation_steps: micro-batches per update.
        num_epochs: requested epochs (ignored when ``max_steps`` is set, and for an iterable dataset).
        max_steps: requested total updates, or None.
        warmup_steps, save_steps, log_steps, eval_steps: int updates or float fraction of ``total_steps``.

    Returns:
        The :class:`StepPlan`.

    Raises:
        ConfigError: an empty dataloader, an iterable dataset without ``max_steps``, or a warm-up longer than the
            whole run.
    """
    if batches_per_epoch is None:  # an iterable: epochs are passes whose length shows only when they end
        if max_steps is None:
            raise ConfigError("TrainerConfig (against the training data)", [
                f"max_steps: required with an iterable train_dataset (no length: num_epochs: {num_epochs} cannot be "
                "planned); set max_steps, the run's optimizer updates (an epoch is one pass of the iterator)"])
        steps_per_epoch, num_epochs, total_steps = None, None, int(max_steps)
    elif batches_per_epoch < 1:
        raise ConfigError("training data", ["batch_size: the training dataloader yields no batch per process; "
                                             "use a smaller batch_size or fewer processes, or more data"])
    else:
        steps_per_epoch = math.ceil(batches_per_epoch / gradient_accumulation_steps)
        if max_steps is not None:
            total_steps = int(max_steps)
            num_epochs = math.ceil(total_steps / steps_per_epoch)
        else:
            total_steps = steps_per_epoch * int(num_epochs)
    problems: list[str] = []
    notes: list[str] = []
    warmup = math.floor(warmup_steps * total_steps) if isinstance(warmup_steps, float) else int(warmup_steps)
    if warmup > total_steps:
        problems.append(f"warmup_steps: {warmup_steps} is more than the run's {total_steps} total steps")
    plan = StepPlan(
        batches_per_epoch=batches_per_epoch,
        steps_per_epoch=steps_per_epoch,
        num_epochs=None if num_epochs is None else int(num_epochs),
        total_steps=total_steps,
        warmup_steps=warmup,
        save_steps=_resolve("save_steps", save_steps, total_steps, notes),
        log_steps=_resolve("log_steps", log_steps, total_steps, notes),
        eval_steps=_resolve("eval_steps", eval_steps, total_steps, notes),
        notes=tuple(notes),
    )
    if problems:
        raise ConfigError("TrainerConfig (against the prepared data)", problems)
    return plan
