"""Fresh processes: start-up time and peak RSS (the benchmark re-runs itself with ``--startup raw|hezar_accel``)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch

from .raw import raw_eval, raw_train
from .timing import StepClock, quiet
from .trainer_runs import build_trainer
from .workload import Workload, build_workload

RESULT_PREFIX = "BENCH_RESULT "
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmark.py")  # the entry point


def seconds_since_start() -> float | None:
    """Since the parent spawned this process (env), else since the kernel started it (/proc)."""
    if os.environ.get("BENCH_SPAWN_TIME"):
        return time.time() - float(os.environ["BENCH_SPAWN_TIME"])
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            return float(f.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def startup_main(args) -> int:
    """Child process: build everything, train ``--max-steps`` updates and evaluate; report start-up and peak RSS."""
    now = time.time()
    since = seconds_since_start()
    start_wall = now - since if since is not None else now
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_child_") as tmp:
        work = build_workload(args, tmp)
        clock = StepClock(args)
        if args.startup == "raw":
            model, _ = raw_train(work, clock)
            raw_eval(work, model)
        else:
            trainer = build_trainer(work, os.path.join(tmp, "out"))
            trainer.bench_clock = clock
            quiet(trainer.train)
            quiet(trainer.evaluate)
    print(RESULT_PREFIX + json.dumps({"variant": args.startup, "startup_s": clock.first_wall - start_wall,
                                      "peak_rss_mb": peak_rss_mb()}))
    return 0


def peak_rss_mb() -> float:
    """Peak resident memory of this process's own address space (MiB).

    ``getrusage().ru_maxrss`` survives fork and exec on Linux: a child spawned by this (large) benchmark process would
    report at least the parent's peak. ``VmHWM`` belongs to the address space made by exec, so it is the child's own.
    """
    with contextlib.suppress(OSError, StopIteration, ValueError):
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("VmHWM:")).split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_args(args, work: Workload, variant: str) -> list[str]:
    argv = [sys.executable, SCRIPT, "--startup", variant, "--workload", args.workload,
            "--preset", args.preset, "--device", args.device, "--mixed-precision", args.mixed_precision,
            "--threads", str(args.threads), "--max-steps", str(args.max_steps), "--warmup-steps", str(args.warmup_steps),
            "--eval-passes", str(args.eval_passes), "--batch-size", str(args.batch_size), "--eval-batch-size", str(args.eval_batch_size), "--seed", str(args.seed),
            "--tokenizer-dir", work.info["tokenizer_dir"], "--data-dir", work.data_dir]
    return argv


def run_child(args, work: Workload, variant: str) -> dict:
    argv = child_args(args, work, variant)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "BENCH_SPAWN_TIME": repr(time.time())}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1200)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])
