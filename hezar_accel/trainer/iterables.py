"""Length-less (iterable) datasets in the Trainer: what an epoch is, how a resume finds its place, what is checked.

Semantics (README "Train" > "🤗 datasets and iterables" says the same for users):

- **Steps**: an iterable has no length, so only ``max_steps`` plans the run (``plan_steps`` with
  ``batches_per_epoch=None``: ``steps_per_epoch`` and ``num_epochs`` stay unknown).
- **Epoch**: one pass of the iterator. Before each pass the dataset gets ``set_epoch(epoch)`` when it has one (a 🤗
  ``datasets.IterableDataset`` reshuffles with ``seed + epoch``); when a pass runs out before ``max_steps``, the epoch
  ends as a map-style one does (evaluation, the epoch's log row, the epoch-end save) and the next pass starts. A pass
  that yields nothing is an error (an iterable that can be read only once cannot serve a second epoch).
- **Several processes**: accelerate's ``IterableDatasetShard`` (the Trainer turns batch dispatching off): every
  process reads the whole stream and keeps its own slice of each run of ``batch_size x processes`` rows, the last run
  completed with rows from the pass's start; so every process draws the same number of batches per pass, and the
  processes see different rows.
- **Resume**: there is no sampler to jump with, so the resumed run skips the consumed batches of the current pass by
  reading them (accelerate's ``skip_first_batches`` on an iterable). Bitwise exact when the iterable yields the same
  rows in the same order for a given epoch (deterministic per ``set_epoch``); :class:`ReplayCheck` verifies exactly
  that for the skipped batches.
- **Data-order check**: the settings that shape the stream are compared as for map-style data; the rows themselves
  are verified only as far as the resume replays them (a digest of the consumed batches of the current pass, per
  process). Rows after the resume point, and earlier passes, cannot be verified.
"""

from __future__ import annotations

import collections
import hashlib
import warnings

import torch

from ..errors import CheckpointError, DataError

# How many recent (batches, digest) positions ReplayCheck keeps: a save asks for the position of the batches already
# consumed, at most one batch behind what was collated (the dataloader reads one batch ahead, no workers).
_RECENT = 4


class EpochPasses(torch.utils.data.IterableDataset):
    """The training iterable as the Trainer reads it: one pass per epoch, each told its epoch first.

    Args:
        source: the user's iterable dataset.
        on_pass: called with the epoch when a pass starts (the replay check starts its digest there).
    """

    def __init__(self, source, on_pass=None):
        self.source, self.on_pass, self.epoch = source, on_pass, 0

    def set_epoch(self, epoch: int) -> None:
        """Called through the prepared dataloader before every pass; forwarded to the dataset when it has one."""
        self.epoch = int(epoch)
        if callable(getattr(self.source, "set_epoch", None)):
            self.source.set_epoch(self.epoch)

    def __iter__(self):
        if self.on_pass is not None:
            self.on_pass(self.epoch)
        yield from self.source


class ReplayCheck:
    """The collate function of an iterable training set: collates, and digests the batches of the current pass.

    A checkpoint records the digest of the batches consumed so far in the pass (:meth:`position`); the resumed run
    skips those batches by reading them again, and the digest of what it read must be the same (:meth:`expect`), or
    the iterable is not deterministic for that epoch and the resume would not be exact. The digest covers the CPU
    batch before it moves to the device (no device reads) and costs one hash of its bytes.

    Args:
        collator: the real collate function.
    """

    def __init__(self, collator):
        self.collator = collator
        self.epoch, self.count, self.digest = 0, 0, b""
        self.recent: collections.deque = collections.deque(maxlen=_RECENT)
        self.expected: list | None = None  # [batches, digest] the resumed pass must replay
        self._pending: list | None = None  # set by expect(), becomes `expected` when the resumed pass starts
        self.ignore_mismatch = False

    def start_pass(self, epoch: int) -> None:
        """A new pass begins: restart the digest; a resume's expectation applies to the first pass after it only."""
        self.epoch, self.count, self.digest = epoch, 0, b""
        self.recent.clear()
        self.expected, self._pending = self._pending, None

    def __call__(self, rows):
        batch = self.collator(rows)
        self.count += 1
        self.digest = batch_digest(self.digest, batch)
        self.recent.append((self.count, self.digest.hex()))
        if self.expected is not None and self.expected[0] == self.count:
            self._verify()
        return batch

    def position(self, consumed_batches: int) -> list | None:
        """``[batches, digest]`` of the first ``consumed_batches`` batches of the current pass, or None when there is
        nothing to verify (none consumed) or the position is not among the recent ones."""
        if consumed_batches <= 0:
            return None
        return next(([n, d] for n, d in self.recent if n == consumed_batches), None)

    def expect(self, position: list | None, ignore_mismatch: bool) -> None:
        """Arm the check for the next pass (the resumed one): its first ``position[0]`` batches must digest to
        ``position[1]``. With ``ignore_mismatch`` a difference warns instead of raising."""
        self._pending = list(position) if position else None
        self.ignore_mismatch = ignore_mismatch

    def _verify(self) -> None:
        batches, expected = self.expected
        self.expected = None
        if self.digest.hex() == expected:
            return
        message = (f"the iterable train_dataset replayed different batches for epoch {self.epoch} than the interrupted "
                   f"run consumed (the first {batches} batches of the pass differ on this process), so the resume is "
                   "not exact. It must yield the same rows in the same order for a given epoch (seed its shuffling "
                   "with set_epoch(epoch)) and the data must not change")
        if self.ignore_mismatch:
            warnings.warn(f"Resuming anyway (ignore_data_order_mismatch: true): {message}.", stacklevel=2)
            return
        raise CheckpointError(f"Cannot resume exactly: {message}; restore the data, or set "
                              "ignore_data_order_mismatch: true to continue with what it yields now.")


def batch_digest(previous: bytes, batch) -> bytes:
    """Chain ``previous`` with the keys, dtypes, shapes and bytes of a collated batch (8 bytes)."""
    h = hashlib.blake2b(previous, digest_size=8)
    items = sorted(batch.items()) if hasattr(batch, "items") else enumerate(batch)
    for key, value in items:
        h.update(repr(key).encode())
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            h.update(f"{value.dtype}{tuple(value.shape)}".encode())
            h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        else:
            h.update(repr(value).encode())
    return h.digest()


class CountedPass(torch.utils.data.IterableDataset):
    """A finite evaluation iterable that counts its rows per pass.

    Under several processes accelerate completes the last round of batches with repeated rows and, for a dataset
    without a length, cannot tell how many to drop; the count, known once the pass is read, tells it
    (:func:`settle_remainder`), so the metrics stay exact. The dataset's own order is kept (no ``set_epoch``).

    Args:
        source: the evaluation iterable (it must end).
    """

    def __init__(self, source):
        self.source, self.count = source, None

    def __iter__(self):
        self.count, n = None, 0
        for row in self.source:
            n += 1
            yield row
        self.count = n


def settle_remainder(dataloader) -> None:
    """At the last batch of a prepared dataloader over a :class:`CountedPass`, set how many rows its last round
    really holds (accelerate's ``remainder``): ``gather_for_metrics`` and the loss then leave the repeats out."""
    shard = getattr(dataloader, "dataset", None)  # accelerate's IterableDatasetShard, under several processes
    counted = getattr(shard, "dataset", None)
    if isinstance(counted, CountedPass) and counted.count is not None and getattr(dataloader, "end_of_dataloader", False):
        # One round: batch_size rows for each process (the dataloader's own total_batch_size assumes a sampler).
        dataloader.remainder = counted.count % (shard.batch_size * shard.num_processes)


def empty_pass_error(epoch: int, max_steps: int) -> DataError:
    """The error for a pass of the training iterable that yielded no batch before ``max_steps`` was reached."""
    return DataError(
        f"train_dataset: the pass of epoch {epoch} yielded no batch before max_steps: {max_steps} was reached. An "
        "iterable that can be read only once (e.g. a generator) cannot serve a second epoch: make its __iter__ start a "
        "fresh pass each time (a generator function), or lower max_steps to what one pass gives.")
