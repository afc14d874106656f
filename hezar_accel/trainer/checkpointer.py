"""``Checkpointer``: everything a run does with its checkpoints (DESIGN promises 5 and 6).

Built from explicit parts (the Accelerator, the config, the state, the model weights, the running loss, the data
order, the scheduler and optimizer, the step plan); it never reaches into the Trainer. A save is staged (all bytes
written before ``save`` returns), then sealed on one background thread (fsync, ``COMPLETE`` marker, rename, latest
pointer, pruning, Hub hand-off); a resume picks a checkpoint whose files check out, verifies the data order and
restores every state. Every method that touches a checkpoint is a collective: call it on every process. Files are
written by the main process only (DESIGN promise 7).
"""

from __future__ import annotations

import os
import shutil
from functools import partial

from ..constants import TRAINER_STATE_FILE, TRAINER_SUBFOLDER
from ..configs import dump_yaml
from ..errors import CheckpointError
from . import checkpoint as ckpt
from .checkpoint_files import required_state
from .hub_push import HubUploader
from .resume import (ResumeReport, advance_schedule, check_resumable, load_accelerate_state, pick_loadable,
                     refit_schedule)
from .save_errors import raise_if_any_failed, save_failed


class Checkpointer:
    """Writes, finds, checks and restores a run's checkpoints.

    Args:
        accelerator: the run's Accelerator (``save_state``/``load_state``, collectives).
        config: the TrainerConfig (checkpoints folder, limits, save cadence, resume options, Hub upload).
        state: the TrainerState, written into every checkpoint and restored from one.
        weights: the :class:`~.weights.ModelWeights` (full weights out and in, the Hezar model folder).
        loss: the running train loss (:class:`~.loggers.RunningLoss`) whose sums a checkpoint stores.
        data_order: the run's :class:`~.data_order.DataOrder` (None when the trainer only evaluates).
        scheduler, optimizer: the prepared LR scheduler and optimizer (a resume may refit the schedule's length).
        plan: the run's :class:`~.steps.StepPlan` (None when the trainer only evaluates).
    """

    def __init__(self, accelerator, config, state, weights, loss, data_order, scheduler, optimizer, plan):
        self.accelerator, self.config, self.state, self.weights = accelerator, config, state, weights
        self.loss, self.data_order, self.scheduler, self.optimizer, self.plan = loss, data_order, scheduler, optimizer, plan
        self.uploader: HubUploader | None = None
        self.last_saved: str | None = None  # the folder of the last save, on the main process
        self.last_saved_step: int | None = None  # its step, on every process (a save may still be sealing)
        self._finalizer = ckpt.CheckpointFinalizer()
        weights.store_once_in_checkpoints()

    @property
    def root(self) -> str:
        return self.config.checkpoints_path

    def latest(self) -> str | None:
        """The newest complete checkpoint folder, or None."""
        return ckpt.find_latest(self.root)

    # -- saving ------------------------------------------------------------------------------------------------------
    def maybe_save(self, epoch_end: int | None = None) -> bool:
        """Save when one is due: every ``save_steps`` updates mid-epoch, or at the end of epoch ``epoch_end`` (every
        ``save_freq``-th epoch, and the run's last). Returns whether it saved (the same on every process)."""
        if not self.config.save_enabled:
            return False
        step, plan = self.state.global_step, self.plan
        if epoch_end is None:
            due = plan.is_due(plan.save_steps, step)
        else:
            due = (plan.is_last_epoch(epoch_end) or step >= plan.total_steps
                   or epoch_end % (self.config.save_freq or 1) == 0)
        if due:
            self.save()
        return due

    def save(self) -> str | None:
        """Stage ``checkpoints/<step>/`` (all bytes written before returning) and seal it in the background.

        Returns:
            The checkpoint's final folder on the main process (complete once sealed; :meth:`wait`), None elsewhere.

        Raises:
            CheckpointError: writing failed on some process (the previous checkpoint stays intact), or the previous
                save's background part did.
        """
        acc, state = self.accelerator, self.state
        root, step = self.root, state.global_step
        state.loss_sums, state.loss_counts = self.loss.gather_all(acc)
        state.data_check = self.data_order.record(state.epoch, state.epoch_step) if self.data_order else {}
        if state.best_step == step:
            state.best_checkpoint = ckpt.checkpoint_name(step)
        staging = ckpt.staging_folder(root, step)
        error = None
        if acc.is_main_process:
            try:
                self._finalizer.wait()  # the previous save must be complete before its leftovers are cleaned
                ckpt.clean_stale(root)
                os.makedirs(staging, exist_ok=True)
            except Exception as e:  # a CheckpointError here is the previous save's background failure, raised as it is
                error = e
        raise_if_any_failed(acc, error, root, step)  # also the barrier: the staging folder exists for everyone
        try:
            acc.save_state(ckpt.accelerate_folder(staging))
        except Exception as e:  # a full disk inside torch.save/safetensors: the same clear error on every process
            error = e
        state_dict = self.weights.state_dict()  # a collective under sharded backends: every process calls it
        if acc.is_main_process and error is None:
            try:
                self.weights.write_folder(staging, state_dict)
                dump_yaml(state.to_dict(), os.path.join(staging, TRAINER_SUBFOLDER, TRAINER_STATE_FILE))
            except Exception as e:
                error = e
        # Also the barrier after which every process's files are written, so the main process may seal the folder.
        raise_if_any_failed(acc, error, root, step)
        self.last_saved_step = step
        if not acc.is_main_process:
            return None
        self._finalizer.submit(partial(self._finalize, step, state.best_checkpoint))
        self.last_saved = os.path.join(root, ckpt.checkpoint_name(step))
        return self.last_saved

    def _finalize(self, step: int, best_checkpoint: str | None) -> None:
        """Background part of a save: seal and rename the staged folder, then point at it, prune, hand it to the Hub."""
        root = self.root
        try:
            final = ckpt.finalize_checkpoint(root, step)
        except Exception as e:
            raise save_failed(root, step, e) from e
        try:
            ckpt.update_latest_pointer(root, final)
            ckpt.prune(root, self.config.save_total_limit, protect=(best_checkpoint,))
        except Exception as e:  # the checkpoint itself is complete and resumable; only the bookkeeping after it failed
            raise CheckpointError(
                f"The checkpoint of step {step} is complete at `{final}`, but updating `{root}/{TRAINER_STATE_FILE}` "
                f"or pruning older checkpoints failed ({type(e).__name__}: {e}). Free disk space (or fix permissions), "
                "then resume with resume_from_checkpoint: true.") from e
        if self.config.push_to_hub:  # background upload of the complete checkpoint; never blocks, never raises
            if self.uploader is None or self.uploader.closed:
                self.uploader = HubUploader(self.config.hub_model_id, root)
            self.uploader.submit(final, step)

    def wait(self, all_processes: bool = False) -> None:
        """Wait until the last checkpoint is sealed (main process), optionally followed by a barrier.

        Args:
            all_processes: also make every process wait for it (a collective: call it on all processes or none).

        Raises:
            CheckpointError: the background part of the last save failed.
        """
        if self.accelerator.is_main_process:
            self._finalizer.wait()
        if all_processes:
            self.accelerator.wait_for_everyone()

    def close(self) -> None:
        """Wait for the last Hub upload (failures were already warned about); the uploader keeps its record."""
        if self.uploader is not None:
            self.uploader.close()

    # -- resuming ----------------------------------------------------------------------------------------------------
    def start_fresh(self) -> None:
        """Before a run that does not resume: refuse (or, with overwrite_output_dir, clear) an earlier run's checkpoints.

        Raises:
            CheckpointError: checkpoints exist and overwrite_output_dir is False.
        """
        existing = ckpt.list_checkpoints(self.root)
        if existing and not self.config.overwrite_output_dir:
            raise CheckpointError(
                f"`{self.root}` already holds {len(existing)} checkpoint(s) of an earlier run (latest "
                f"{os.path.basename(existing[-1])}). Resume it with resume_from_checkpoint: true, choose another "
                "output_dir, or set overwrite_output_dir: true to delete them.")
        if existing and self.accelerator.is_main_process:
            shutil.rmtree(self.root)
        self.accelerator.wait_for_everyone()

    def restore(self, resume) -> ResumeReport:
        """Resume from a checkpoint: pick one whose files check out, verify the data order, load every state.

        ``resume`` may also be a Hub repo id of a pushed checkpoint (see ``resume_candidates``); such a folder has
        optimizer/scheduler/RNG state only when it holds ``accelerate/``, otherwise weights only are restored.

        Raises:
            CheckpointError: no usable checkpoint (each unusable file named), the data order would differ (unless
                ``ignore_data_order_mismatch``), or the checkpoint is past this run's last step.
        """
        acc, config, plan, state = self.accelerator, self.config, self.plan, self.state
        path, saved = self._choose(resume)
        order = self.data_order.problems(saved.data_check, saved.epoch, saved.epoch_step) if saved.data_check else []
        check_resumable(path, saved, order, plan.total_steps, config.ignore_data_order_mismatch)
        if saved.data_check:  # an iterable's rows are verified while the resumed pass reads them again
            self.data_order.expect(saved.data_check, config.ignore_data_order_mismatch)
        if os.path.isdir(ckpt.accelerate_folder(path)):
            load_accelerate_state(acc, ckpt.accelerate_folder(path))
        else:
            self.weights.load_file(path)
            if self.scheduler is not None:
                advance_schedule(self.scheduler, saved.global_step)
            acc.print(f"`{path}` has no accelerate/ folder (e.g. a checkpoint pushed to the Hub): restored the weights, "
                      "trainer state and LR schedule; the optimizer state and RNG start fresh.")
        for key, value in saved.to_dict().items():
            setattr(state, key, value)
        state.total_steps = plan.total_steps
        rank = acc.process_index
        if rank < len(state.loss_sums):
            self.loss.load(state.loss_sums[rank], state.loss_counts[rank])
        if acc.is_main_process:
            ckpt.clean_stale(self.root)
        acc.print(f"Resumed from {path} at epoch {state.epoch}, step {state.global_step}")
        note = refit_schedule(self.scheduler, self.optimizer, saved, plan.total_steps, plan.warmup_steps)
        return ResumeReport(path, saved.global_step, note)

    def _choose(self, resume):
        """The checkpoint to resume from, its files checked on the main process; every process gets the same answer.

        With ``resume_from_checkpoint: true`` (or a checkpoints root) a checkpoint whose files are missing, truncated,
        garbled or unsafe is skipped, saying so, for the newest one before it that checks out.

        Raises:
            CheckpointError: no candidate checks out; the message names each bad file.
        """
        from accelerate.utils import broadcast_object_list

        acc = self.accelerator
        candidates, may_fall_back = ckpt.resume_candidates(resume, self.root)
        answer = [None, [], None]  # index of the chosen candidate, lines to print, error message
        if acc.is_main_process:
            answer = list(pick_loadable(candidates, may_fall_back, acc.num_processes,
                                        self.config.resume_without_rng_state, required_state(acc.distributed_type)))
        if acc.num_processes > 1:
            broadcast_object_list(answer, from_process=0)
        index, notes, error = answer
        for line in notes:
            acc.print(line)
        if error is not None:
            raise CheckpointError(error)
        return candidates[index], ckpt.read_state(candidates[index])

    def load_best(self) -> None:
        """Load the best checkpoint's weights into the model (all processes), once every save is sealed."""
        self.wait(all_processes=True)
        name = self.state.best_checkpoint
        self.weights.load_best(os.path.join(self.root, name) if name else None, self.config.metric_for_best_model,
                               self.state.best_metric)
