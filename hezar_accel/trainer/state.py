"""``TrainerState``: the counters and running figures a resumed run needs, saved as ``trainer_state.yaml``."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from ..configs import load_yaml_mapping
from ..errors import CheckpointError, ConfigError


@dataclass
class TrainerState:
    """Where a run stands. Written into every checkpoint and restored on resume.

    Attributes:
        epoch: the current epoch (1-based); after an epoch completes it is the next one.
        epoch_step: optimizer updates already done in ``epoch``.
        global_step: optimizer updates done in the whole run.
        total_steps: the run's planned updates (informational).
        skipped_updates: updates dropped because of a non-finite loss (``nan_policy: skip_step``).
        best_metric: best value of ``metric_for_best_model`` so far, or None.
        best_step: global step of that evaluation.
        best_checkpoint: folder name of the checkpoint holding the best weights, or None.
        run_name: log sub-folder of this run (kept on resume so curves continue in place).
        loss_sums / loss_counts: per process, the running train-loss sums of the epoch and of the current logging
            window (``[epoch_sum, window_sum]``) and their micro-batch counts; restored exactly on resume.
        data_check: per process, a fingerprint of the data order and the settings that shape it.
        callback_states: each stateful callback's state by name (e.g. early stopping's best value and count).
        log_history: evaluation results by global step (for reports; the CSV is the full log).
    """

    epoch: int = 1
    epoch_step: int = 0
    global_step: int = 0
    total_steps: int = 0
    skipped_updates: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    best_checkpoint: str | None = None
    run_name: str | None = None
    loss_sums: list = field(default_factory=list)
    loss_counts: list = field(default_factory=list)
    data_check: dict = field(default_factory=dict)
    callback_states: dict = field(default_factory=dict)
    log_history: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainerState":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CheckpointError(f"trainer_state has unknown keys {unknown}; was it written by a newer hezar_accel?")
        state = cls(**data)
        wrong = [f.name for f in dataclasses.fields(cls) if not _has_type(getattr(state, f.name), f.type)]
        if wrong:
            raise CheckpointError(f"trainer_state fields {wrong} have values of the wrong type")
        return state

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrainerState":
        """Read a ``trainer_state.yaml``.

        Raises:
            CheckpointError: missing, not UTF-8, not valid YAML or not a trainer state; the message names the file.
        """
        if not os.path.isfile(path):
            raise CheckpointError(f"`{path}` is missing (the trainer state)")
        try:
            return cls.from_dict(load_yaml_mapping(path, "a mapping of trainer state fields to values"))
        except (ConfigError, CheckpointError) as e:
            detail = str(e).replace("\n", " ")
            raise CheckpointError(f"`{path}` is unreadable (garbled trainer state: {detail})") from None


# The YAML types each field may hold ("None" allowed where the default is None).
_FIELD_TYPES = {"int": (int,), "int | None": (int, type(None)), "float | None": (float, int, type(None)),
                "str | None": (str, type(None)), "list": (list,), "dict": (dict,)}


def _has_type(value, annotation: str) -> bool:
    allowed = _FIELD_TYPES.get(str(annotation))
    return allowed is None or (isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed))
