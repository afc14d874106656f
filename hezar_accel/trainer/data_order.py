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
    "dataset_fingerprint": "the training dataset (its contents, processing or augmentation settings)",
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


class DataOrder:
    """The training data order of a run, as checkpoints record it and resumes check it.

    Args:
        dataloader: the prepared training dataloader (its ``batch_sampler`` yields this process's batches).
        sampler: the epoch-seeded sampler under it (``set_epoch`` picks the epoch's order).
        dataset: the training dataset (its size and fingerprint are recorded).
        config: the run's TrainerConfig (batch size, seed, accumulation).
        num_processes: processes of the run.
        steps_per_epoch: optimizer updates per epoch (from the step plan).
    """

    def __init__(self, dataloader, sampler, dataset, config, num_processes: int, steps_per_epoch: int):
        self.dataloader, self.sampler, self.dataset = dataloader, sampler, dataset
        self.config, self.num_processes, self.steps_per_epoch = config, num_processes, steps_per_epoch

    def record(self, epoch: int, epoch_step: int) -> dict:
        """The settings shaping the order plus every process's next-indices hash at (epoch, epoch_step); a collective."""
        from accelerate.utils import gather_object

        self.sampler.set_epoch(epoch)
        own = next_indices_hash(self.dataloader.batch_sampler, epoch_step * self.config.gradient_accumulation_steps)
        return {
            "dataset_size": len(self.dataset),
            "dataset_fingerprint": str(getattr(self.dataset, "fingerprint", "")),
            "batch_size": self.config.batch_size,
            "num_processes": self.num_processes,
            "seed": self.config.seed,
            "gradient_accumulation_steps": self.config.gradient_accumulation_steps,
            "shuffle": f"{type(self.sampler).__name__}:{getattr(self.sampler, 'shuffle', None)}",
            "next_indices": gather_object([own]),
        }

    def problems(self, saved: dict, epoch: int, epoch_step: int) -> list[str]:
        """What differs between a checkpoint's record and this run at the same position (a collective)."""
        return compare(saved, self.record(epoch, epoch_step))

    def update_indices(self, step: int) -> list[int]:
        """Sample indices this process used in update ``step`` (1-based), recomputed from the deterministic sampler."""
        ga = self.config.gradient_accumulation_steps
        epoch, within = (step - 1) // self.steps_per_epoch + 1, (step - 1) % self.steps_per_epoch
        self.sampler.set_epoch(epoch)
        batches = itertools.islice(iter(self.dataloader.batch_sampler), within * ga, (within + 1) * ga)
        return [int(i) for batch in batches for i in batch]
