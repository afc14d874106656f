"""Split names with a slice: ``dev[:90%]``, ``dev[90%:]``, ``train[100:200]`` (🤗 datasets' slicing syntax).

A slice carves a split out of another one, e.g. a held-out dev set from a treebank that ships only dev and test
files. Slices are contiguous and in file order (no shuffling), so the same split name always means the same rows,
and ``x[:90%]`` and ``x[90%:]`` never share one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DataError

__all__ = ["SplitSlice", "parse_split"]

_SLICED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<start>[^:\]]*):(?P<stop>[^:\]]*)\]$")
_BOUND = re.compile(r"^\s*(-?\d+)\s*(%?)\s*$")


@dataclass(frozen=True)
class SplitSlice:
    """A split name and the part of it to keep.

    Attributes:
        name: the split to read (``dev`` for ``dev[:90%]``).
        start, stop: the bounds as written: an int (rows; negative counts from the end), a float (percent of the
            rows) or None (open end).
        text: the split as written, for messages.
    """

    name: str
    start: int | float | None = None
    stop: int | float | None = None
    text: str = ""

    @property
    def is_whole(self) -> bool:
        """True when no slice was given."""
        return self.start is None and self.stop is None

    def bounds(self, rows: int) -> tuple[int, int]:
        """The ``[start, stop)`` row range of a split of ``rows`` rows; a percent bound rounds to the closest row."""
        def position(bound, default: int) -> int:
            if bound is None:
                return default
            value = round(rows * bound / 100) if isinstance(bound, float) else bound
            return max(0, min(rows, value + rows if value < 0 else value))

        return position(self.start, 0), position(self.stop, rows)

    def kept(self, rows: int, source: str, unit: str = "rows") -> range:
        """The rows of a ``rows``-long split that the slice keeps.

        Args:
            rows: the whole split's length. source: where it came from (for the message). unit: what a row is there
                (``rows``, ``sentences``).

        Raises:
            DataError: the slice keeps none of them.
        """
        start, stop = self.bounds(rows)
        if start >= stop:
            raise DataError(f"split `{self.text}` keeps none of the {rows} {unit} of `{source}` (rows {start}:{stop}); "
                            "widen the slice")
        return range(start, stop)


def parse_split(split: str) -> SplitSlice:
    """Read ``name`` or ``name[start:stop]``; each bound is empty, an int (rows) or an int percent (``90%``).

    Raises:
        DataError: a bracket that is not a ``[start:stop]`` slice, or a bound that is not an int / percent, naming
            the split and the accepted forms.
    """
    split = str(split)
    if "[" not in split and "]" not in split:
        return SplitSlice(split, text=split)
    match = _SLICED.match(split.strip())
    if match is None:
        raise DataError(f"split `{split}` is not a split name or a slice of one; write e.g. `dev`, `dev[:90%]`, "
                        "`dev[90%:]` or `train[100:200]`")
    bounds = []
    for key in ("start", "stop"):
        text = match.group(key)
        if not text.strip():
            bounds.append(None)
            continue
        bound = _BOUND.match(text)
        if bound is None:
            raise DataError(f"split `{split}`: `{text}` is not a row number or a percent (like `90%`)")
        number, percent = int(bound.group(1)), bound.group(2)
        if percent and not -100 <= number <= 100:
            raise DataError(f"split `{split}`: {number}% is outside -100%..100%")
        bounds.append(float(number) if percent else number)
    return SplitSlice(match.group("name").strip(), *bounds, text=split)
