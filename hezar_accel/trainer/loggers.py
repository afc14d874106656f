"""Run logs: ``training_logs.csv`` (rewritten atomically, trimmed on resume) and accelerate trackers (TensorBoard)."""

from __future__ import annotations

import csv
import os
from typing import Any


class CSVLogger:
    """One CSV row per logging event; columns are the union of all keys, in first-seen order.

    The file is rewritten in full (temp file + rename) at each event: it stays small (one row per log/eval event),
    a crash never leaves a torn row, and new columns (e.g. evaluation metrics after the first epoch) extend the
    header of earlier rows.

    Args:
        path: the CSV file (its folder is created).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        if os.path.isfile(self.path):
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or [])
                self.rows = [{k: v for k, v in row.items() if v != ""} for row in reader]

    def trim_after(self, step: int) -> None:
        """Drop rows logged after ``step``: on resume, the killed run's rows past its checkpoint are replayed anyway."""
        self.rows = [r for r in self.rows if int(float(r["step"])) <= step]
        self._write()

    def log(self, row: dict[str, Any]) -> None:
        """Append ``row`` (must contain ``step``) and rewrite the file."""
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append({k: _fmt(v) for k, v in row.items()})
        self._write()

    def _write(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)


def _fmt(value: Any) -> Any:
    # repr-exact floats: two runs with bitwise-equal results write byte-equal CSV files.
    return repr(float(value)) if isinstance(value, float) else value
