"""Greedy CTC decoding shared by the OCR/speech models and the metrics handlers.

Bottom layer: imports only torch (and numpy through it), so models and metrics can both use it.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["ctc_greedy_collapse"]


def _as_rows(ids) -> list[list[int]]:
    """Turn a (B, T) tensor/array or a list of sequences into plain Python int rows."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 2:
            raise ValueError(f"ctc_greedy_collapse expects (batch, time) ids, got a tensor of shape {tuple(ids.shape)}")
        return ids.detach().cpu().tolist()
    if hasattr(ids, "ndim") and hasattr(ids, "tolist"):  # numpy array, without importing numpy here
        if ids.ndim != 2:
            raise ValueError(f"ctc_greedy_collapse expects (batch, time) ids, got an array of shape {ids.shape}")
        return ids.tolist()
    return [[int(i) for i in row] for row in ids]


def ctc_greedy_collapse(ids, blank_id: int, pad_id: int = -100) -> list[list[int]]:
    """Collapse greedy (argmax) CTC paths into label sequences.

    Per row: padding positions (``pad_id``) are removed first, then runs of the same id are merged into one, then
    blanks are dropped. A blank between two equal ids keeps both (``a _ a`` -> ``a a``), which is how CTC spells
    double letters.

    Args:
        ids: per-frame argmax ids, a ``(B, T)`` LongTensor or numpy array, or a list of int sequences.
        blank_id: the CTC blank class id.
        pad_id: value marking padding frames (e.g. added when gathering across processes).

    Returns:
        One list of label ids per row.

    Raises:
        ValueError: when a tensor/array is not 2-D.
    """
    out: list[list[int]] = []
    for row in _as_rows(ids):
        out.append(_collapse_row(row, blank_id, pad_id))
    return out


def _collapse_row(row: Sequence[int], blank_id: int, pad_id: int) -> list[int]:
    collapsed: list[int] = []
    previous = None
    for token in row:
        if token == pad_id:
            continue
        if token != previous and token != blank_id:
            collapsed.append(token)
        previous = token
    return collapsed
