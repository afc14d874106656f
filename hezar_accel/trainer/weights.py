"""The model's weights as checkpoints and saved folders see them: full weights out, full weights in, Hezar folders.

Every method that touches weights is a collective under sharded backends (FSDP, ZeRO-3): call it on every process.
Files are written by the main process only (DESIGN promise 7).
"""

from __future__ import annotations

import inspect
import os
from typing import Callable

from ..constants import DATASET_CONFIG_FILE, TRAINER_CONFIG_FILE, TRAINER_SUBFOLDER
from ..errors import CheckpointError
from ..models.model import _find_weights, read_state_dict

# init_weights_from must match at least this share of the model's tensors unless init_weights_strict is false.
INIT_WEIGHTS_MIN_SHARE = 0.5
# torch.compile wraps the model in an OptimizedModule whose state dict prefixes every name with this.
COMPILED_PREFIX = "_orig_mod."
# Elements of each tensor a fingerprint reads (evenly spaced): enough to tell two initialisations apart, and cheap
# for a model of any size.
FINGERPRINT_SAMPLES = 4096


def weights_fingerprint(model) -> str:
    """A short hash of a model's weights (names, shapes and a strided sample of values of every tensor).

    Two runs that start from the same weights print the same fingerprint in their banner; a different one means a
    different start (another seed, a model built before the Trainer seeded the RNGs, other init_weights_from).
    """
    import hashlib

    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            flat = tensor.detach().reshape(-1)
            step = max(1, flat.numel() // FINGERPRINT_SAMPLES)
            sample = flat[::step][:FINGERPRINT_SAMPLES].to("cpu", torch.float64)
            digest.update(f"{name}{tuple(tensor.shape)}".encode())
            digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:12]


class ModelWeights:
    """Reads and writes the trained model's full weights, whatever wraps or shards it.

    Args:
        accelerator: the run's Accelerator.
        model: returns ``(prepared model, unwrapped model)``: the first is what accelerate gathers from, the second
            the Hezar model that names the weights and saves folders.
        config: the TrainerConfig saved as ``train/train_config.yaml``.
        dataset_config: the training dataset's config saved as ``train/dataset_config.yaml`` (None = none).
    """

    def __init__(self, accelerator, model: Callable[[], tuple], config, dataset_config=None):
        self.accelerator, self._model, self.config, self.dataset_config = accelerator, model, config, dataset_config

    def state_dict(self) -> dict:
        """The full (unsharded) weights under the model's own parameter names; a collective.

        A compiled model's names lose torch.compile's ``_orig_mod.`` prefix: its checkpoints equal an uncompiled
        model's, so ``Model.load`` (and Hezar) read them and an uncompiled run can resume from them.
        """
        state_dict = self.accelerator.get_state_dict(self._model()[0])
        if not state_dict:  # processes other than the main one get nothing under some sharded backends
            return state_dict
        return {k[len(COMPILED_PREFIX):] if k.startswith(COMPILED_PREFIX) else k: v for k, v in state_dict.items()}

    def load(self, state_dict: dict) -> None:
        """Full (unsharded) weights, e.g. a checkpoint's ``model.pt``, into the model; call it on every process.

        The one way weights enter a prepared model (best-model loading, weights-only resume, the accelerate load
        hook), because a sharded backend keeps the weights where a plain ``load_state_dict`` on the unwrapped module
        cannot reach them, or reaches them only to have them overwritten:

        - FSDP2: the parameters are DTensor shards ("got mixed torch.Tensor and DTensor"); torch's
          ``set_model_state_dict`` shards the full tensors (a collective).
        - DeepSpeed ZeRO-3: the module's parameters are empty placeholders (their data lives in per-process
          partitions), so they are gathered, overwritten and re-partitioned (``GatheredParameters(modifier_rank=0)``,
          a collective). All of them: also those ZeRO-3 keeps whole on every process (below
          ``stage3_param_persistence_threshold``, e.g. biases and norms). Their partition is what the optimizer reads
          and writes back after each update, so loading only their whole copy (as DeepSpeed's
          ``load_module_state_dict(fetch_z3_params=True)`` does, gathering only the absent ones) would leave the old
          values in it.
        - DeepSpeed, every stage: the optimizer steps an fp32 master copy of its partition, not the module's weights;
          the next step would copy that stale copy back over the loaded weights, so it is refreshed from them
          (``refresh_fp32_params``, as DeepSpeed's own ``load_checkpoint(load_module_only=True)`` does).

        Raises:
            RuntimeError: missing or unexpected keys, or shape mismatches (``load_state_dict``'s strict check).
        """
        from accelerate.utils import DistributedType

        engine, model = self._model()  # under DeepSpeed, prepare() returns the DeepSpeedEngine as the model
        if self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            if engine.zero_optimization_partition_weights():
                import deepspeed

                with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=0):
                    model.load_state_dict(state_dict)
            else:
                model.load_state_dict(state_dict)
            refresh = getattr(engine.optimizer, "refresh_fp32_params", None)
            if refresh is not None:  # ZeRO-1/2/3 and the bf16/fp16 wrappers keep master copies; torch optimizers do not
                refresh()
        elif self.accelerator.is_fsdp2:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            set_model_state_dict(model, state_dict, options=StateDictOptions(full_state_dict=True))
        else:
            model.load_state_dict(state_dict)

    def load_file(self, folder_or_file: str) -> None:
        """:meth:`load` the Hezar weights of a model folder (``model.pt``/``model.safetensors``) or a weights file."""
        path = folder_or_file if os.path.isfile(folder_or_file) else _find_weights(folder_or_file, None)
        self.load(read_state_dict(path))

    def write_folder(self, folder: str, state_dict: dict, model_filename: str | None = None,
                     model_config_filename: str | None = None, config_filename: str | None = None,
                     dataset_config_file: str | None = None, subfolder: str | None = None) -> None:
        """Main process: the Hezar model folder (weights, config, preprocessor) + ``train/`` train and dataset configs."""
        model = self._model()[1]
        if "state_dict" in inspect.signature(model.save).parameters:
            model.save(folder, filename=model_filename, config_filename=model_config_filename, state_dict=state_dict)
        else:  # a hezar.models.Model: its save() writes its own (unsharded) weights
            model.save(folder, filename=model_filename, config_filename=model_config_filename)
        train_folder = os.path.join(folder, subfolder or TRAINER_SUBFOLDER)
        self.config.save(train_folder, filename=config_filename or TRAINER_CONFIG_FILE)
        if self.dataset_config is not None and hasattr(self.dataset_config, "save"):
            self.dataset_config.save(train_folder, filename=dataset_config_file or DATASET_CONFIG_FILE)

    def save_folder(self, path, **filenames) -> None:
        """``Trainer.save``: gather the full weights (collective), then write the folder on the main process."""
        state_dict = self.state_dict()
        if self.accelerator.is_main_process:
            self.write_folder(os.fspath(path), state_dict, **filenames)
        self.accelerator.wait_for_everyone()

    def store_once_in_checkpoints(self) -> None:
        """Make ``accelerator.save_state`` leave the weights to the Hezar model folder beside ``accelerate/``.

        ``save_state`` would write the full (unsharded) weights a second time as ``accelerate/model.safetensors``: a
        third of a small model's checkpoint bytes and time. The save hook drops them (only the plain and DDP case fills
        ``weights``; FSDP and DeepSpeed write their shards themselves and keep doing so), and the load hook restores
        the model from the Hezar weights beside ``accelerate/``, which hold the very same tensors. Checkpoints that do
        carry ``accelerate/model.safetensors`` (older ones) are loaded by accelerate as before.
        """
        from accelerate.checkpointing import MODEL_NAME, SAFE_MODEL_NAME

        def drop_duplicate_weights(models, weights, output_dir) -> None:
            weights.clear()

        def load_from_model_folder(models, input_dir) -> None:
            if not models or any(os.path.exists(os.path.join(input_dir, name))
                                 for name in (f"{SAFE_MODEL_NAME}.safetensors", f"{MODEL_NAME}.bin")):
                return
            self.load_file(os.path.dirname(os.path.normpath(input_dir)))
            models.clear()  # loaded: accelerate must not look for its own copy

        self.accelerator.register_save_state_pre_hook(drop_duplicate_weights)
        self.accelerator.register_load_state_pre_hook(load_from_model_folder)

    def load_best(self, folder: str | None, metric: str, value) -> None:
        """Load the best checkpoint's weights (all processes); say so, or that no checkpoint holds the best one.

        Raises:
            CheckpointError: the best checkpoint is missing or incomplete.
        """
        from .checkpoint import is_complete

        if folder is None:
            self.accelerator.print("load_best_model_at_end: no checkpoint holds the best evaluation; keeping the last weights")
            return
        if not is_complete(folder):
            raise CheckpointError(f"The best checkpoint `{folder}` is missing or incomplete.")
        self.load(read_state_dict(os.path.join(folder, self._model()[1].model_filename)))
        self.accelerator.print(f"Loaded the best weights ({metric}={value}) from {folder}")


def init_weights(model, source: str | None, strict: bool, print_fn=print):
    """``init_weights_from``: copy every tensor of ``source`` whose name and shape match into ``model``.

    Args:
        model: the model to initialise (before any wrapping).
        source: a model folder, weights file or Hub repo id; None = off.
        strict: ``init_weights_strict``: refuse a match below :data:`INIT_WEIGHTS_MIN_SHARE` of the model's tensors.
        print_fn: prints the matched/missing counts (the main process's print).

    Returns:
        The model's ``LoadReport``, or None when ``source`` is None.

    Raises:
        ConfigError: nothing matched, or (strict) too little to be this architecture's weights.
    """
    from ..errors import ConfigError

    if not source:
        return None
    report = model.load_matching_weights(source)
    own = len(report.loaded) + len(report.missing) + len(report.mismatched)
    matched = f"matched {len(report.loaded)} of the model's {own} tensors ({len(report.loaded) / max(own, 1):.0%})"
    if not report.loaded or (strict and len(report.loaded) < INIT_WEIGHTS_MIN_SHARE * own):
        raise ConfigError("TrainerConfig", [
            f"init_weights_from: `{source}` {matched} of {type(model).__name__} by name and shape, so training "
            f"would start mostly from scratch ({report.summary()}). Point it at weights of this architecture "
            "(e.g. a folder saved from the same model family), or set init_weights_strict: false to accept a "
            "partial match"])
    print_fn(f"init_weights_from {source}: {matched}; {report.summary()}")
    return report
