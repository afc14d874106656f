"""What the Trainer watches between updates: non-finite losses and preemption signals.

Both are bookkeeping only; what to do about them (raise, save, stop) is the Trainer's policy. Neither costs a host
sync inside an update: the first non-finite update is recorded on the device and read at log, evaluation and save
points (``nan_policy: skip_step`` is the one exception the user opts into: it must decide before the optimizer steps),
and a signal sets a flag that the processes agree on through an asynchronous all-reduce read one update later.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import torch

from ..errors import TrainingError

# Exit status of a run stopped by SIGTERM/SIGINT after saving its checkpoint (EX_TEMPFAIL: "try again", i.e. resume).
EXIT_PREEMPTED = 75

# Under torchrun / accelerate launch a SIGINT that reached the workers directly (``pkill -INT -f train.py``, a batch
# scheduler signalling every process of a job) is followed within milliseconds by the copy the launcher forwards to
# each worker: the two are one interrupt, not the "second Ctrl-C" that aborts.
LAUNCHER_ECHO_SECONDS = 2.0


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
        """The earliest bad update on any process (a collective and a host read), or None."""
        value = self.first_bad
        if accelerator.num_processes > 1:
            marked = torch.where(value < 0, torch.full_like(value, 2**62), value)
            value = accelerator.gather(marked.reshape(1)).min()
            value = torch.where(value == 2**62, torch.full_like(value, -1), value)
        step = int(value.item())
        return None if step < 0 else step


def non_finite_error(step: int, batch_indices: list | None, checkpoint_hint: str) -> TrainingError:
    """The error for a NaN/inf loss at update ``step``: which samples (None: an iterable dataset has no indices),
    where training can restart, what to change."""
    samples = (f"sample indices of that update: {batch_indices}" if batch_indices is not None
               else "an iterable dataset has no sample indices")
    return TrainingError(
        f"The training loss was NaN/inf at update {step} ({samples}); "
        f"{checkpoint_hint}. Lower the learning rate, enable max_grad_norm, check those samples, or set "
        "nan_policy: skip_step to skip such updates."
    )


def all_finite(loss: torch.Tensor, accelerator) -> bool:
    """Whether the loss is finite on every process (one sync; used by nan_policy: skip_step)."""
    flag = torch.isfinite(loss.detach()).all().to(torch.float32).reshape(1)
    if accelerator.num_processes > 1:
        flag = accelerator.reduce(flag, reduction="sum") / accelerator.num_processes
    return bool(flag.item() == 1.0)


class StopSignal:
    """Turns the first SIGTERM/SIGINT into a request to stop; a second SIGINT aborts at once.

    Under a launcher (``TORCHELASTIC_RUN_ID`` set) a SIGINT within :data:`LAUNCHER_ECHO_SECONDS` of the first signal
    is the launcher's forwarded copy and is not counted. Handlers are installed only in the main thread (signal
    handlers cannot be set elsewhere) and restored on ``uninstall``.

    Processes agree on the stop through :meth:`poll`, called after every update. With one process it answers at once.
    With several it answers with the all-reduce it started at the previous update and starts the next one: every
    process gets the same answer (so they stop at the same update, one update after the signal), and the reduce runs
    on a CPU (gloo) group while the update computes, so no process waits for its device.
    """

    def __init__(self):
        self.signum: int | None = None
        self._received_at = 0.0
        self._previous = {}
        self._group = None
        self._pending: tuple[torch.Tensor, object] | None = None

    def install(self, num_processes: int = 1) -> None:
        """Catch SIGTERM/SIGINT (main thread only) and, with several processes, open the CPU group polls agree on.

        A collective when ``num_processes > 1``: every process calls it.
        """
        if num_processes > 1 and self._group is None:
            import torch.distributed as dist

            # The training group may be NCCL, whose tensors live on the GPU; a gloo group reduces CPU tensors.
            self._group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        """Restore the previous handlers and finish a poll still in flight (every process started it)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        if self._pending is not None:
            self._pending[1].wait()
            self._pending = None

    def _handle(self, signum, frame) -> None:
        now = time.monotonic()
        if self.signum is None:
            self.signum, self._received_at = signum, now
            return
        echo = "TORCHELASTIC_RUN_ID" in os.environ and now - self._received_at < LAUNCHER_ECHO_SECONDS
        if signum == signal.SIGINT and not echo:
            raise KeyboardInterrupt("second interrupt: aborting without a final checkpoint")

    def poll(self) -> int | None:
        """The signal to stop for, agreed by every process (see the class docstring), or None.

        Call it after every update on every process (a collective when several processes run).
        """
        if self._group is None:
            return self.signum
        import torch.distributed as dist

        agreed = None
        if self._pending is not None:
            flag, work = self._pending
            work.wait()
            agreed = int(flag.item()) or None
        flag = torch.tensor([self.signum or 0], dtype=torch.int64)
        self._pending = (flag, dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group, async_op=True))
        return agreed
