"""The decisions of a resume, each a function of what it is given: which checkpoint, whether it may be resumed,
how its accelerate state loads, and how the LR schedule follows a run whose length changed.

The :class:`~.checkpointer.Checkpointer` strings them together.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from ..errors import CheckpointError
from ..models.model import _find_weights
from .checkpoint_files import LEGACY_CUSTOM_STATE, inspect_checkpoint
from .optim import Schedule, set_schedule_length
from .state import TrainerState


@dataclass
class ResumeReport:
    """What a resume did, for the banner.

    Attributes:
        checkpoint: the folder resumed from.
        step: its global step.
        schedule_note: how the LR schedule was refitted when the run's length changed (None when it did not).
    """

    checkpoint: str
    step: int
    schedule_note: str | None = None


def pick_loadable(candidates: list[str], may_fall_back: bool, num_processes: int, allow_missing_rng: bool,
                  required: tuple[str, ...] = ()) -> tuple[int | None, list[str], str | None]:
    """The first candidate whose every file is present, readable and code-free (see ``checkpoint_files``).

    Args:
        candidates: checkpoint folders, newest first.
        may_fall_back: try the next candidate when one fails (``resume_from_checkpoint: true``).
        num_processes: processes of the resuming run (each needs its RNG file).
        allow_missing_rng: ``resume_without_rng_state``.
        required: files ``accelerate/`` must hold besides the RNG states.

    Returns:
        ``(index or None, notes to print, error message or None)``.
    """
    notes, failed = [], []
    for index, folder in enumerate(candidates):
        report = inspect_checkpoint(folder, num_processes, _weights_file(folder), required)
        if report.usable(allow_missing_rng):
            if report.rng_problems:
                notes.append("WARNING: resuming WITHOUT exact random states (resume_without_rng_state: true): "
                             + "; ".join(report.rng_problems) + ". Dropout and other random streams restart; the run "
                             "will not be bitwise equal to an uninterrupted one.")
            if failed:
                notes.append(f"Resuming from `{folder}`, the newest checkpoint that loads (skipped: "
                             + ", ".join(os.path.basename(f) for f, _ in failed) + ").")
            return index, notes, None
        failed.append((folder, report))
        if may_fall_back and index + 1 < len(candidates):
            notes.append(f"Checkpoint `{folder}` cannot be resumed: {'; '.join(report.problems)}. "
                         "Trying the one before it.")
        if not may_fall_back:
            break
    return None, notes, _unloadable_message(failed, allow_missing_rng)


def _unloadable_message(failed: list, allow_missing_rng: bool) -> str:
    lines = [f"`{folder}`: {'; '.join(report.problems)}" for folder, report in failed]
    fixes = ["resume from an earlier checkpoint (a path, or true for the newest that loads)",
             "or start a fresh run (overwrite_output_dir: true)"]
    if not allow_missing_rng and all(set(r.problems) == set(r.rng_problems) for _, r in failed):
        fixes.insert(1, "or set resume_without_rng_state: true to resume with fresh random streams (not exact)")
    return ("Cannot resume: no checkpoint can be loaded safely and exactly.\n  " + "\n  ".join(lines)
            + "\nRestore those files, " + ", ".join(fixes) + ".")


def _weights_file(folder: str) -> str | None:
    try:
        return _find_weights(folder, None)
    except CheckpointError:
        return None


def check_resumable(path: str, saved: TrainerState, order_problems: list[str], total_steps: int,
                    ignore_order: bool) -> None:
    """Refuse a resume whose data order would differ, or whose checkpoint lies past this run's last step.

    Args:
        path: the checkpoint.
        saved: its trainer state.
        order_problems: what ``DataOrder.problems`` found (checked at every step, the run's last included: a changed
            setting also changes the run's length).
        total_steps: this run's planned updates.
        ignore_order: ``ignore_data_order_mismatch``.

    Raises:
        CheckpointError: names the setting that changed and the fix.
    """
    if order_problems and not ignore_order:
        raise CheckpointError(
            f"Cannot resume exactly from `{path}`: " + "; ".join(order_problems) + ". Restore the original settings, "
            "or set ignore_data_order_mismatch: true to continue with a different data order.")
    if saved.global_step > total_steps:
        raise CheckpointError(
            f"Cannot resume from `{path}`: it is at step {saved.global_step}, past this run's {total_steps} total "
            "steps (num_epochs or max_steps is lower than when it was saved). Raise num_epochs/max_steps to at least "
            f"the checkpoint's, or start a fresh run.")


def refit_schedule(scheduler, optimizer, saved: TrainerState, total_steps: int, warmup_steps: int) -> str | None:
    """When the run's length changed since the checkpoint (e.g. num_epochs raised to extend a finished run), fit
    the restored LR schedule to the new length; the restored one would stay at its end (0 for linear decay).

    Returns:
        A line for the banner saying what changed, or None when the length is unchanged.
    """
    if not saved.total_steps or saved.total_steps == total_steps:
        return None
    inner = getattr(scheduler, "scheduler", scheduler)
    if not any(isinstance(f, Schedule) for f in getattr(inner, "lr_lambdas", [])):
        return (f"the run now has {total_steps} steps (the checkpoint's had {saved.total_steps}); the custom LR "
                "scheduler keeps its restored state")
    set_schedule_length(scheduler, total_steps, warmup_steps)
    lr = optimizer.param_groups[0]["lr"]
    return (f"refitted to {total_steps} steps (the checkpoint's run planned {saved.total_steps}): the learning rate "
            f"goes on at {lr:.3g} from step {saved.global_step}")


class _DiscardedState:
    """Takes the place of the TrainerState that older checkpoints also pickled: the YAML copy is what is restored."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def load_accelerate_state(accelerator, folder: str) -> None:
    """``accelerator.load_state(folder)`` for a folder already checked by ``checkpoint_files`` (call on all processes).

    Raises:
        CheckpointError: loading failed all the same (the message names the folder and the error).
    """
    legacy = None
    if os.path.isfile(os.path.join(folder, LEGACY_CUSTOM_STATE)):
        # Checked code-free above; accelerate insists on one registered object per custom-state file it finds.
        legacy = _DiscardedState()
        accelerator.register_for_checkpointing(legacy)
    try:
        accelerator.load_state(folder)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"Loading the training state from `{folder}` failed ({type(e).__name__}: {e}). Resume "
                              "from an earlier checkpoint (a path, or true for the newest that loads).") from e
    finally:
        if legacy is not None:
            accelerator._custom_objects.remove(legacy)  # no public unregister; later saves must not write it again


def advance_schedule(scheduler, steps: int) -> None:
    """Step a freshly built LR scheduler ``steps`` times (a weights-only resume has no scheduler state to load)."""
    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
        warnings.simplefilter("ignore")
        for _ in range(steps):
            getattr(scheduler, "scheduler", scheduler).step()
