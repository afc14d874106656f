"""Checkpoint save and restore for the Trainer (the layout itself lives in ``checkpoint.py``).

Every function here is called on all processes: saving the accelerate state and gathering full weights are
collectives. Files are written by the main process only (DESIGN promise 7).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from functools import partial

from ..constants import DATASET_CONFIG_FILE, TRAINER_CONFIG_FILE, TRAINER_STATE_FILE, TRAINER_SUBFOLDER
from ..configs import dump_yaml
from ..errors import CheckpointError
from ..models.model import read_state_dict
from . import checkpoint as ckpt
from .checkpoint_files import LEGACY_CUSTOM_STATE, inspect_checkpoint, required_state
from .data_order import compare, next_indices_hash
from .optim import Schedule, set_schedule_length
from .save_errors import raise_if_any_failed, save_failed
from .state import TrainerState


def write_model_folder(trainer, folder: str, state_dict: dict, model_filename: str | None = None,
                       model_config_filename: str | None = None, config_filename: str | None = None,
                       dataset_config_file: str | None = None, subfolder: str | None = None) -> None:
    """Main process: Hezar model folder (weights, config, preprocessor) + ``train/`` train and dataset configs."""
    model = trainer.unwrapped_model
    if "state_dict" in inspect.signature(model.save).parameters:
        model.save(folder, filename=model_filename, config_filename=model_config_filename, state_dict=state_dict)
    else:  # a hezar.models.Model: its save() writes its own (unsharded) weights
        model.save(folder, filename=model_filename, config_filename=model_config_filename)
    train_folder = os.path.join(folder, subfolder or TRAINER_SUBFOLDER)
    trainer.config.save(train_folder, filename=config_filename or TRAINER_CONFIG_FILE)
    dataset_config = getattr(trainer.train_dataset, "config", None)
    if dataset_config is not None and hasattr(dataset_config, "save"):
        dataset_config.save(train_folder, filename=dataset_config_file or DATASET_CONFIG_FILE)


# torch.compile wraps the model in an OptimizedModule whose state dict prefixes every name with this.
COMPILED_PREFIX = "_orig_mod."


def full_state_dict(trainer) -> dict:
    """The model's full (unsharded) weights under its own parameter names; a collective under FSDP and ZeRO-3.

    A compiled model's names lose torch.compile's ``_orig_mod.`` prefix: its checkpoints equal an uncompiled
    model's, so ``Model.load`` (and Hezar) read them and an uncompiled run can resume from them.
    """
    state_dict = trainer.accelerator.get_state_dict(trainer.model)
    if not state_dict:  # processes other than the main one get nothing under some sharded backends
        return state_dict
    return {k.replace(COMPILED_PREFIX, "", 1) if k.startswith(COMPILED_PREFIX) else k: v for k, v in state_dict.items()}


def save_model_folder(trainer, path, **kwargs) -> None:
    """``Trainer.save``: gather full weights (collective), then write the folder on the main process."""
    state_dict = full_state_dict(trainer)
    if trainer.accelerator.is_main_process:
        write_model_folder(trainer, os.fspath(path), state_dict, **kwargs)
    trainer.accelerator.wait_for_everyone()


def register_weight_hooks(trainer) -> None:
    """Store the model weights once per checkpoint: in the Hezar model folder, not again in ``accelerate/``.

    ``save_state`` would write the full (unsharded) weights a second time as ``accelerate/model.safetensors``: a
    third of a small model's checkpoint bytes and time. The save hook drops them (only the plain and DDP case fills
    ``weights``; FSDP and DeepSpeed write their shards themselves and keep doing so), and the load hook restores
    the model from the Hezar weights beside ``accelerate/``, which hold the very same tensors. Checkpoints that do
    carry ``accelerate/model.safetensors`` (older ones) are loaded by accelerate as before.
    """
    from accelerate.checkpointing import MODEL_NAME, SAFE_MODEL_NAME

    from ..models.model import _find_weights

    def drop_duplicate_weights(models, weights, output_dir) -> None:
        weights.clear()

    def load_from_model_folder(models, input_dir) -> None:
        if not models or any(os.path.exists(os.path.join(input_dir, name))
                             for name in (f"{SAFE_MODEL_NAME}.safetensors", f"{MODEL_NAME}.bin")):
            return
        checkpoint = os.path.dirname(os.path.normpath(input_dir))
        load_full_weights(trainer, read_state_dict(_find_weights(checkpoint, None)))
        models.clear()  # loaded: accelerate must not look for its own copy

    trainer.accelerator.register_save_state_pre_hook(drop_duplicate_weights)
    trainer.accelerator.register_load_state_pre_hook(load_from_model_folder)


def data_order_record(trainer, epoch: int, epoch_step: int) -> dict:
    """The settings shaping the data order plus every process's next-indices hash at (epoch, epoch_step)."""
    from accelerate.utils import gather_object

    trainer.train_sampler.set_epoch(epoch)
    skip = epoch_step * trainer.config.gradient_accumulation_steps
    own = next_indices_hash(trainer.train_dataloader.batch_sampler, skip)
    dataset = trainer.train_dataset
    return {
        "dataset_size": len(dataset),
        "dataset_fingerprint": str(getattr(dataset, "fingerprint", "")),
        "batch_size": trainer.config.batch_size,
        "num_processes": trainer.accelerator.num_processes,
        "seed": trainer.config.seed,
        "gradient_accumulation_steps": trainer.config.gradient_accumulation_steps,
        "shuffle": f"{type(trainer.train_sampler).__name__}:{getattr(trainer.train_sampler, 'shuffle', None)}",
        "next_indices": gather_object([own]),
    }


def save_checkpoint(trainer, hooks: dict | None = None) -> str | None:
    """Stage ``checkpoints/<step>/`` (all bytes written before returning) and finalize it in the background.

    The fsync, ``COMPLETE`` marker, rename, latest-pointer update, pruning and Hub hand-off run on the trainer's
    :class:`~.checkpoint.CheckpointFinalizer`; :func:`wait_for_checkpoint` waits for them.

    Returns:
        The checkpoint's final folder on the main process (complete once finalized), None elsewhere.

    Raises:
        CheckpointError: writing failed (the previous checkpoint stays intact), or the previous finalization did.
    """
    from .guards import raise_if_non_finite

    raise_if_non_finite(trainer)  # never write a checkpoint whose weights went through a NaN update
    acc, config, state = trainer.accelerator, trainer.config, trainer.state
    root, step = config.checkpoints_path, state.global_step
    hooks = hooks or getattr(trainer, "_save_hooks", None) or {}
    state.loss_sums, state.loss_counts = trainer._loss.gather_all(acc)
    state.data_check = data_order_record(trainer, state.epoch, state.epoch_step)
    if state.best_step == step:
        state.best_checkpoint = ckpt.checkpoint_name(step)
    staging = ckpt.staging_folder(root, step)
    error = None
    if acc.is_main_process:
        try:
            trainer._finalizer.wait()  # the previous save must be complete before its leftovers are cleaned
            ckpt.clean_stale(root)
            os.makedirs(staging, exist_ok=True)
        except Exception as e:  # a CheckpointError here is the previous save's background failure, raised as it is
            error = e
    raise_if_any_failed(acc, error, root, step)  # also the barrier: the staging folder exists for everyone
    try:
        acc.save_state(ckpt.accelerate_folder(staging))
    except Exception as e:  # a full disk inside torch.save/safetensors: the same clear error on every process
        error = e
    state_dict = full_state_dict(trainer)  # a collective under sharded backends: every process calls it
    if acc.is_main_process and error is None:
        try:
            write_model_folder(trainer, staging, state_dict)
            dump_yaml(state.to_dict(), os.path.join(staging, TRAINER_SUBFOLDER, TRAINER_STATE_FILE))  # sealed with the rest
            hooks.get("after_write", ckpt.no_hook)(step)
        except Exception as e:
            error = e
    # Also the barrier after which every process's files are written, so the main process may seal the folder.
    raise_if_any_failed(acc, error, root, step)
    if not acc.is_main_process:
        return None
    trainer._finalizer.submit(partial(_finalize, trainer, root, step, hooks, state.best_checkpoint))
    return os.path.join(root, ckpt.checkpoint_name(step))


def _finalize(trainer, root: str, step: int, hooks: dict, best_checkpoint: str | None) -> None:
    """Background part of a save: seal and rename the staged folder, then point at it, prune, push."""
    try:
        final = ckpt.finalize_checkpoint(root, step, hooks)
    except Exception as e:
        raise save_failed(root, step, e) from e
    try:
        ckpt.update_latest_pointer(root, final)
        ckpt.prune(root, trainer.config.save_total_limit, protect=(best_checkpoint,))
    except Exception as e:  # the checkpoint itself is complete and resumable; only the bookkeeping after it failed
        raise CheckpointError(
            f"The checkpoint of step {step} is complete at `{final}`, but updating `{root}/{TRAINER_STATE_FILE}` or "
            f"pruning older checkpoints failed ({type(e).__name__}: {e}). Free disk space (or fix permissions), then "
            "resume with resume_from_checkpoint: true.") from e
    if trainer.config.push_to_hub:  # background upload of the complete checkpoint; never blocks, never raises
        from .hub_sync import push_checkpoint

        push_checkpoint(trainer, final, step)


def wait_for_checkpoint(trainer, all_processes: bool = False) -> None:
    """Wait until the last checkpoint is complete on disk (main process), optionally followed by a barrier.

    Args:
        all_processes: also make every process wait for it (a collective: call it on all processes or none).

    Raises:
        CheckpointError: the background part of the last save failed.
    """
    if trainer.accelerator.is_main_process:
        trainer._finalizer.wait()
    if all_processes:
        trainer.accelerator.wait_for_everyone()


def start_fresh(trainer) -> None:
    """Before a run that does not resume: refuse (or, with overwrite_output_dir, clear) an earlier run's checkpoints.

    Raises:
        CheckpointError: checkpoints exist and overwrite_output_dir is False.
    """
    import shutil

    acc, config = trainer.accelerator, trainer.config
    existing = ckpt.list_checkpoints(config.checkpoints_path)
    if existing and not config.overwrite_output_dir:
        raise CheckpointError(
            f"`{config.checkpoints_path}` already holds {len(existing)} checkpoint(s) of an earlier run (latest "
            f"{os.path.basename(existing[-1])}). Resume it with resume_from_checkpoint: true, choose another "
            "output_dir, or set overwrite_output_dir: true to delete them.")
    if existing and acc.is_main_process:
        shutil.rmtree(config.checkpoints_path)
    acc.wait_for_everyone()


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


def restore(trainer, resume) -> ResumeReport:
    """Resume from a checkpoint: pick one whose files check out, verify the data order, load every state.

    ``resume`` may also be a Hub repo id of a pushed checkpoint (see ``resume_candidates``); such a folder has
    optimizer/scheduler/RNG state only when it holds ``accelerate/``, otherwise :func:`load_weights_only` is used.

    Raises:
        CheckpointError: no usable checkpoint (each unusable file named), the data order would differ (unless
            ``ignore_data_order_mismatch``), or the checkpoint is past this run's last step.
    """
    acc, config = trainer.accelerator, trainer.config
    path, saved = choose_checkpoint(trainer, resume)
    check_resumable(trainer, path, saved)
    if os.path.isdir(ckpt.accelerate_folder(path)):
        load_accelerate_state(acc, ckpt.accelerate_folder(path))
    else:
        load_weights_only(trainer, path, saved.global_step)
    state = trainer.state
    for key, value in saved.to_dict().items():
        setattr(state, key, value)
    state.total_steps = trainer.plan.total_steps
    rank = acc.process_index
    if rank < len(state.loss_sums):
        trainer._loss.load(state.loss_sums[rank], state.loss_counts[rank])
    if acc.is_main_process:
        ckpt.clean_stale(config.checkpoints_path)
    acc.print(f"Resumed from {path} at epoch {state.epoch}, step {state.global_step}")
    return ResumeReport(path, saved.global_step, refit_schedule(trainer, saved))


def choose_checkpoint(trainer, resume) -> tuple[str, TrainerState]:
    """The checkpoint to resume from, its files checked on the main process; every process gets the same answer.

    With ``resume_from_checkpoint: true`` (or a checkpoints root) a checkpoint whose files are missing, truncated,
    garbled or unsafe is skipped, saying so, for the newest one before it that checks out.

    Raises:
        CheckpointError: no candidate checks out; the message names each bad file.
    """
    from accelerate.utils import broadcast_object_list

    acc, config = trainer.accelerator, trainer.config
    candidates, may_fall_back = ckpt.resume_candidates(resume, config.checkpoints_path)
    answer = [None, [], None]  # index of the chosen candidate, lines to print, error message
    if acc.is_main_process:
        answer = list(pick_loadable(candidates, may_fall_back, acc.num_processes, config.resume_without_rng_state,
                                    required_state(acc.distributed_type)))
    if acc.num_processes > 1:
        broadcast_object_list(answer, from_process=0)
    index, notes, error = answer
    for line in notes:
        acc.print(line)
    if error is not None:
        raise CheckpointError(error)
    return candidates[index], ckpt.read_state(candidates[index])


def pick_loadable(candidates: list[str], may_fall_back: bool, num_processes: int, allow_missing_rng: bool,
                  required: tuple[str, ...] = ()) -> tuple[int | None, list[str], str | None]:
    """The first candidate whose every file is present, readable and code-free (see ``checkpoint_files``).

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
    from ..models.model import _find_weights

    try:
        return _find_weights(folder, None)
    except CheckpointError:
        return None


def check_resumable(trainer, path: str, saved: TrainerState) -> None:
    """Refuse a resume whose data order would differ, or whose checkpoint lies past this run's last step.

    Raises:
        CheckpointError: names the setting that changed and the fix.
    """
    config, total = trainer.config, trainer.plan.total_steps
    if saved.data_check:  # checked at every step, the run's last included: a changed setting also changes its length
        current = data_order_record(trainer, saved.epoch, saved.epoch_step)
        problems = compare(saved.data_check, current)
        if problems and not config.ignore_data_order_mismatch:
            raise CheckpointError(
                f"Cannot resume exactly from `{path}`: " + "; ".join(problems) + ". Restore the original settings, or "
                "set ignore_data_order_mismatch: true to continue with a different data order.")
    if saved.global_step > total:
        raise CheckpointError(
            f"Cannot resume from `{path}`: it is at step {saved.global_step}, past this run's {total} total steps "
            "(num_epochs or max_steps is lower than when it was saved). Raise num_epochs/max_steps to at least "
            f"the checkpoint's, or start a fresh run.")


def refit_schedule(trainer, saved: TrainerState) -> str | None:
    """When the run's length changed since the checkpoint (e.g. num_epochs raised to extend a finished run), fit
    the restored LR schedule to the new length; the restored one would stay at its end (0 for linear decay).

    Returns:
        A line for the banner saying what changed, or None when the length is unchanged.
    """
    total = trainer.plan.total_steps
    if not saved.total_steps or saved.total_steps == total:
        return None
    inner = getattr(trainer.lr_scheduler, "scheduler", trainer.lr_scheduler)
    if not any(isinstance(f, Schedule) for f in getattr(inner, "lr_lambdas", [])):
        return (f"the run now has {total} steps (the checkpoint's had {saved.total_steps}); the custom LR "
                "scheduler keeps its restored state")
    set_schedule_length(trainer.lr_scheduler, total, trainer.plan.warmup_steps)
    lr = trainer.optimizer.param_groups[0]["lr"]
    return (f"refitted to {total} steps (the checkpoint's run planned {saved.total_steps}): the learning rate goes "
            f"on at {lr:.3g} from step {saved.global_step}")


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


def load_weights_only(trainer, path: str, global_step: int) -> None:
    """Resume from a checkpoint without ``accelerate/`` (one pushed to the Hub): weights only, on every process.

    The LR scheduler is advanced to ``global_step``; optimizer moments and RNG states start fresh, so the continued
    run is close to, but not bitwise equal to, an uninterrupted one.
    """
    import warnings

    from ..models.model import _find_weights

    load_full_weights(trainer, read_state_dict(_find_weights(path, None)))
    if trainer.lr_scheduler is not None:
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
            warnings.simplefilter("ignore")
            for _ in range(global_step):
                getattr(trainer.lr_scheduler, "scheduler", trainer.lr_scheduler).step()
    trainer.accelerator.print(f"`{path}` has no accelerate/ folder (e.g. a checkpoint pushed to the Hub): restored the "
                              "weights, trainer state and LR schedule; the optimizer state and RNG start fresh.")


def load_full_weights(trainer, state_dict: dict) -> None:
    """Full (unsharded) weights, e.g. a checkpoint's ``model.pt``, into the model; call it on every process.

    Under FSDP2 the model's parameters are DTensor shards, which ``load_state_dict`` cannot copy plain tensors into
    ("got mixed torch.Tensor and DTensor"): torch's ``set_model_state_dict`` shards the full tensors (a collective).
    """
    if trainer.accelerator.is_fsdp2:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(trainer.unwrapped_model, state_dict, options=StateDictOptions(full_state_dict=True))
    else:
        trainer.unwrapped_model.load_state_dict(state_dict)


def load_best_weights(trainer) -> None:
    """Load the best checkpoint's weights into the model (all processes)."""
    wait_for_checkpoint(trainer, all_processes=True)
    name = trainer.state.best_checkpoint
    if not name:
        trainer.accelerator.print("load_best_model_at_end: no checkpoint holds the best evaluation; keeping the last weights")
        return
    folder = os.path.join(trainer.config.checkpoints_path, name)
    if not ckpt.is_complete(folder):
        raise CheckpointError(f"The best checkpoint `{folder}` is missing or incomplete.")
    load_full_weights(trainer, read_state_dict(os.path.join(folder, trainer.unwrapped_model.model_filename)))
    trainer.accelerator.print(f"Loaded the best weights ({trainer.config.metric_for_best_model}="
                              f"{trainer.state.best_metric}) from {folder}")
