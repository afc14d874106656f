"""Hezar 1.0 ``TrainerConfig`` settings that this trainer does not take as they are: the one table that maps them.

A Hezar config (keyword arguments, or a ``train_config.yaml`` Hezar wrote) can hold three kinds of such settings:

* a field with no counterpart here (:data:`HEZAR_ONLY_FIELDS`). It is declared on ``TrainerConfig`` so that
  ``TrainerConfig(**hezar_kwargs)`` reaches validation instead of raising a ``TypeError``; Hezar's "unset" value
  (None) is accepted, any other value is refused with the mapping below;
* Hezar's own spelling of "unset" for a field (:data:`HEZAR_UNSET_VALUES`): read as this trainer's default, which
  means the same thing;
* a choice Hezar offers and this trainer does not (:data:`HEZAR_VALUES`): refused with what to use here.
"""

from __future__ import annotations

# field -> what Hezar does with it and what to do here instead (shown when it is set).
HEZAR_ONLY_FIELDS: dict[str, str] = {
    "lr_scheduling_steps": (
        "Hezar's per-N-updates scheduler stepping (unset there = once per epoch); here the scheduler steps after "
        "every optimizer update, so remove lr_scheduling_steps and shape the schedule with lr_scheduler, "
        "lr_scheduler_kwargs and warmup_steps"),
}

# field -> the value Hezar uses for "not set". Hezar 1.0 writes `save_freq: deprecated` into every
# train_config.yaml it saves; its default optimizer None means Adam, which is the default here too.
HEZAR_UNSET_VALUES: dict[str, object] = {
    "save_freq": "deprecated",
    "optimizer": None,
}

_TORCH_DECAY = ("Hezar's torch scheduler stepped once per epoch; here schedules run over all updates: use `linear`, "
                "`cosine` or `polynomial` (lr_scheduler_kwargs: power), with warmup_steps")

# (field, Hezar value) -> what it means in Hezar and what to use here.
HEZAR_VALUES: dict[tuple[str, str], str] = {
    ("optimizer", "sdg"): "is Hezar's spelling of SGD; use `sgd`",
    ("mixed_precision", "fp8"): "is not supported here; use `bf16` (or `fp16`)",
    ("lr_scheduler", "cosine_anealing"): ("is Hezar's torch CosineAnnealingLR stepped once per epoch; use `cosine` "
                                          "(cosine decay over all updates, after warmup_steps)"),
    ("lr_scheduler", "one_cycle"): "is Hezar's torch OneCycleLR; use `cosine` with warmup_steps (warm-up, then decay)",
    ("lr_scheduler", "step"): f"is {_TORCH_DECAY}",
    ("lr_scheduler", "multi_step"): f"is {_TORCH_DECAY}",
    ("lr_scheduler", "exponential"): f"is {_TORCH_DECAY}",
    ("lr_scheduler", "reduce_on_plateau"): ("is Hezar's metric-driven decay, which this trainer does not have; use "
                                            "`linear` or `cosine`"),
    ("lr_scheduler", "cyclic"): "is Hezar's torch CyclicLR, which this trainer does not have; use `cosine`",
    ("lr_scheduler", "lambda"): ("is Hezar's torch LambdaLR (a Python function, which a YAML config cannot hold); use "
                                 "`linear`, `cosine` or `polynomial`"),
    ("lr_scheduler", "sequential"): "is Hezar's torch SequentialLR; use `cosine` or `linear` with warmup_steps",
}


def hezar_only_field_problems(config) -> list[str]:
    """One problem line per Hezar-only field set to something other than Hezar's "unset"."""
    return [f"{name}: {getattr(config, name)!r} is {meaning}"
            for name, meaning in HEZAR_ONLY_FIELDS.items() if getattr(config, name, None) is not None]


def hezar_value_hint(name: str, value) -> str | None:
    """What to use here instead of Hezar's ``value`` of field ``name``, or None when Hezar has no such value."""
    return HEZAR_VALUES.get((name, value)) if isinstance(value, str) else None


def is_hezar_unset(name: str, value) -> bool:
    """Whether ``value`` is Hezar's spelling of "not set" for field ``name`` (read as this trainer's default)."""
    return name in HEZAR_UNSET_VALUES and value == HEZAR_UNSET_VALUES[name]
