"""Fingerprint of the data order, stored in checkpoints and checked on resume.

A resumed run is exact only if each process would draw the same samples next. The fingerprint records the settings
that shape the order (so a mismatch can name the one that changed) and a hash of each process's next sample indices.
"""

from __future__ import annotations

import hashlib
import itertools

# Settings that determine the data order, with the config field a user would change.
ORDER_SETTINGS = {
    "dataset_size": "the training dataset (its number of samples)",
    "dataset_fingerprint": "the training dataset (its contents or processing)",
    "batch_size": "batch_size",
    "num_processes": "the number of processes (accelerate launch --num_processes)",
    "seed": "seed",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "shuffle": "dataloader_shuffle / group_by_length",
}


def next_indices_hash(batch_sampler, skip_batches: int, count: int = 4) -> str:
    """Hash of the sample indices of the ``count`` batches after the first ``skip_batches`` (indices only, no data)."""
    upcoming = list(itertools.islice(iter(batch_sampler), skip_batches, skip_batches + count))
    return hashlib.sha256(repr(upcoming).encode()).hexdigest()[:16]


def compare(saved: dict, current: dict) -> list[str]:
    """Human-readable differences between a checkpoint's data-order record and the current run's.

    Returns:
        One line per changed setting; when all settings agree but the next indices differ, a line saying so.
    """
    problems = []
    for key, label in ORDER_SETTINGS.items():
        if key in saved and saved[key] != current.get(key):
            problems.append(f"{label} changed: checkpoint had {saved[key]!r}, this run has {current.get(key)!r}")
    if not problems and saved.get("next_indices") != current.get("next_indices"):
        problems.append("the upcoming sample order differs although every recorded setting matches "
                        "(a changed sampler or data pipeline)")
    return problems
