"""One clear error for a checkpoint save that failed, raised the same way on every process.

A full disk shows up differently in each writer a save goes through: ``OSError(ENOSPC)`` from ``open``/``write``
and the tokenizer, a ``RuntimeError("PytorchStreamWriter failed writing file ...")`` from ``torch.save`` (used by
accelerate and for ``model.pt``), a ``SafetensorError`` from safetensors. Whatever the writer said, the user needs
the same three facts: which save failed and why (disk space named when the disk is the cause), which checkpoint is
the last intact one, and what to do.
"""

from __future__ import annotations

import errno
import os
import shutil

import torch

from ..errors import CheckpointError
from . import checkpoint as ckpt

# Below this much free space on the checkpoints' disk a failed write is taken to be a full disk even when the
# writer's message does not say so (torch's stream writer only says "file write failed").
LOW_DISK_BYTES = 64 * 1024 * 1024
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def free_bytes(root: str) -> int | None:
    """Free bytes on the disk holding ``root`` (or its nearest existing parent); None when unknown."""
    path = os.path.abspath(root)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _cause(error: BaseException, free: int | None) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    disk_full = getattr(error, "errno", None) in _DISK_FULL_ERRNOS or "No space left" in text
    if disk_full or (free is not None and free < LOW_DISK_BYTES):
        where = f"; {free / 2**20:.1f} MiB free on that disk" if free is not None else ""
        return f"the disk is full ({type(error).__name__}: {text}{where})"
    return f"{type(error).__name__}: {text}"


def save_failed(root: str, step: int, error: BaseException, process: int | None = None,
                clean: bool = True) -> CheckpointError:
    """The error for a save of ``step`` that failed with ``error``.

    Args:
        root: the checkpoints folder.
        step: the global step being saved.
        error: what the writer raised.
        process: the rank that failed, when it was not this one.
        clean: remove the save's staged leftovers first (the main process only: it alone writes files).

    Returns:
        A :class:`CheckpointError` naming the cause (disk space when the disk is full), the last intact checkpoint
        and the fix.
    """
    cause = _cause(error, free_bytes(root))  # measured before the staged files are removed: the space the save saw
    if clean:
        ckpt.clean_stale(root)
    latest = ckpt.find_latest(root)
    who = f" on process {process}" if process is not None else ""
    if latest is None:
        intact = "No earlier checkpoint exists"
    else:
        latest_step = int(os.path.basename(latest))
        same = " (written by an earlier save of this same step)" if latest_step == step else ""
        intact = f"The last intact checkpoint is `{latest}` (step {latest_step}){same}; it is resumable"
    return CheckpointError(
        f"Saving the checkpoint of step {step} failed{who}: {cause}. {intact}. Training stopped. Free disk space "
        f"(or lower save_total_limit, or fix the permissions of `{root}`), then resume with "
        "resume_from_checkpoint: true.")


def raise_if_any_failed(accelerator, error: BaseException | None, root: str, step: int) -> None:
    """Make every process raise when any process's part of a save failed (a collective; call it on all processes).

    A process that failed alone would leave the others waiting in the save's next collective; instead they all
    stop here, each with the failing process's explanation. A :class:`CheckpointError` (the previous save's
    background part failed) is already explained and is raised as it is.

    Raises:
        CheckpointError: some process failed.
    """
    failure = None if error is None else _as_checkpoint_error(error, root, step, accelerator)
    if accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        flags = accelerator.gather(torch.tensor([int(error is not None)], device=accelerator.device))
        if not bool(flags.any()):
            return
        texts = gather_object([None if failure is None else str(failure)])
        if failure is None:
            rank, text = next((r, t) for r, t in enumerate(texts) if t is not None)
            raise CheckpointError(f"Process {rank} could not write its part of the checkpoint of step {step}: {text}")
    if failure is not None and failure is error:
        raise failure
    if failure is not None:
        raise failure from error


def _as_checkpoint_error(error: BaseException, root: str, step: int, accelerator) -> CheckpointError:
    if isinstance(error, CheckpointError):
        return error
    return save_failed(root, step, error, clean=accelerator.is_main_process)
