"""Checkpoint folders: atomic save, find-latest, load and prune (DESIGN promise 6).

Layout of ``checkpoints/<step:08d>/``: a complete Hezar model folder, ``train/`` (train_config.yaml,
dataset_config.yaml, trainer_state.yaml), ``accelerate/`` (``accelerator.save_state``) and the ``COMPLETE`` marker,
written last. Everything is first written into ``checkpoints/.staging-<step>/`` and then renamed into place, so a
crash at any moment leaves either the previous checkpoints or the new complete one - never a torn folder that
"find latest" would trust. ``checkpoints/trainer_state.yaml`` points at the latest complete checkpoint.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import Callable

from ..constants import (ACCELERATE_SUBFOLDER, CHECKPOINT_COMPLETE_MARKER, CHECKPOINT_STEP_DIGITS, TRAINER_STATE_FILE,
                         TRAINER_SUBFOLDER)
from ..errors import CheckpointError
from ..hub import looks_like_repo_id
from .state import TrainerState

STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint at ``step`` (zero-padded so names sort by step)."""
    return f"{step:0{CHECKPOINT_STEP_DIGITS}d}"


def is_complete(folder: str) -> bool:
    """A checkpoint counts only when its completion marker exists."""
    return os.path.isfile(os.path.join(folder, CHECKPOINT_COMPLETE_MARKER))


def list_checkpoints(root: str) -> list[str]:
    """Complete checkpoint folders under ``root``, oldest step first."""
    if not os.path.isdir(root):
        return []
    names = sorted(n for n in os.listdir(root) if n.isdigit() and is_complete(os.path.join(root, n)))
    return [os.path.join(root, n) for n in names]


def find_latest(root: str) -> str | None:
    """The newest complete checkpoint under ``root``, or None."""
    found = list_checkpoints(root)
    return found[-1] if found else None


def _fsync_tree(folder: str) -> None:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())


def seal(root: str, step: int) -> None:
    """Make the staged checkpoint of ``step`` durable: fsync every file, then write and fsync the ``COMPLETE`` marker."""
    staging = staging_folder(root, step)
    _fsync_tree(staging)
    with open(os.path.join(staging, CHECKPOINT_COMPLETE_MARKER), "w") as f:
        f.write(f"{step}\n")
        f.flush()
        os.fsync(f.fileno())


def publish(root: str, step: int) -> str:
    """Rename the sealed staging folder of ``step`` into place (replacing an earlier save of the same step), durably.

    Returns:
        The final checkpoint folder.
    """
    final = os.path.join(root, checkpoint_name(step))
    staging = staging_folder(root, step)
    if os.path.exists(final):  # the same step saved again (e.g. an epoch-end save after a mid-epoch one)
        trash = os.path.join(root, TRASH_PREFIX + checkpoint_name(step))
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, final)
    _fsync_dir(root)
    return final


def finalize_checkpoint(root: str, step: int) -> str:
    """Make the staged checkpoint of ``step`` durable and visible: :func:`seal`, then :func:`publish`.

    Safe to run on a background thread once the staging folder is fully written: it only reads that folder and
    renames it, and nothing else touches it until the next save (which waits for this one).

    Returns:
        The final checkpoint folder.
    """
    seal(root, step)
    return publish(root, step)


def _fsync_dir(folder: str) -> None:
    """Persist a rename inside ``folder`` (POSIX: the directory entry is durable only once the directory is fsynced)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointFinalizer:
    """Runs the end of a checkpoint save (fsync, marker, rename, pruning, Hub hand-off) on one background thread.

    Staging a checkpoint writes every byte synchronously, so the training step after it can change the weights
    freely; what is left is waiting for the disk (fsync, ~40% of a small model's save on this machine's ext4),
    and training need not wait for that. At most one finalization runs: :meth:`submit` and :meth:`wait` first join
    the previous one, so checkpoints complete in order and the next save never cleans a folder still being
    finalized. A crash before the rename leaves only the staging folder, which is never loadable and is removed at
    the next start, so "latest complete checkpoint" keeps its meaning. An error on the thread is re-raised by the
    next :meth:`wait` (the next save, the end of ``train()``, or a preemption stop).

    The thread is not a daemon: a normally exiting interpreter finishes the pending checkpoint before it exits.
    """

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, finalize: Callable[[], None]) -> None:
        """Wait for the previous finalization (re-raising its error), then start ``finalize`` on a new thread."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(finalize,), name="hezar-accel-checkpoint")
        self._thread.start()

    def _run(self, finalize: Callable[[], None]) -> None:
        try:
            finalize()
        except BaseException as e:  # re-raised on the training thread by wait()
            self._error = e

    def wait(self) -> None:
        """Block until the pending finalization is done.

        Raises:
            Whatever the finalization raised (a CheckpointError for disk problems), once.
        """
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def update_latest_pointer(root: str, checkpoint: str) -> None:
    """Copy the checkpoint's ``train/trainer_state.yaml`` to ``root/trainer_state.yaml`` (temp file + rename)."""
    tmp = os.path.join(root, f"{TRAINER_STATE_FILE}.tmp")
    shutil.copyfile(os.path.join(checkpoint, TRAINER_SUBFOLDER, TRAINER_STATE_FILE), tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(root, TRAINER_STATE_FILE))


def staging_folder(root: str, step: int) -> str:
    """Where the staged checkpoint of ``step`` is assembled (all processes write their accelerate state here)."""
    return os.path.join(root, STAGING_PREFIX + checkpoint_name(step))


def clean_stale(root: str) -> None:
    """Remove staging/trash folders left by a crash during an earlier save (they are never loadable)."""
    if not os.path.isdir(root):
        return
    for name in os.listdir(root):
        if name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def prune(root: str, keep_last: int | None, protect: tuple[str | None, ...] = ()) -> list[str]:
    """Delete the oldest complete checkpoints beyond the newest ``keep_last``, never one named in ``protect``.

    Each folder is first renamed to a trash name (atomic), then deleted: a crash in the middle of a delete leaves
    a ``.trash-*`` folder that is never listed and is removed at the next start, never a checkpoint folder that still
    carries its ``COMPLETE`` marker with files missing.

    Returns:
        The deleted folders.
    """
    if not keep_last:
        return []
    found = list_checkpoints(root)
    keep = set(found[-keep_last:]) | {os.path.join(root, p) for p in protect if p}
    deleted = []
    for folder in found:
        if folder not in keep:
            trash = os.path.join(root, TRASH_PREFIX + os.path.basename(folder))
            shutil.rmtree(trash, ignore_errors=True)
            os.replace(folder, trash)
            _fsync_dir(root)
            shutil.rmtree(trash)
            deleted.append(folder)
    return deleted


def resume_candidates(resume: bool | str, root: str) -> tuple[list[str], bool]:
    """The checkpoint folders ``resume_from_checkpoint`` may resume from, newest first.

    ``True`` (or a checkpoints root) lists every complete checkpoint, so a resume can fall back to an older one when
    the newest cannot be loaded; an explicit checkpoint folder or a Hub repo id names exactly one. A Hub repo id (not an
    existing local path) is downloaded with ``snapshot_download`` into the HF cache. A pushed checkpoint holds the model
    folder and ``train/``; optimizer/scheduler/RNG state only if ``accelerate/`` was uploaded.

    Returns:
        ``(folders, may_fall_back)``.

    Raises:
        CheckpointError: nothing to resume from, or the named folder is incomplete. HubError: the repo cannot be fetched.
    """
    if resume is True:
        found = list_checkpoints(root)
        if not found:
            raise CheckpointError(f"resume_from_checkpoint: true, but `{root}` holds no complete checkpoint. "
                                  "Start without resume_from_checkpoint, or point it at a checkpoint folder.")
        return found[::-1], True
    path = os.fspath(resume)
    if not os.path.exists(path) and looks_like_repo_id(path):
        return [_download_pushed_checkpoint(path)], False
    if os.path.isdir(path) and not is_complete(path) and find_latest(path):
        return list_checkpoints(path)[::-1], True  # a checkpoints root was given
    if not os.path.isdir(path):
        raise CheckpointError(f"resume_from_checkpoint: `{path}` is not a folder.")
    if not is_complete(path):
        raise CheckpointError(f"resume_from_checkpoint: `{path}` has no `{CHECKPOINT_COMPLETE_MARKER}` marker: the save "
                              "that wrote it was interrupted. Resume from an earlier checkpoint (or use true for the latest complete one).")
    return [path], False


def resolve_resume_path(resume: bool | str, root: str) -> str:
    """The newest folder :func:`resume_candidates` offers (for readers that only need its model folder)."""
    return resume_candidates(resume, root)[0][0]


def _download_pushed_checkpoint(repo_id: str) -> str:
    """A local snapshot of a checkpoint pushed to the Hub (one commit, so never torn: no COMPLETE marker needed)."""
    from ..hub import resolve_folder

    folder = resolve_folder(repo_id)
    if not os.path.isfile(os.path.join(folder, TRAINER_SUBFOLDER, TRAINER_STATE_FILE)):
        raise CheckpointError(f"resume_from_checkpoint: the Hub repo `{repo_id}` has no `{TRAINER_SUBFOLDER}/"
                              f"{TRAINER_STATE_FILE}`: it is a model, not a checkpoint pushed by a training run "
                              "(push_to_hub: true). Use it with init_weights_from instead.")
    return folder


def read_state(checkpoint: str) -> TrainerState:
    """The trainer state stored in a checkpoint folder."""
    return TrainerState.load(os.path.join(checkpoint, TRAINER_SUBFOLDER, TRAINER_STATE_FILE))


def accelerate_folder(checkpoint: str) -> str:
    return os.path.join(checkpoint, ACCELERATE_SUBFOLDER)
