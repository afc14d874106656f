"""Checkpoint save and restore for the Trainer (the layout itself lives in ``checkpoint.py``).

Every function here is called on all processes: saving the accelerate state and gathering full weights are
collectives. Files are written by the main process only (DESIGN promise 7).
"""

from __future__ import annotations

import inspect
import os
from functools import partial

from ..constants import DATASET_CONFIG_FILE, TRAINER_CONFIG_FILE, TRAINER_STATE_FILE, TRAINER_SUBFOLDER
from ..configs import dump_yaml
from ..errors import CheckpointError
from ..models.model import read_state_dict
from . import checkpoint as ckpt
from .data_order import compare, next_indices_hash


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


def save_model_folder(trainer, path, **kwargs) -> None:
    """``Trainer.save``: gather full weights (collective), then write the folder on the main process."""
    state_dict = trainer.accelerator.get_state_dict(trainer.model)
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
    if acc.is_main_process:
        trainer._finalizer.wait()  # the previous save must be complete before its leftovers are cleaned
        ckpt.clean_stale(root)
        os.makedirs(staging, exist_ok=True)
    acc.wait_for_everyone()
    acc.save_state(ckpt.accelerate_folder(staging))
    state_dict = acc.get_state_dict(trainer.model)
    acc.wait_for_everyone()  # every process's accelerate files are written before the main process seals the folder
    if not acc.is_main_process:
        return None
    try:
        write_model_folder(trainer, staging, state_dict)
        dump_yaml(state.to_dict(), os.path.join(staging, TRAINER_SUBFOLDER, TRAINER_STATE_FILE))  # sealed with the rest
        hooks.get("after_write", ckpt.no_hook)(step)
    except OSError as e:
        raise _save_failed(root, step, e) from e
    trainer._finalizer.submit(partial(_finalize, trainer, root, step, hooks, state.best_checkpoint))
    return os.path.join(root, ckpt.checkpoint_name(step))


def _finalize(trainer, root: str, step: int, hooks: dict, best_checkpoint: str | None) -> None:
    """Background part of a save: seal and rename the staged folder, then point at it, prune, push."""
    try:
        final = ckpt.finalize_checkpoint(root, step, hooks)
        ckpt.update_latest_pointer(root, final)
    except OSError as e:
        raise _save_failed(root, step, e) from e
    ckpt.prune(root, trainer.config.save_total_limit, protect=(best_checkpoint,))
    if trainer.config.push_to_hub:  # background upload of the complete checkpoint; never blocks, never raises
        from .hub_sync import push_checkpoint

        push_checkpoint(trainer, final, step)


def _save_failed(root: str, step: int, error: OSError) -> CheckpointError:
    ckpt.clean_stale(root)
    previous = ckpt.find_latest(root)
    return CheckpointError(
        f"Saving the checkpoint of step {step} failed ({error.strerror or error}); the previous checkpoint "
        f"{previous or '(none)'} is intact and resumable. Free disk space (or fix permissions of `{root}`) and "
        "resume with resume_from_checkpoint: true.")


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


def restore(trainer, resume) -> str:
    """Resume from a checkpoint: verify the data order, then load the accelerate state and the trainer state.

    ``resume`` may also be a Hub repo id of a pushed checkpoint (see ``resolve_resume_path``); such a folder has
    optimizer/scheduler/RNG state only when it holds ``accelerate/``, otherwise :func:`load_weights_only` is used.

    Raises:
        CheckpointError: no usable checkpoint, or the data order would differ (unless ``ignore_data_order_mismatch``).
    """
    acc, config = trainer.accelerator, trainer.config
    path = ckpt.resolve_resume_path(resume, config.checkpoints_path)
    saved = ckpt.read_state(path)
    if saved.global_step < trainer.plan.total_steps and saved.data_check:
        current = data_order_record(trainer, saved.epoch, saved.epoch_step)
        problems = compare(saved.data_check, current)
        if problems and not config.ignore_data_order_mismatch:
            raise CheckpointError(
                f"Cannot resume exactly from `{path}`: " + "; ".join(problems) + ". Restore the original settings, or "
                "set ignore_data_order_mismatch: true to continue with a different data order.")
    if os.path.isdir(ckpt.accelerate_folder(path)):
        acc.load_state(ckpt.accelerate_folder(path))
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
    return path


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

    The one way weights enter a prepared model (best-model loading, weights-only resume, the accelerate load hook),
    because a sharded backend keeps the weights where a plain ``load_state_dict`` on the unwrapped module cannot
    reach them, or reaches them only to have them overwritten:

    - FSDP2: the parameters are DTensor shards ("got mixed torch.Tensor and DTensor"); torch's
      ``set_model_state_dict`` shards the full tensors (a collective).
    - DeepSpeed ZeRO-3: the module's parameters are empty placeholders (their data lives in per-process partitions),
      so they are gathered, overwritten and re-partitioned (``GatheredParameters(modifier_rank=0)``, a collective).
      All of them: also those ZeRO-3 keeps whole on every process (below ``stage3_param_persistence_threshold``, e.g.
      biases and norms). Their partition is what the optimizer reads and writes back after each update, so loading
      only their whole copy (as DeepSpeed's ``load_module_state_dict(fetch_z3_params=True)`` does, gathering only the
      absent ones) would leave the old values in it.
    - DeepSpeed, every stage: the optimizer steps an fp32 master copy of its partition, not the module's weights; the
      next step would copy that stale copy back over the loaded weights, so it is refreshed from them
      (``refresh_fp32_params``, as DeepSpeed's own ``load_checkpoint(load_module_only=True)`` does).

    Args:
        trainer: the Trainer whose (prepared) model receives the weights.
        state_dict: full tensors under the unwrapped model's parameter names.

    Raises:
        RuntimeError: missing or unexpected keys, or shape mismatches (``load_state_dict``'s strict check).
    """
    from accelerate.utils import DistributedType

    accelerator = trainer.accelerator
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        engine, module = trainer.model, trainer.unwrapped_model  # prepare() returns the DeepSpeedEngine as the model
        if engine.zero_optimization_partition_weights():
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=0):
                module.load_state_dict(state_dict)
        else:
            module.load_state_dict(state_dict)
        refresh = getattr(engine.optimizer, "refresh_fp32_params", None)
        if refresh is not None:  # ZeRO-1/2/3 and the bf16/fp16 wrappers hold master copies; a torch optimizer does not
            refresh()
    elif accelerator.is_fsdp2:
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
