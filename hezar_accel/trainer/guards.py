"""Guards around the loop: non-finite losses (``nan_policy``) and preemption signals (SIGTERM/SIGINT).

Neither adds a host sync to a step unless the user asks for one: ``nan_policy: raise`` records the first bad update
on the device and checks it at logging, evaluation and save points (before any checkpoint is written, so a saved
checkpoint never holds NaN weights); ``nan_policy: skip_step`` must decide before the optimizer steps and so syncs once
per update. A signal only sets a flag; processes agree on the stop step through one small all-reduce per update when
there are several processes.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import torch

from ..errors import CheckpointError, TrainingError

# Exit status of a run stopped by SIGTERM/SIGINT after saving its checkpoint (EX_TEMPFAIL: "try again", i.e. resume).
EXIT_PREEMPTED = 75


class TrainingPreempted(SystemExit):
    """Raised by ``Trainer.train`` after a preemption checkpoint was saved; exits the process with ``EXIT_PREEMPTED``."""

    def __init__(self, signum: int, checkpoint: str | None):
        super().__init__(EXIT_PREEMPTED)
        self.signum, self.checkpoint = signum, checkpoint

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}; checkpoint saved at {self.checkpoint}"


class NonFiniteTracker:
    """First update whose loss was NaN/inf, kept on the device (-1 = none so far)."""

    def __init__(self, device: torch.device):
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)

    def record(self, loss: torch.Tensor, step: int) -> None:
        bad = ~torch.isfinite(loss.detach()).all()
        self.first_bad = torch.where(bad & (self.first_bad < 0), torch.full_like(self.first_bad, step), self.first_bad)

    def first_bad_step(self, accelerator) -> int | None:
        """The earliest bad update on any process (a collective), or None."""
        value = self.first_bad
        if accelerator.num_processes > 1:
            marked = torch.where(value < 0, torch.full_like(value, 2**62), value)
            value = accelerator.gather(marked.reshape(1)).min()
            value = torch.where(value == 2**62, torch.full_like(value, -1), value)
        step = int(value.item())
        return None if step < 0 else step


def non_finite_error(step: int, batch_indices: list, checkpoint_hint: str) -> TrainingError:
    return TrainingError(
        f"The training loss was NaN/inf at update {step} (sample indices of that update: {batch_indices}); "
        f"{checkpoint_hint}. Lower the learning rate, enable max_grad_norm, check those samples, or set "
        "nan_policy: skip_step to skip such updates."
    )


def all_finite(loss: torch.Tensor, accelerator) -> bool:
    """Whether the loss is finite on every process (one sync; used by nan_policy: skip_step)."""
    flag = torch.isfinite(loss.detach()).all().to(torch.float32).reshape(1)
    if accelerator.num_processes > 1:
        flag = accelerator.reduce(flag, reduction="sum") / accelerator.num_processes
    return bool(flag.item() == 1.0)


# Under torchrun / accelerate launch a SIGINT that reached the workers directly (``pkill -INT -f train.py``, a batch
# scheduler signalling every process of a job) is followed within milliseconds by the copy the launcher forwards to
# each worker: the two are one interrupt, not the "second Ctrl-C" that aborts.
LAUNCHER_ECHO_SECONDS = 2.0


class StopSignal:
    """Turns the first SIGTERM/SIGINT into a request to stop at the next update; a second SIGINT aborts at once.

    Under a launcher (``TORCHELASTIC_RUN_ID`` set) a SIGINT within :data:`LAUNCHER_ECHO_SECONDS` of the first signal
    is the launcher's forwarded copy and is not counted. Installed only in the main thread (signal handlers cannot be
    set elsewhere); restored on ``uninstall``.
    """

    def __init__(self):
        self.signum: int | None = None
        self._received_at = 0.0
        self._previous = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        now = time.monotonic()
        if self.signum is None:
            self.signum, self._received_at = signum, now
            return
        echo = "TORCHELASTIC_RUN_ID" in os.environ and now - self._received_at < LAUNCHER_ECHO_SECONDS
        if signum == signal.SIGINT and not echo:
            raise KeyboardInterrupt("second interrupt: aborting without a final checkpoint")

    def agreed(self, accelerator) -> int | None:
        """The signal number if any process was signalled (all processes get the same answer), else None."""
        if accelerator.num_processes == 1:
            return self.signum
        flag = torch.tensor([float(self.signum or 0)], device=accelerator.device)
        return int(accelerator.gather(flag).max().item()) or None


def _update_indices(trainer, step: int) -> list[int]:
    """Sample indices this process used in update ``step`` (recomputed from the deterministic sampler)."""
    import itertools

    plan, ga = trainer.plan, trainer.config.gradient_accumulation_steps
    epoch, within = (step - 1) // plan.steps_per_epoch + 1, (step - 1) % plan.steps_per_epoch
    trainer.train_sampler.set_epoch(epoch)
    batches = itertools.islice(iter(trainer.train_dataloader.batch_sampler), within * ga, (within + 1) * ga)
    return [int(i) for batch in batches for i in batch]


def raise_if_non_finite(trainer) -> None:
    """Under ``nan_policy: raise``, raise at the first non-finite update seen so far (a collective)."""
    if trainer.config.nan_policy != "raise":
        return
    step = trainer._nonfinite.first_bad_step(trainer.accelerator)
    if step is not None:
        from .saving import wait_for_checkpoint

        try:  # the hint names the last sealed checkpoint: let a save of a few steps ago finish sealing first
            wait_for_checkpoint(trainer, all_processes=True)
        except CheckpointError:
            pass  # that save failed; the hint then names the one before it, and the NaN stays the error raised
        raise non_finite_error(step, _update_indices(trainer, step), trainer._last_checkpoint_hint())


def stop_if_signalled(trainer) -> None:
    """After an update: if any process got SIGTERM/SIGINT, save a checkpoint at this step everywhere and stop."""
    signum = trainer._stop.agreed(trainer.accelerator)
    if signum is None:
        return
    from .checkpoint import checkpoint_name, find_latest
    from .saving import wait_for_checkpoint

    wait_for_checkpoint(trainer, all_processes=True)  # a save a few steps ago may still be finalizing
    latest = find_latest(trainer.config.checkpoints_path)
    if latest is None or os.path.basename(latest) != checkpoint_name(trainer.state.global_step):
        trainer.save_checkpoint()
        wait_for_checkpoint(trainer, all_processes=True)
        latest = find_latest(trainer.config.checkpoints_path)
    trainer.accelerator.print(f"Received {signal.Signals(signum).name}: saved {latest}; resume with "
                              "resume_from_checkpoint: true")
    trainer.accelerator.end_training()
    raise TrainingPreempted(signum, latest)
