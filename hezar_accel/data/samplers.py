"""Samplers whose order is a pure function of (seed, epoch): the basis of exact resume (DESIGN promise 5)."""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """Yields ``0..n-1`` shuffled with a generator seeded by ``seed + epoch`` (or in order when ``shuffle=False``).

    The order never depends on global RNG state, so a resumed run sees exactly the order of the interrupted one, and
    each epoch sees a different order. Accelerate calls ``set_epoch`` through the prepared dataloader.

    Args:
        num_samples: dataset length.
        seed: base seed.
        shuffle: shuffle per epoch, or keep dataset order.
    """

    def __init__(self, num_samples: int, seed: int = 42, shuffle: bool = True):
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> list[int]:
        """The full index order of ``epoch`` (default: the current one)."""
        return self._order(self.epoch if epoch is None else epoch).tolist()

    def _order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.num_samples, generator=generator)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order())

    def __len__(self) -> int:
        return self.num_samples


class LengthGroupedSampler(EpochShuffleSampler):
    """Shuffles, then sorts within windows of ``batch_size * window_batches`` by length (longest first in each window).

    Batches then hold sequences of similar length, so dynamic padding wastes little compute, while the window keeps
    the order random across the epoch. Still a pure function of (seed, epoch).

    Args:
        lengths: length of each sample.
        batch_size: per-process batch size.
        window_batches: how many batches one sorting window spans.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 42, window_batches: int = 50):
        super().__init__(len(lengths), seed=seed, shuffle=True)
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.int64)
        self.window = max(1, batch_size * window_batches)

    def _order(self, epoch: int) -> torch.Tensor:
        # A stable sort by descending length within each window: ties keep their shuffled order. Vectorized, because
        # every checkpoint computes the order again (its data-order record) and a Python sort key costs ~1 us a sample.
        shuffled = super()._order(epoch)
        windows = [chunk[torch.argsort(-self.lengths[chunk], stable=True)] for chunk in shuffled.split(self.window)]
        return torch.cat(windows) if windows else torch.zeros(0, dtype=torch.int64)
