"""Pictures of a finished run: ``training_curves.png`` (train vs evaluation, per step) and, for classification,
``confusion_matrix.png``, written into the run's logs folder and sent to TensorBoard as images.

matplotlib is optional (``pip install 'hezar_accel[plots]'``): without it :func:`write_run_pictures` prints one line
and writes nothing. Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through ``pyplot``,
so no GUI backend or global figure state is touched (safe in a training script, a notebook or a thread).

The Trainer calls, on the main process after the last evaluation::

    write_run_pictures(log_folder, rows=csv_rows, confusion=(labels, predictions, id2label), trackers=accelerator)
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any, Iterable, Sequence

from ..constants import TRAINER_CSV_LOG_FILE

CURVES_FILE = "training_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
# One line, printed instead of the pictures when matplotlib is missing.
SKIPPED_LINE = ("training pictures skipped: matplotlib is not installed; install it with: "
                "pip install 'hezar_accel[plots]'  (or: pip install matplotlib)")
# A confusion matrix wider than this many classes is unreadable as a picture (and slow to draw): it is skipped.
MAX_CONFUSION_CLASSES = 60


def _number(value: Any) -> float | None:
    """A CSV cell (str or number) as a finite float, or None when empty or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def curve_series(csv_rows: Iterable[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """The points of each panel of :func:`training_curves_figure`, from the rows of ``training_logs.csv``.

    Args:
        csv_rows: dicts with ``step`` and ``train.<name>`` / ``evaluation.<name>`` columns (str or number values).

    Returns:
        quantity (``loss`` first, then each evaluation metric in first-seen order) -> ``{"train": [(step, value)],
        "evaluation": [(step, value)]}``; a quantity appears only when evaluation or train logs it.
        ``train.learning_rate`` and ``train.samples_per_second`` are not curves of the model's quality: left out.
    """
    series: dict[str, dict[str, list[tuple[float, float]]]] = {"loss": {"train": [], "evaluation": []}}
    for row in csv_rows:
        step = _number(row.get("step"))
        if step is None:
            continue
        for key, value in row.items():
            side, _, name = key.partition(".")
            number = _number(value)
            if side not in ("train", "evaluation") or number is None or name in ("learning_rate", "samples_per_second"):
                continue
            if name not in series and side == "train":
                continue  # a train-only figure other than the loss has no evaluation to compare with
            series.setdefault(name, {"train": [], "evaluation": []})[side].append((step, number))
    return {name: sides for name, sides in series.items() if sides["train"] or sides["evaluation"]}


def training_curves_figure(csv_rows: Iterable[dict]):
    """One panel per quantity: the train loss and each evaluation metric against the optimizer step, train vs eval.

    Args:
        csv_rows: the rows of ``training_logs.csv`` (see :func:`curve_series`).

    Returns:
        A ``matplotlib.figure.Figure`` (not registered with pyplot).

    Raises:
        ImportError: matplotlib is not installed.
    """
    from matplotlib.figure import Figure

    series = curve_series(list(csv_rows))
    panels = max(len(series), 1)
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(4.5 * columns, 3.4 * rows), dpi=100, layout="constrained")
    for index, (name, sides) in enumerate(series.items() or [("loss", {"train": [], "evaluation": []})]):
        axes = figure.add_subplot(rows, columns, index + 1)
        for side, style, color in (("train", "-", "tab:blue"), ("evaluation", "o-", "tab:orange")):
            if sides[side]:  # one color per side in every panel
                steps, values = zip(*sides[side])
                axes.plot(steps, values, style, color=color, label=side, markersize=4)
        axes.set_title(name)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        if sides["train"] or sides["evaluation"]:
            axes.legend()
    return figure


def confusion_counts(labels: Sequence[int], predictions: Sequence[int], num_classes: int) -> list[list[int]]:
    """``counts[true][predicted]`` over the samples; ids outside ``0..num_classes-1`` are ignored (e.g. -100)."""
    counts = [[0] * num_classes for _ in range(num_classes)]
    for true, predicted in zip(labels, predictions):
        true, predicted = int(true), int(predicted)
        if 0 <= true < num_classes and 0 <= predicted < num_classes:
            counts[true][predicted] += 1
    return counts


def confusion_matrix_figure(labels: Sequence[int], predictions: Sequence[int], id2label: dict):
    """The confusion matrix of a classification evaluation: rows are true classes, columns predicted ones.

    Args:
        labels: the true class ids of the evaluated samples.
        predictions: the predicted class ids, in the same order.
        id2label: class id (int or its string) -> label name.

    Returns:
        A ``matplotlib.figure.Figure`` with the counts written in the cells.

    Raises:
        ImportError: matplotlib is not installed. ValueError: labels and predictions differ in length.
    """
    from matplotlib.figure import Figure

    if len(labels) != len(predictions):
        raise ValueError(f"confusion matrix: {len(labels)} labels but {len(predictions)} predictions")
    names = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(len(id2label))]
    counts = confusion_counts(labels, predictions, len(names))
    size = min(1.5 + 0.6 * len(names), 24)
    figure = Figure(figsize=(size + 1.5, size), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"confusion matrix ({len(labels)} samples)")
    largest = max((max(row) for row in counts), default=0)
    for true, row in enumerate(counts):
        for predicted, count in enumerate(row):
            axes.text(predicted, true, str(count), ha="center", va="center",
                      color="white" if largest and count > largest / 2 else "black")
    return figure


def read_csv_rows(log_folder: str) -> list[dict]:
    """The rows of ``<log_folder>/training_logs.csv`` (empty when the file is missing)."""
    path = os.path.join(log_folder, TRAINER_CSV_LOG_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _rgb(figure):
    """The figure rendered as an ``(height, width, 3)`` uint8 array (for TensorBoard's add_image)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _tensorboard_writers(trackers) -> list:
    """The SummaryWriters among ``trackers`` (an Accelerator, or its ``trackers`` list)."""
    found = getattr(trackers, "trackers", trackers) or []
    # accelerate's TensorBoardTracker holds its SummaryWriter as `writer` once started (init_trackers starts it).
    writers = [getattr(t, "writer", None) for t in found if getattr(t, "name", None) == "tensorboard"]
    return [w for w in writers if w is not None]


def write_run_pictures(log_folder: str, rows: Iterable[dict] | None = None, confusion: tuple | None = None,
                       trackers=None, step: int | None = None) -> list[str]:
    """Write the run's pictures into ``log_folder`` and send them to TensorBoard. Call it on the main process.

    Args:
        log_folder: the run's logs folder (``<output_dir>/<logs_dir>/<run name>``).
        rows: the CSV log rows; None = read ``log_folder/training_logs.csv``.
        confusion: ``(labels, predictions, id2label)`` of the last evaluation of a classifier; None = no matrix.
        trackers: the Accelerator (or its trackers): an active ``tensorboard`` tracker gets the pictures as images.
        step: the TensorBoard step of the images; None = the last logged step.

    Returns:
        The paths written (empty when matplotlib is missing: one line says so and how to install it).
    """
    try:
        import matplotlib  # noqa: F401  (only to know whether the pictures can be drawn)
    except ImportError:
        print(SKIPPED_LINE, flush=True)
        return []
    rows = read_csv_rows(log_folder) if rows is None else list(rows)
    figures = {CURVES_FILE: training_curves_figure(rows)}
    if confusion is not None:
        labels, predictions, id2label = confusion
        if len(id2label) <= MAX_CONFUSION_CLASSES:
            figures[CONFUSION_FILE] = confusion_matrix_figure(labels, predictions, id2label)
    os.makedirs(log_folder, exist_ok=True)
    written = []
    for name, figure in figures.items():
        path = os.path.join(log_folder, name)
        figure.savefig(path)
        written.append(path)
    if step is None:
        steps = [_number(r.get("step")) for r in rows]
        step = int(max((s for s in steps if s is not None), default=0))
    for writer in _tensorboard_writers(trackers):
        for name, figure in figures.items():
            writer.add_image(f"pictures/{os.path.splitext(name)[0]}", _rgb(figure), step, dataformats="HWC")
        writer.flush()
    return written
