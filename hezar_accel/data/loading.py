"""Read a split of tabular data (CSV/TSV/JSON/JSONL/Parquet, a folder of them, or a Hub dataset) into 🤗 ``datasets``."""

from __future__ import annotations

import os

from ..errors import DataError, closest
from ..hub import looks_like_repo_id, resolve_folder
from .splits import parse_split

# Extension -> (datasets builder, extra builder kwargs).
READERS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
}


def find_split_file(folder: str, split: str, extensions=tuple(READERS)) -> str:
    """Return ``folder/<split>.<ext>`` for the first supported extension present.

    Raises:
        DataError: no file for that split (the message lists the files that are there).
    """
    for ext in extensions:
        candidate = os.path.join(folder, f"{split}{ext}")
        if os.path.isfile(candidate):
            return candidate
    present = sorted(os.listdir(folder))
    raise DataError(
        f"No `{split}` split in `{folder}`: expected a file named {split}{{{','.join(extensions)}}}; found {present}. "
        "Pass split= one of the files' names, or a file path."
    )


def read_table(file_path: str):
    """Read one data file into a ``datasets.Dataset`` (columns as in the file).

    Raises:
        DataError: unsupported extension, unreadable or empty file.
    """
    import datasets

    ext = os.path.splitext(file_path)[1].lower()
    if ext not in READERS:
        raise DataError(f"`{file_path}`: unsupported file type `{ext}`; supported: {', '.join(READERS)}.")
    builder, kwargs = READERS[ext]
    if os.path.getsize(file_path) == 0:
        raise DataError(f"`{file_path}` is empty.")
    try:
        table = datasets.load_dataset(builder, data_files={"data": file_path}, split="data", **kwargs)
    except Exception as e:
        if "corresponds to no data" in str(e):  # datasets' wording for a header-only file
            raise DataError(f"`{file_path}` has no rows (only a header?).") from None
        raise DataError(f"Could not read `{file_path}` as {builder}: {type(e).__name__}: {e}") from e
    if len(table) == 0:
        raise DataError(f"`{file_path}` has no rows (only a header?).")
    return table


def load_split(path: str, split: str | None, data_files: dict | None = None):
    """Load ``split`` from a data file, a folder of ``<split>.<ext>`` files, or a Hub dataset id.

    Args:
        path: a file, a folder, or a Hub dataset repo id.
        split: split name (``train``, ``test`` ...), or a contiguous slice of one in 🤗 datasets' syntax
            (``train[:90%]``, ``train[90%:]``, ``train[:500]``; see :mod:`hezar_accel.data.splits`), e.g. to carve a
            dev set out of a folder that ships only train and test; ignored when ``path`` is a file.
        data_files: optional split -> file name (relative to the folder) mapping from the dataset config.

    Returns:
        ``(table, source)``: a ``datasets.Dataset`` and a description of where it came from (for error messages).

    Raises:
        DataError: the split or file cannot be found or read, it has no rows, or a slice keeps none of them.
        HubError: a repo id that cannot be downloaded (or, offline, is not cached).
    """
    part = parse_split(split) if split is not None else None
    if part is None or part.is_whole:
        return _load_whole_split(path, split, data_files)
    table, source = _load_whole_split(path, part.name, data_files)
    kept = part.kept(len(table), source)
    return table.select(kept), SliceSource(source, split, kept.start)


class SliceSource(str):
    """The file a sliced split came from. Its value is the file's path, so callers resolve relative paths (images,
    audio) against it as for a whole split; formatted into a message (``f"{source}"``) it also names the slice and
    where it starts, because the row numbers the datasets report count from the slice's first row.

    Args:
        path: the split's file. split: the split as written (``train[90%:]``). start: the file row of the slice's
            row 0 (data rows, from 0, not counting a header).
    """

    def __new__(cls, path: str, split: str, start: int):
        source = super().__new__(cls, path)
        source.split, source.start = split, start
        return source

    def __format__(self, spec: str) -> str:
        return format(f"{str.__str__(self)} [split {self.split}: its row 0 is the file's row {self.start}]", spec)


def _load_whole_split(path: str, split: str | None, data_files: dict | None):
    path = os.fspath(path)
    if os.path.isfile(path):
        return read_table(path), path
    if os.path.isdir(path):
        if data_files and split in data_files:
            file_path = os.path.join(path, data_files[split])
        elif data_files and split not in data_files:
            raise DataError(f"split: `{split}` is not in the dataset's data_files{closest(split, data_files)}; valid: {sorted(data_files)}")
        else:
            file_path = find_split_file(path, split)
        return read_table(file_path), file_path
    if looks_like_repo_id(path):  # a Hub dataset repo: snapshot it into the HF cache, then read it as a folder
        return _load_whole_split(resolve_folder(path, repo_type="dataset"), split, data_files)
    raise DataError(f"`{path}` is neither a data file, a folder, nor a Hub dataset id.")


def require_columns(table, columns: dict[str, str | None], source: str) -> None:
    """Check that every configured column exists.

    Args:
        columns: config field name -> column name (None entries are skipped).

    Raises:
        DataError: naming the config field, the missing column, the closest existing column and the file.
    """
    problems = []
    for field_name, column in columns.items():
        if column is not None and column not in table.column_names:
            problems.append(f"{field_name}: column `{column}` not found{closest(column, table.column_names)}")
    if problems:
        raise DataError(f"`{source}` (columns: {table.column_names}): " + "; ".join(problems))
