"""``ColumnCollator``: 🤗-style rows (dicts of already tokenized columns) -> a padded batch of model inputs."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import DataError
from .collators import PaddingCollator


class ColumnCollator:
    """Keep, rename and pad the columns of 🤗-style rows (e.g. ``input_ids``, ``attention_mask``, ``labels``).

    Rows come from a ``datasets.Dataset``/``IterableDataset`` (or any dataset of dicts) that is already tokenized.
    Only the columns named in ``columns`` are kept (strings and columns the model does not read are left out, so
    nothing but tensors reaches the device); each is renamed to the model's input name (``input_ids`` ->
    ``token_ids`` for this package's models) and padded to the batch's longest sample with its pad value.

    Args:
        columns: row column -> batch key, for every column to keep (e.g. ``{"input_ids": "token_ids",
            "label": "labels"}``).
        pad_values: batch key -> pad value (e.g. ``{"token_ids": 0, "labels": -100}``); other keys pad with 0.
        pad_to_multiple_of: round padded lengths up to a multiple of this; None = off.

    Raises:
        DataError: (when called) a row lacks one of the kept columns.
    """

    def __init__(self, columns: Mapping[str, str], pad_values: Mapping[str, Any] | None = None,
                 pad_to_multiple_of: int | None = None):
        self.columns = dict(columns)
        self.pad_values = dict(pad_values or {})
        self._pad = PaddingCollator(self.pad_values, pad_to_multiple_of=pad_to_multiple_of)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        try:
            renamed = [{key: row[column] for column, key in self.columns.items()} for row in rows]
        except KeyError as e:
            raise DataError(f"A row lacks the column {e.args[0]!r} that the first row had (rows must share their "
                            f"columns; kept: {sorted(self.columns)}).") from None
        return self._pad(renamed)

    def __repr__(self) -> str:
        return f"ColumnCollator(columns={self.columns}, pad_values={self.pad_values})"
