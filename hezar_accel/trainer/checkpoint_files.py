"""Whether a checkpoint's files can be trusted before a resume reads them: present, readable, and free of code.

A resume reads three kinds of files: YAML (``train/trainer_state.yaml``, safe loader), the Hezar weights
(``model.pt``/``model.safetensors``) and accelerate's state under ``accelerate/`` (optimizer, scheduler, sampler,
scaler and RNG states; DeepSpeed and FSDP shards). Three of the libraries' readers are not enough on their own:

- accelerate unpickles registered custom states with full pickle, DeepSpeed's ``load_checkpoint`` calls
  ``torch.load(weights_only=False)`` and torch's distributed-checkpoint reader ``pickle.load``s its ``.metadata``:
  a crafted file there runs code. Every pickle-bearing file is therefore opened here first by a loader that cannot
  run code (``torch.load(weights_only=True)`` with an explicit allowlist, or a restricted unpickler), and a file it
  refuses is never handed to them.
- accelerate swallows an unreadable ``random_states_<rank>.pkl`` and goes on with fresh random streams: a resume
  that looks exact and is not. Each process's RNG file must be present and hold the three states accelerate sets.
- A truncated or emptied file fails deep inside a library with a raw ``EOFError``/``RuntimeError``, after the model
  may already be half restored. Checking every file first names the file and lets ``resume_from_checkpoint: true``
  fall back to an older checkpoint that loads.

Checking is cheap: tensors are memory-mapped, not read (``mmap=True``); only the pickled structure is parsed.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass, field

import torch

from ..constants import ACCELERATE_SUBFOLDER
from ..errors import CheckpointError
from .checkpoint import read_state
from .state import TrainerState

RNG_STATE_PREFIX = "random_states_"
# The states accelerate's load_state sets from a process's RNG file (it silently skips the file if any is missing).
RNG_STATE_KEYS = ("random_state", "numpy_random_seed", "torch_manual_seed")
# Legacy checkpoints (hezar_accel before trainer states left pickle) stored the TrainerState here as well.
LEGACY_CUSTOM_STATE = "custom_checkpoint_0.pkl"
PICKLE_PROTOCOL_2_PLUS = b"\x80"

# What a plain (non-torch) pickle in a checkpoint may name: the classes of torch's distributed-checkpoint
# metadata (FSDP sharded state, data only), a few containers, and torch's dtype/layout/memory-format constants.
# Anything else (a function, a class with side effects) is refused.
_PLAIN_PICKLE_MODULES = ("torch.distributed.checkpoint.",)
_PLAIN_PICKLE_GLOBALS = {("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"),
                         ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"),  # the metadata's own storage path
                         ("torch.serialization", "_get_layout")}  # looks a layout up by name among torch's own
# torch's distributed-checkpoint shards: torch.save'd records at offsets that only its reader opens, with
# torch.load(weights_only=True); their metadata (``.metadata``) is the pickle checked here.
DCP_SHARD_SUFFIX = ".distcp"


@dataclass
class CheckpointReport:
    """What checking one checkpoint folder found.

    Attributes:
        folder: the checkpoint folder.
        state: its trainer state (None when it could not be read).
        problems: one line per file that cannot be loaded safely (empty = loadable).
        rng_problems: the subset of ``problems`` that only affect exactness (missing/unreadable RNG files).
    """

    folder: str
    state: TrainerState | None = None
    problems: list[str] = field(default_factory=list)
    rng_problems: list[str] = field(default_factory=list)

    def usable(self, allow_missing_rng: bool) -> bool:
        """Loadable as it is, or with only RNG problems when the run accepts an inexact resume."""
        blocking = [p for p in self.problems if p not in self.rng_problems] if allow_missing_rng else self.problems
        return self.state is not None and not blocking


def safe_globals() -> list:
    """Classes and functions torch's weights-only unpickler may rebuild for accelerate/DeepSpeed state files.

    accelerate's own list (numpy arrays and dtypes of the RNG states) plus the data-only types DeepSpeed stores in
    its checkpoints when it is installed.
    """
    from accelerate.utils.other import TORCH_SAFE_GLOBALS

    return list(TORCH_SAFE_GLOBALS) + _deepspeed_globals()


def _deepspeed_globals() -> list:
    """The data types DeepSpeed pickles into its checkpoint files (``accelerate/pytorch_model/*_states.pt``).

    DeepSpeed reads them back with ``torch.load(weights_only=False)``; checked here first, they load with
    ``weights_only=True`` given exactly these three (a loss-scaler record, a ZeRO-stage enum, a fragment address:
    rebuilding them runs no code). Found in ZeRO-2 and ZeRO-3 checkpoints, fp32 and bf16, deepspeed 0.19.
    """
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        return []
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [LossScaler, ZeroStageEnum, fragment_address]


def check_torch_file(path: str) -> None:
    """Open a ``torch.save`` file with the weights-only unpickler (tensors memory-mapped, not read).

    Raises:
        CheckpointError: the file would run code (or rebuild a type outside :func:`safe_globals`), or is not readable.
    """
    try:
        with torch.serialization.safe_globals(safe_globals()):
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(_refusal(path, str(e).splitlines()[0])) from None
    except Exception as e:  # truncated zip, empty file, bad record: whatever torch raises, it is unreadable
        raise CheckpointError(_unreadable(path, e)) from None


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds only the allowlisted data classes; any other global (a function, a class with side effects) is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) in _PLAIN_PICKLE_GLOBALS:
            return super().find_class(module, name)
        if module == "torch":
            found = getattr(torch, name, None)
            if found is torch.Size or isinstance(found, (torch.dtype, torch.layout, torch.memory_format)):
                return found
        elif module.startswith(_PLAIN_PICKLE_MODULES):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"global `{module}.{name}` is not allowed")


def check_plain_pickle(path: str) -> None:
    """Load a plain pickle (torch's distributed-checkpoint ``.metadata``) with the restricted unpickler.

    Raises:
        CheckpointError: the pickle names a global outside the allowlist, or is not readable.
    """
    try:
        with open(path, "rb") as f:
            _RestrictedUnpickler(f).load()
    except pickle.UnpicklingError as e:
        raise CheckpointError(_refusal(path, str(e))) from None
    except Exception as e:
        raise CheckpointError(_unreadable(path, e)) from None


def check_safetensors(path: str) -> None:
    """Read a safetensors header (the format holds no code; a truncated file fails here).

    Raises:
        CheckpointError: the file is not a readable safetensors file.
    """
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            f.keys()
    except Exception as e:
        raise CheckpointError(_unreadable(path, e)) from None


def check_file(path: str) -> None:
    """Check one checkpoint file by its format (sniffed from the bytes, not trusted from the name).

    Raises:
        CheckpointError: unreadable, or it would run code.
    """
    if path.endswith(".safetensors"):
        return check_safetensors(path)
    if path.endswith(DCP_SHARD_SUFFIX):
        return None
    if zipfile.is_zipfile(path):
        return check_torch_file(path)
    with open(path, "rb") as f:
        head = f.read(1)
    if head == PICKLE_PROTOCOL_2_PLUS or path.endswith((".pkl", ".pt", ".bin", ".pth")):
        # A .pkl/.bin/.pt that is not a torch zip is either a bare pickle or damaged: both go through the
        # restricted unpickler, which refuses code and reports damage.
        return check_plain_pickle(path)
    return None  # text, JSON, raw tensor shards (.distcp): data that no reader unpickles


def check_rng_file(path: str) -> None:
    """A process's RNG file must exist and hold every state accelerate restores (else the resume is inexact).

    Raises:
        CheckpointError: missing, unreadable, unsafe, or without one of :data:`RNG_STATE_KEYS`.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"`{path}` is missing")
    check_file(path)
    try:
        with torch.serialization.safe_globals(safe_globals()):
            states = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(_unreadable(path, e)) from None
    missing = [k for k in RNG_STATE_KEYS if not isinstance(states, dict) or k not in states]
    if missing:
        raise CheckpointError(f"`{path}` lacks the random states {missing}")


def inspect_checkpoint(folder: str, num_processes: int, weights_file: str | None,
                       required: tuple[str, ...] = ()) -> CheckpointReport:
    """Check every file a resume from ``folder`` would read, without loading any tensor.

    Args:
        folder: a checkpoint folder (model folder + ``train/`` + usually ``accelerate/``).
        num_processes: processes of the resuming run; each needs its ``random_states_<rank>.pkl``.
        weights_file: the Hezar weights file inside ``folder`` (None when there is none).
        required: files or folders ``accelerate/`` must hold besides the RNG states (see :func:`required_state`).

    Returns:
        The :class:`CheckpointReport`; ``problems`` empty means every file is present, readable and code-free.
    """
    report = CheckpointReport(folder)
    try:
        report.state = read_state(folder)
    except CheckpointError as e:
        report.problems.append(str(e))
    if weights_file is None or not os.path.isfile(weights_file):
        report.problems.append(f"`{weights_file or os.path.join(folder, 'model.pt')}` is missing (the model weights)")
    else:
        _collect(report.problems, check_file, weights_file)
    accelerate_dir = os.path.join(folder, ACCELERATE_SUBFOLDER)
    if not os.path.isdir(accelerate_dir):
        return report  # a weights-only checkpoint (pushed to the Hub): nothing else is read
    for name in required:
        if not os.path.exists(os.path.join(accelerate_dir, name)):
            report.problems.append(f"`{os.path.join(accelerate_dir, name)}` is missing")
    for dirpath, _, filenames in os.walk(accelerate_dir):
        for name in sorted(filenames):
            if not name.startswith(RNG_STATE_PREFIX):
                _collect(report.problems, check_file, os.path.join(dirpath, name))
    for rank in range(num_processes):
        path = os.path.join(accelerate_dir, f"{RNG_STATE_PREFIX}{rank}.pkl")
        if _collect(report.problems, check_rng_file, path):
            report.rng_problems.append(report.problems[-1])
    return report


def required_state(distributed_type) -> tuple[str, ...]:
    """What ``accelerator.save_state`` writes besides RNG states for one optimizer and one scheduler, where the
    name is fixed: plain and DDP runs. DeepSpeed and FSDP name their shard files themselves; their readers fail
    loudly on a missing one, which the resume then reports."""
    from accelerate.utils import DistributedType

    if distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP):
        return ()
    return ("optimizer.bin", "scheduler.bin")


def _collect(problems: list[str], check, path: str) -> bool:
    try:
        check(path)
    except CheckpointError as e:
        problems.append(str(e))
        return True
    except OSError as e:
        problems.append(_unreadable(path, e))
        return True
    return False


def _refusal(path: str, why: str) -> str:
    return (f"`{path}` would run code or rebuild an unexpected object when unpickled ({why}); refusing to load it. "
            "Checkpoint files from an untrusted source must not be resumed")


def _unreadable(path: str, error: BaseException) -> str:
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"`{path}` is unreadable (truncated or corrupt: {type(error).__name__}: {detail})"
