"""Run logs: ``training_logs.csv`` (rewritten atomically, trimmed on resume) and accelerate trackers (TensorBoard)."""

from __future__ import annotations

import csv
import os
import time
from typing import Any

from ..constants import TRAINER_CSV_LOG_FILE


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


def start_run_logs(trainer) -> CSVLogger | None:
    """Open the run's logs (all processes call it; only the main process gets a CSV logger).

    On resume the run keeps its log folder: CSV rows after the checkpoint's step are dropped, and TensorBoard is told
    to purge events after it, so curves continue without a jump or a duplicate point.
    """
    from .setup import shared_run_name

    acc, state = trainer.accelerator, trainer.state
    if state.run_name is None:
        state.run_name = shared_run_name(acc)
    logger = None
    if acc.is_main_process:
        logger = CSVLogger(os.path.join(trainer.config.logs_path, state.run_name, TRAINER_CSV_LOG_FILE))
        logger.trim_after(state.global_step)
    if acc.log_with:
        acc.init_trackers(state.run_name, init_kwargs={"tensorboard": {"purge_step": state.global_step + 1}})
    return logger


def log_row(trainer, logs: dict[str, Any]) -> None:
    """Append ``logs`` to the CSV and send its numbers to the trackers at ``logs["step"]``."""
    if trainer.csv_logger is not None:
        trainer.csv_logger.log(logs)
    numbers = {k: v for k, v in logs.items() if k not in ("step", "epoch") and isinstance(v, (int, float))}
    if trainer.accelerator.log_with and numbers:
        trainer.accelerator.log(numbers, step=logs["step"])
    if any(k.startswith("evaluation.") for k in logs):
        trainer.state.log_history.append({k: v for k, v in logs.items() if k == "step" or k.startswith("evaluation.")})


def window_row(trainer, bar) -> dict[str, float]:
    """The logging window's row (mean train loss over all processes, LR, samples/s), then start the next window."""
    start_time, start_step = trainer._window_start
    elapsed = max(time.perf_counter() - start_time, 1e-9)
    samples = (trainer.state.global_step - start_step) * trainer.config.gradient_accumulation_steps \
        * trainer.config.batch_size * trainer.accelerator.num_processes
    window_mean = trainer._loss.reduce(trainer.accelerator, which=1)
    trainer._loss.reset_window()
    trainer._window_start = (time.perf_counter(), trainer.state.global_step)
    bar.set_postfix(loss=f"{window_mean:.4f}")
    return {"train.loss": window_mean, "train.learning_rate": trainer.lr_scheduler.get_last_lr()[0],
            "train.samples_per_second": samples / elapsed}


def end_run_logs(accelerator) -> None:
    """Close the trackers but keep the process group (unlike ``accelerator.end_training()``).

    ``trainer.save(...)`` / ``push_to_hub(...)`` after ``train()`` are collectives under several processes; the
    group is torn down when the interpreter exits.
    """
    import atexit

    for tracker in accelerator.trackers:
        tracker.finish()
    if accelerator.num_processes > 1 and not getattr(accelerator, "_hezar_accel_exit_hook", False):
        accelerator._hezar_accel_exit_hook = True
        atexit.register(accelerator.state.destroy_process_group)
