"""Timing: timestamps after each optimizer update, timed eval passes, and the helpers both variants share."""

from __future__ import annotations

import contextlib
import io
import os
import time

import torch


class StepClock:
    """Timestamps after each optimizer update, with the update's samples, padded tokens and loss."""

    def __init__(self, args):
        self.cuda = args.device == "cuda"
        self.sync_at = {args.warmup_steps - 1, args.max_steps - 1}
        self.times, self.samples, self.tokens, self.losses, self.first_wall = [], [], [], [], None

    def tick(self, batch: dict, loss) -> None:
        if self.cuda and len(self.times) in self.sync_at:
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        if self.first_wall is None:
            self.first_wall = time.time()
        self.samples.append(int(batch["labels"].shape[0]))
        self.tokens.append(int(batch["token_ids"].numel()))
        self.losses.append(loss)

    def throughput(self, warmup: int) -> dict:
        elapsed = self.times[-1] - self.times[warmup - 1]
        return {"train_samples_per_s": sum(self.samples[warmup:]) / elapsed,
                "train_tokens_per_s": sum(self.tokens[warmup:]) / elapsed,
                "train_s_per_step": elapsed / (len(self.times) - warmup), "steps": len(self.times),
                "step_s": [b - a for a, b in zip(self.times[warmup - 1:], self.times[warmup:])],
                "step_samples": self.samples[warmup:], "step_tokens": self.tokens[warmup:]}

    def loss_values(self) -> list[float]:
        return [float(x) for x in self.losses if x is not None]


def _sync(args) -> None:
    if args.device == "cuda":
        torch.cuda.synchronize()


class EvalClock:
    """Timestamps inside the timed eval passes: each variant calls :meth:`tick` as a batch reaches its model.

    With the pass's start and end they cut a pass into segments: the first fetch, then each batch's work up to the
    next batch's arrival (that fetch included), the last one ending with the metric computation. Every pass does the
    same work in the same order, so a segment's minimum over the passes filters other jobs' bursts (as the per-update
    minimum does for training). On a GPU the host runs ahead of the device, so a segment is where the host waited
    rather than where the kernels ran; each pass's segments still add up to its wall time.
    """

    def __init__(self):
        self.current: list[float] | None = None  # None outside a timed pass: the warm-up pass is not recorded

    def tick(self) -> None:
        if self.current is not None:
            self.current.append(time.perf_counter())


def timed_eval(args, evaluate, clock: EvalClock | None = None) -> dict:
    """``--eval-passes`` timed passes of ``evaluate()`` (which returns the samples it saw), after one warm-up pass.

    Returns:
        ``eval_samples_per_s`` (all passes), ``eval_pass_s`` / ``eval_pass_samples`` per pass and, with a
        ``clock``, ``eval_segments_s``: each pass's segment durations (see :class:`EvalClock`).
    """
    evaluate()
    samples, seconds, segments = [], [], []
    for _ in range(args.eval_passes):
        t0 = time.perf_counter()
        if clock is not None:
            clock.current = [t0]
        samples.append(evaluate())
        _sync(args)
        t1 = time.perf_counter()
        seconds.append(t1 - t0)
        if clock is not None:
            marks, clock.current = clock.current + [t1], None
            segments.append([b - a for a, b in zip(marks, marks[1:])])
    out = {"eval_samples_per_s": sum(samples) / sum(seconds), "eval_pass_s": seconds, "eval_pass_samples": samples}
    if clock is not None:
        out["eval_segments_s"] = segments
    return out


def counting(evaluate, samples: int, results: list | None = None):
    """``evaluate`` (stdout silenced) as a callable returning the number of samples it scored, for ``timed_eval``."""
    def call() -> int:
        result = quiet(evaluate)
        if results is not None:
            results.append(result)
        return samples
    return call


def _autocast(args):
    enabled = args.mixed_precision == "bf16"
    return torch.autocast(device_type=args.device, dtype=torch.bfloat16, enabled=enabled)


# Saves per repetition and variant: a single write of ~15 MB swings by 2x with the host's disk cache.
SAVES = 3


def fastest(actions: list, prepare=None, times: int = SAVES) -> list[float]:
    """Wall time of each action's fastest of ``times`` calls, the actions taking turns (A B A B ...).

    Taking turns gives them the same disk-cache and write-back conditions. ``prepare`` runs untimed before each call.
    """
    best = [float("inf")] * len(actions)
    for _ in range(times):
        for i, action in enumerate(actions):
            if prepare is not None:
                prepare()
            t0 = time.perf_counter()
            action()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def torch_save(obj, path: str, durable: bool = False) -> None:
    """``torch.save``; ``durable``: then fsync the file (what a checkpoint needs to survive a crash)."""
    torch.save(obj, path)
    if durable:
        with open(path, "rb+") as f:
            os.fsync(f.fileno())


def quiet(fn, *a, **kw):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **kw)
