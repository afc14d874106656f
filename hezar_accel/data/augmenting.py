"""Train-time augmentation keyed on (seed, epoch, sample index): the part every augmenting dataset shares.

A training sample's random changes are drawn from generators seeded with ``(seed, epoch, index, stream)`` only, never
from the global RNG, the batch the sample lands in, the number of processes or of dataloader workers. So a resumed run
sees exactly the samples the interrupted run would have seen (DESIGN promise 5), a dataloader worker process augments
like the main process, and every epoch sees other variants of each sample.

Augmentation applies to training samples only. It starts when the Trainer calls ``set_train_epoch`` (which it does on
its training dataset alone, before each epoch), and evaluation dataloaders read
:meth:`AugmentingDataset.for_evaluation`, a view that never augments, even when one object serves as both training and
evaluation dataset.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from typing import Any, Iterator

import numpy as np
import torch

from .dataset import Dataset

__all__ = ["AugmentingDataset", "sample_generator", "one_torch_thread", "NOT_TRAINING"]

# The epoch value of a dataset no Trainer has started training on (and of every evaluation view): no augmentation.
NOT_TRAINING = -1


def sample_generator(seed: int, epoch: int, index: int, stream: int) -> np.random.Generator:
    """The generator of one augmentation step (``stream``) of one sample in one epoch.

    Each step has its own stream, so switching one augmentation on or off leaves the draws of the others unchanged.

    Args:
        seed: the augmentation seed (a dataset config field).
        epoch: the training epoch the Trainer set (>= 0).
        index: the sample's index in the dataset.
        stream: a small integer naming the augmentation step.

    Returns:
        A numpy ``Generator`` that depends on these four integers only (SeedSequence mixes them).
    """
    return np.random.default_rng([int(seed), int(epoch), int(index), int(stream)])


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the enclosed per-sample work on one torch thread, then restore the thread count.

    Augmenting one sample is small work: waking torch's thread pool costs more than it gives (a 2 s clip's features
    took 126 ms on 2 threads and 1.2 ms on one, on a loaded 2-core machine), and one thread makes the result the same
    in the main process and in a dataloader worker (which runs one thread).
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class AugmentingDataset(Dataset):
    """A :class:`Dataset` whose training samples pass through :meth:`augment` (subclasses implement it).

    Subclasses call :meth:`_init_augmentation` with their augmentation config (None or one whose ``is_off`` is true
    means no augmentation: samples, fingerprint and behaviour are those of the plain dataset).
    """

    augmentation = None

    def _init_augmentation(self, augmentation) -> None:
        """Remember the augmentation settings and create the shared training-epoch value (not training yet)."""
        self.augmentation = None if augmentation is None or augmentation.is_off else augmentation
        # In shared memory: dataloader worker processes hold copies of this object and must see the epoch change.
        self._train_epoch = torch.full((), NOT_TRAINING, dtype=torch.int64).share_memory_()

    @property
    def augments(self) -> bool:
        """Whether this object augments the samples it returns now (a training dataset, set to an epoch)."""
        return self.augmentation is not None and int(self._train_epoch) != NOT_TRAINING

    def set_train_epoch(self, epoch: int) -> None:
        """Augment later samples as epoch ``epoch`` (the Trainer calls it on its training dataset before each epoch)."""
        self._train_epoch.fill_(int(epoch))

    def for_evaluation(self) -> "AugmentingDataset":
        """A view of the same data that never augments (what evaluation dataloaders read); ``self`` when off."""
        if self.augmentation is None:
            return self
        view = copy.copy(self)
        view._train_epoch = torch.full((), NOT_TRAINING, dtype=torch.int64)  # its own value: never set to an epoch
        return view

    @property
    def fingerprint(self) -> str:
        """The processed data's fingerprint, combined with the augmentation settings when augmentation is on.

        A resume with other augmentation settings would train on other samples, so the Trainer refuses it like a
        change of the data. With augmentation off the fingerprint is the plain dataset's (old checkpoints resume).
        """
        base = super().fingerprint
        if self.augmentation is None:
            return base
        key = json.dumps([base, self.augmentation.to_dict()], sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def __getitem__(self, index: int) -> dict[str, Any]:
        row, epoch = super().__getitem__(index), int(self._train_epoch)
        if self.augmentation is None or epoch == NOT_TRAINING:
            return row
        with one_torch_thread():
            return self.augment(row, int(index), epoch)

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        rows, epoch = super().__getitems__(indices), int(self._train_epoch)  # one batch, one epoch
        if self.augmentation is None or epoch == NOT_TRAINING:
            return rows
        with one_torch_thread():
            return [self.augment(row, int(i), epoch) for i, row in zip(indices, rows)]

    def augment(self, row: dict[str, Any], index: int, epoch: int) -> dict[str, Any]:
        """Return the augmented version of training sample ``index`` in ``epoch`` (a pure function of them).

        Args:
            row: the stored sample (model-ready columns); must not be modified in place.
            index: its index in the dataset.
            epoch: the training epoch (>= 0).

        Returns:
            A new sample dict with the same keys; labels untouched.
        """
        raise NotImplementedError
