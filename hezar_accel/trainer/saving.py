"""Checkpoint save and restore for the Trainer (the layout itself lives in ``checkpoint.py``).

Every function here is called on all processes: saving the accelerate state and gathering full weights are
collectives. Files are written by the main process only (DESIGN promise 7).
"""

from __future__ import annotations

import inspect
import os

from ..constants import DATASET_CONFIG_FILE, TRAINER_CONFIG_FILE, TRAINER_STATE_FILE, TRAINER_SUBFOLDER
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
    """Write ``checkpoints/<step>/`` atomically, update the latest pointer and prune. Returns the folder on main."""
    from .guards import raise_if_non_finite

    raise_if_non_finite(trainer)  # never write a checkpoint whose weights went through a NaN update
    acc, config, state = trainer.accelerator, trainer.config, trainer.state
    root, step = config.checkpoints_path, state.global_step
    state.loss_sums, state.loss_counts = trainer._loss.gather_all(acc)
    state.data_check = data_order_record(trainer, state.epoch, state.epoch_step)
    if state.best_step == step:
        state.best_checkpoint = ckpt.checkpoint_name(step)
    staging = ckpt.staging_folder(root, step)
    if acc.is_main_process:
        ckpt.clean_stale(root)
        os.makedirs(staging, exist_ok=True)
    acc.wait_for_everyone()
    acc.save_state(ckpt.accelerate_folder(staging))
    state_dict = acc.get_state_dict(trainer.model)
    final = None
    if acc.is_main_process:
        def write(folder: str) -> None:
            write_model_folder(trainer, folder, state_dict)
            state.save(os.path.join(folder, TRAINER_SUBFOLDER, TRAINER_STATE_FILE))

        try:
            final = ckpt.write_checkpoint(root, step, write, hooks=hooks or getattr(trainer, "_save_hooks", None))
            state.save(os.path.join(root, TRAINER_STATE_FILE))
        except OSError as e:
            ckpt.clean_stale(root)
            previous = ckpt.find_latest(root)
            raise CheckpointError(
                f"Saving the checkpoint of step {step} failed ({e.strerror or e}); the previous checkpoint "
                f"{previous or '(none)'} is intact and resumable. Free disk space (or fix permissions of "
                f"`{root}`) and resume with resume_from_checkpoint: true."
            ) from e
        ckpt.prune(root, config.save_total_limit, protect=(state.best_checkpoint,))
        if config.push_to_hub:  # background upload of the complete checkpoint; never blocks, never raises
            from .hub_sync import push_checkpoint

            push_checkpoint(trainer, final, step)
    acc.wait_for_everyone()
    return final


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

    trainer.unwrapped_model.load_state_dict(read_state_dict(_find_weights(path, None)))
    if trainer.lr_scheduler is not None:
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
            warnings.simplefilter("ignore")
            for _ in range(global_step):
                getattr(trainer.lr_scheduler, "scheduler", trainer.lr_scheduler).step()
    trainer.accelerator.print(f"`{path}` has no accelerate/ folder (e.g. a checkpoint pushed to the Hub): restored the "
                              "weights, trainer state and LR schedule; the optimizer state and RNG start fresh.")


def load_best_weights(trainer) -> None:
    """Load the best checkpoint's weights into the model (all processes)."""
    name = trainer.state.best_checkpoint
    if not name:
        trainer.accelerator.print("load_best_model_at_end: no checkpoint holds the best evaluation; keeping the last weights")
        return
    folder = os.path.join(trainer.config.checkpoints_path, name)
    if not ckpt.is_complete(folder):
        raise CheckpointError(f"The best checkpoint `{folder}` is missing or incomplete.")
    weights = read_state_dict(os.path.join(folder, trainer.unwrapped_model.model_filename))
    trainer.unwrapped_model.load_state_dict(weights)
    trainer.accelerator.print(f"Loaded the best weights ({trainer.config.metric_for_best_model}="
                              f"{trainer.state.best_metric}) from {folder}")
