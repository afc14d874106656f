"""Fingerprint of the data order, stored in checkpoints and checked on resume.

A resumed run is exact only if each process would draw the same samples next. The fingerprint records the settings
that shape the order (so a mismatch can name the one that changed) and a hash of each process's next sample indices.
An iterable dataset has no indices: :class:`IterableDataOrder` records the same settings and a digest of the batches
the current pass consumed, which the resumed run verifies while it reads them again (see ``iterables.py``).
"""

from __future__ import annotations

import hashlib
import itertools

from .data_inputs import dataset_fingerprint

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
        return {**_settings(self.config, self.num_processes, len(self.dataset), dataset_fingerprint(self.dataset),
                            f"{type(self.sampler).__name__}:{getattr(self.sampler, 'shuffle', None)}"),
                "next_indices": gather_object([own])}

    def problems(self, saved: dict, epoch: int, epoch_step: int) -> list[str]:
        """What differs between a checkpoint's record and this run at the same position (a collective)."""
        return compare(saved, self.record(epoch, epoch_step))

    def expect(self, saved: dict, ignore_mismatch: bool) -> None:
        """Nothing to verify later: the sampler's indices were compared by :meth:`problems` already."""

    def update_indices(self, step: int) -> list[int]:
        """Sample indices this process used in update ``step`` (1-based), recomputed from the deterministic sampler."""
        ga = self.config.gradient_accumulation_steps
        epoch, within = (step - 1) // self.steps_per_epoch + 1, (step - 1) % self.steps_per_epoch
        self.sampler.set_epoch(epoch)
        batches = itertools.islice(iter(self.dataloader.batch_sampler), within * ga, (within + 1) * ga)
        return [int(i) for batch in batches for i in batch]


def _settings(config, num_processes: int, size, fingerprint: str, shuffle: str) -> dict:
    return {
        "dataset_size": size,
        "dataset_fingerprint": fingerprint,
        "batch_size": config.batch_size,
        "num_processes": num_processes,
        "seed": config.seed,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "shuffle": shuffle,
    }


class IterableDataOrder:
    """The data order of an iterable training dataset, as checkpoints record it and resumes check it.

    Without a sampler the upcoming rows cannot be computed ahead. What is recorded: the settings that shape the
    stream (as for map-style data; the size reads ``iterable``, the fingerprint is the dataset's when it has one,
    else its type and columns) and, per process, the digest of the batches of the current pass consumed so far
    (:class:`~.iterables.ReplayCheck`). A resume compares the settings at once (:meth:`problems`) and the digest while
    it reads those batches again (:meth:`expect`). Rows after the resume point cannot be verified.

    Args:
        replay: the training dataloader's :class:`~.iterables.ReplayCheck`.
        dataset: the user's iterable dataset.
        config: the run's TrainerConfig.
        num_processes, process_index: the run's processes and this one's rank.
    """

    def __init__(self, replay, dataset, config, num_processes: int, process_index: int):
        self.replay, self.dataset, self.config = replay, dataset, config
        self.num_processes, self.process_index = num_processes, process_index

    def _own_settings(self) -> dict:
        fingerprint = dataset_fingerprint(self.dataset) or (
            f"{type(self.dataset).__name__}(columns={getattr(self.dataset, 'column_names', None)}, "
            f"n_shards={getattr(self.dataset, 'n_shards', None)})")
        return _settings(self.config, self.num_processes, "iterable", fingerprint, "the iterable's own order")

    def record(self, epoch: int, epoch_step: int) -> dict:
        """The settings plus every process's ``[batches, digest]`` of the pass so far (a collective)."""
        from accelerate.utils import gather_object

        own = self.replay.position(epoch_step * self.config.gradient_accumulation_steps)
        return {**self._own_settings(), "replay": gather_object([own])}

    def problems(self, saved: dict, epoch: int, epoch_step: int) -> list[str]:
        """The settings that differ from a checkpoint's record (the rows are checked later, by :meth:`expect`)."""
        return compare({k: v for k, v in saved.items() if k in ORDER_SETTINGS}, self._own_settings())

    def expect(self, saved: dict, ignore_mismatch: bool) -> None:
        """Make the resumed pass verify that it replays this process's recorded batches (before any update)."""
        replay = saved.get("replay") or []
        own = replay[self.process_index] if self.process_index < len(replay) else None
        self.replay.expect(own, ignore_mismatch)

    def update_indices(self, step: int) -> None:
        """Sample indices of an update: an iterable has none (None)."""
        return None


def data_order_for(prepared, raw, dataset, config, accelerator, steps_per_epoch: int | None):
    """The :class:`DataOrder` (map-style) or :class:`IterableDataOrder` of a run's training data.

    Args:
        prepared: the prepared training dataloader. raw: the dataloader before ``prepare`` (its sampler or, for an
            iterable, its ReplayCheck collate function).
        dataset, config: the training dataset and the TrainerConfig.
        accelerator: the run's Accelerator (processes, rank).
        steps_per_epoch: from the step plan (None for an iterable).
    """
    from .iterables import ReplayCheck

    if isinstance(raw.collate_fn, ReplayCheck):
        return IterableDataOrder(raw.collate_fn, dataset, config, accelerator.num_processes, accelerator.process_index)
    return DataOrder(prepared, raw.sampler, dataset, config, accelerator.num_processes, steps_per_epoch)
