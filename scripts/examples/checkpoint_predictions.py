"""The examples' last step: load the latest checkpoint as a user would and compare its predictions with the test set."""

from __future__ import annotations

import csv
import os

from hezar_accel.models import Model
from hezar_accel.trainer.checkpoint import find_latest


def predict_from_checkpoint(checkpoints_path: str, data: str, count: int, reference_column: str) -> None:
    """Load the latest checkpoint folder with ``Model.load`` and print its predictions for ``count`` test files.

    Args:
        checkpoints_path: the run's checkpoint folder (``trainer.config.checkpoints_path``).
        data: a data folder whose ``test.csv`` has a ``path`` column (relative to ``data``) and ``reference_column``.
        count: how many test rows to predict.
        reference_column: the column holding each file's expected text.
    """
    latest = find_latest(checkpoints_path)
    if latest is None:
        print("no checkpoint was saved; nothing to predict with")
        return
    model = Model.load(latest)
    with open(os.path.join(data, "test.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:count]
    print(f"predictions of the model saved in {latest}:")
    for row, output in zip(rows, model.predict([os.path.join(data, row["path"]) for row in rows])):
        expected = row[reference_column]
        mark = "ok " if output["text"] == expected else "ERR"
        print(f"  {mark} {row['path']}: predicted {output['text']!r}, reference {expected!r}")
