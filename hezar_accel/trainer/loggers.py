"""Run logs: ``training_logs.csv`` (rewritten atomically, trimmed on resume), accelerate trackers (TensorBoard), and\nthe running train loss and throughput behind their rows (:class:`RunLog`)."""

from __future__ import annotations

import csv
import os
import time
from typing import Any

import torch

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


def shared_run_name(accelerator) -> str:
    """A timestamp run name chosen by the main process and shared, so every process logs under one name."""
    from accelerate.utils import broadcast_object_list

    name = [time.strftime("%Y-%m-%d_%H-%M-%S")]
    if accelerator.num_processes > 1:
        broadcast_object_list(name, from_process=0)
    return name[0]


class RunningLoss:
    """Train-loss sums kept on the device (no host sync per step), for the epoch ([0]) and the logging window ([1]).

    Args:
        device: where the accumulator lives (the training device).
    """

    def __init__(self, device: torch.device):
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.sums = torch.zeros(2, dtype=dtype, device=device)
        self.counts = [0, 0]

    def add(self, loss: torch.Tensor) -> None:
        self.sums += loss.to(self.sums.dtype)
        self.counts[0] += 1
        self.counts[1] += 1

    def zero_(self) -> None:
        self.sums.zero_()
        self.counts = [0, 0]

    def reset_window(self) -> None:
        self.sums[1] = 0
        self.counts[1] = 0

    def gather_all(self, accelerator) -> tuple[list, list]:
        """Every process's sums and counts (a collective): ``([[epoch, window] per rank], [[n, n] per rank])``."""
        sums = accelerator.gather(self.sums.unsqueeze(0)).cpu().view(-1, 2).tolist()
        counts = accelerator.gather(torch.tensor([self.counts], device=self.sums.device)).cpu().view(-1, 2).tolist()
        return sums, counts

    def reduce(self, accelerator, which: int) -> float:
        """Mean loss over all processes for the epoch (0) or the window (1); a collective, summed in rank order."""
        sums, counts = self.gather_all(accelerator)
        total = sum(s[which] for s in sums)
        n = sum(c[which] for c in counts)
        return total / n if n else float("nan")

    def load(self, sums: list[float], counts: list[int]) -> None:
        self.sums.copy_(torch.tensor(sums, dtype=self.sums.dtype))
        self.counts = [int(c) for c in counts]


class RunLog:
    """A run's logs and the running figures behind them.

    Owns the CSV log (main process), the accelerate trackers (TensorBoard, ...), the train-loss sums of the epoch and
    of the logging window (:class:`RunningLoss`, restored exactly on resume through the trainer state) and the
    window's throughput clock. Evaluation rows also go to ``state.log_history``.

    Args:
        accelerator: the run's Accelerator (trackers, collectives).
        config: the TrainerConfig (logs folder, batch size, accumulation).
        state: the TrainerState (run name, global step, log history).
    """

    def __init__(self, accelerator, config, state):
        self.accelerator, self.config, self.state = accelerator, config, state
        self.loss = RunningLoss(accelerator.device)
        self.csv: CSVLogger | None = None
        self._window_start = (time.perf_counter(), 0)

    def open(self) -> None:
        """Open the logs (all processes; the CSV on the main one), after a resume decided the run name and step.

        On resume the run keeps its log folder: CSV rows after the checkpoint's step are dropped, and TensorBoard is
        told to purge events after it, so curves continue without a jump or a duplicate point.
        """
        acc, state = self.accelerator, self.state
        if state.run_name is None:
            state.run_name = shared_run_name(acc)
        if acc.is_main_process:
            self.csv = CSVLogger(os.path.join(self.config.logs_path, state.run_name, TRAINER_CSV_LOG_FILE))
            self.csv.trim_after(state.global_step)
        if acc.log_with:
            acc.init_trackers(state.run_name, init_kwargs={"tensorboard": {"purge_step": state.global_step + 1}})

    def start_window(self) -> None:
        """Start timing a logging window at the current step (at each epoch start and after each window row)."""
        self._window_start = (time.perf_counter(), self.state.global_step)

    def window_row(self, learning_rate: float) -> dict[str, float]:
        """The window's row (mean train loss over all processes, LR, samples/s), then start the next window; a collective."""
        start_time, start_step = self._window_start
        elapsed = max(time.perf_counter() - start_time, 1e-9)
        c = self.config
        samples = (self.state.global_step - start_step) * c.gradient_accumulation_steps * c.batch_size \
            * self.accelerator.num_processes
        window_mean = self.loss.reduce(self.accelerator, which=1)
        self.loss.reset_window()
        self.start_window()
        return {"train.loss": window_mean, "train.learning_rate": learning_rate, "train.samples_per_second": samples / elapsed}

    def epoch_loss(self) -> float:
        """The epoch's mean train loss over all processes (a collective)."""
        return self.loss.reduce(self.accelerator, which=0)

    def log(self, row: dict[str, Any]) -> None:
        """Append ``row`` to the CSV and send its numbers to the trackers at ``row["step"]``."""
        if self.csv is not None:
            self.csv.log(row)
        numbers = {k: v for k, v in row.items() if k not in ("step", "epoch") and isinstance(v, (int, float))}
        if self.accelerator.log_with and numbers:
            self.accelerator.log(numbers, step=row["step"])
        if any(k.startswith("evaluation.") for k in row):
            self.state.log_history.append({k: v for k, v in row.items() if k == "step" or k.startswith("evaluation.")})

    def write_pictures(self, confusion: tuple | None = None) -> list[str]:
        """Draw the run's pictures into its logs folder and send them to TensorBoard (main process; others: no-op).

        Call it after the last evaluation and before :meth:`close` (which finishes the trackers).

        Args:
            confusion: ``(labels, predictions, id2label)`` of the last evaluation of a classifier; None = curves only.

        Returns:
            The files written (see :func:`hezar_accel.trainer.plots.write_run_pictures`).
        """
        if self.csv is None:  # not the main process, or the logs were never opened
            return []
        from .plots import write_run_pictures

        return write_run_pictures(os.path.dirname(self.csv.path), rows=self.csv.rows, confusion=confusion,
                                  trackers=self.accelerator, step=self.state.global_step)

    def close(self) -> None:
        """Close the trackers but keep the process group (unlike ``accelerator.end_training()``).

        ``trainer.save(...)`` / ``push_to_hub(...)`` after ``train()`` are collectives under several processes; the
        group is torn down when the interpreter exits.
        """
        import atexit

        acc = self.accelerator
        for tracker in acc.trackers:
            tracker.finish()
        if acc.num_processes > 1 and not getattr(acc, "_hezar_accel_exit_hook", False):
            acc._hezar_accel_exit_hook = True
            atexit.register(acc.state.destroy_process_group)
