"""Collators that pad each batch to its own longest sample (dynamic padding)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch


class PaddingCollator:
    """Stack a list of samples (dicts) into a dict of tensors, padding variable-length fields along their first axis.

    Scalars become a 1-D tensor; sequences (lists, arrays, tensors) of differing lengths are padded to the batch's
    longest (rounded up to ``pad_to_multiple_of``) with the field's pad value; extra axes (e.g. feature frames x
    mel bins) are kept. Fields not in ``pad_values`` pad with 0; non-numeric fields (strings) are passed through as lists.

    Args:
        pad_values: field -> pad value (e.g. ``{"token_ids": pad_id, "labels": -100}``).
        pad_to_multiple_of: round padded lengths up to a multiple of this (e.g. 8 for tensor cores); None = off.
        length_fields: field -> name of an extra output holding each sample's unpadded length (e.g. for CTC).
        dtypes: field -> torch dtype (default: int64 for integer data, float32 for floats).
        channels_first: fields stored ``(length, channels)`` per sample but read ``(batch, channels, length)`` by the
            model (Whisper's features): their last two axes are swapped after padding.
    """

    def __init__(self, pad_values: Mapping[str, Any] | None = None, pad_to_multiple_of: int | None = None,
                 length_fields: Mapping[str, str] | None = None, dtypes: Mapping[str, torch.dtype] | None = None,
                 channels_first: Sequence[str] = ()):
        self.pad_values = dict(pad_values or {})
        self.pad_to_multiple_of = pad_to_multiple_of
        self.length_fields = dict(length_fields or {})
        self.dtypes = dict(dtypes or {})
        self.channels_first = tuple(channels_first)

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch = {}
        for key in samples[0]:
            values = [s[key] for s in samples]
            if isinstance(values[0], str) or values[0] is None:
                batch[key] = values
                continue
            arrays = [v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for v in values]
            if arrays[0].ndim == 0:
                batch[key] = self._tensor(key, np.stack(arrays))
                continue
            lengths = [a.shape[0] for a in arrays]
            batch[key] = self._tensor(key, self._pad(arrays, self.pad_values.get(key, 0), max(lengths)))
            if key in self.channels_first:
                batch[key] = batch[key].transpose(1, 2).contiguous()
            if key in self.length_fields:
                batch[self.length_fields[key]] = torch.tensor(lengths, dtype=torch.long)
        return batch

    def _pad(self, arrays: list[np.ndarray], value, longest: int) -> np.ndarray:
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        out = np.full((len(arrays), longest, *arrays[0].shape[1:]), value, dtype=arrays[0].dtype)
        for i, a in enumerate(arrays):
            out[i, : a.shape[0]] = a
        return out

    def _tensor(self, key: str, array: np.ndarray) -> torch.Tensor:
        if key in self.dtypes:
            return torch.as_tensor(array, dtype=self.dtypes[key])
        if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
            return torch.as_tensor(array, dtype=torch.long)
        return torch.as_tensor(array, dtype=torch.float32)
