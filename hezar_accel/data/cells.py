"""Empty cells of tabular data: found once per split, then refused with their rows or dropped on request.

An empty CSV cell reaches 🤗 ``datasets`` as None; written with ``str()`` it would become the text ``'None'`` (or a
class named ``None``), so every loader that reads a text or label column checks it here first.
"""

from __future__ import annotations

import math

from ..errors import DataError

__all__ = ["is_empty_cell", "empty_cell_rows", "without_rows", "SKIP_FLAG"]

# The dataset config field that drops invalid rows instead of refusing them (the name speech_recognition already uses).
SKIP_FLAG = "skip_invalid_rows"
_SHOWN_ROWS = 5


def is_empty_cell(value) -> bool:
    """Whether a cell holds no value: null (an empty CSV cell or a JSON null), NaN, or only whitespace."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    return False


def empty_cell_rows(table, columns: dict[str, str | None], source: str, skip: bool) -> set[int]:
    """Rows of ``table`` with an empty cell in any of ``columns``.

    Args:
        table: a ``datasets.Dataset`` (or anything indexable by column name).
        columns: dataset config field name -> column name (None entries are skipped), e.g. ``{"text_field": "text"}``.
        source: the file (or split) the table was read from, for the message.
        skip: the dataset config's ``skip_invalid_rows``: return the rows instead of raising.

    Returns:
        The 0-based row numbers to drop (empty when every cell holds a value).

    Raises:
        DataError: when a cell is empty and ``skip`` is False, naming the file, each column with its config field, the
            first rows and the count, and both fixes.
    """
    found = {}
    for field_name, column in columns.items():
        if column is not None:
            rows = [i for i, value in enumerate(table[column]) if is_empty_cell(value)]
            if rows:
                found[(field_name, column)] = rows
    if found and not skip:
        parts = [f"`{column}` ({field_name}) is empty in {len(rows)} row(s): {_first_rows(rows)}"
                 for (field_name, column), rows in found.items()]
        raise DataError(f"`{source}`: " + "; ".join(parts) + ". Rows count from 0, not counting the header. Fill "
                        f"those cells, or set {SKIP_FLAG}: true in the dataset config to drop such rows (they are "
                        "counted in num_skipped).")
    return {i for rows in found.values() for i in rows}


def without_rows(table, rows: set[int]):
    """``table`` without the given 0-based ``rows`` (the table itself when there are none)."""
    if not rows:
        return table
    return table.select([i for i in range(len(table)) if i not in rows])


def _first_rows(rows: list[int]) -> str:
    shown = ", ".join(str(i) for i in rows[:_SHOWN_ROWS])
    return shown + (f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else "")
