#!/usr/bin/env python
"""The hezar_accel Trainer side by side with a minimal hand-written PyTorch loop (the floor), in one invocation.

Both variants get the same model weights, tokenized data, collator, batch order, optimizer (AdamW, same parameter
groups, LR schedule and gradient clipping), threads and seed, and run interleaved (raw, hezar_accel, raw, ...).
Both are timed the same way, from outside the step: a timestamp after every optimizer update; train throughput
counts the samples of the updates after ``--warmup-steps``. Their per-step losses are compared as a check that the
two do the same work.

    python scripts/benchmark.py --preset small --repeats 3 --json /tmp/bench.json --markdown BENCHMARKS.md

Measured: train samples/s (and padded tokens/s); eval samples/s (hezar_accel: ``trainer.evaluate()`` with its
metrics; raw: forward + argmax only); time from process start to the first optimizer update and peak RSS (fresh
subprocesses: ``--startup raw|hezar_accel``); checkpoint save time (``trainer.save_checkpoint()`` vs ``torch.save``
of the model and optimizer state dicts); resume time from an early and a late checkpoint. Peers (🤗 Transformers
Trainer, Hezar's Trainer) run only when installed (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time

for _key, _value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("HF_EVALUATE_OFFLINE", "1"),
                     ("TOKENIZERS_PARALLELISM", "false"), ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")):
    os.environ.setdefault(_key, _value)

import torch  # noqa: E402

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
if SCRIPTS not in sys.path:  # run as a file it is there already; loaded by path (the tests), it is not
    sys.path.insert(0, SCRIPTS)

from bench.peers import _peer_installed, run_peers  # noqa: E402
from bench.processes import run_child, seconds_since_start, startup_main  # noqa: E402,F401  (re-exported)
from bench.raw import run_raw  # noqa: E402
from bench.report import (_uptime, evaluate_targets, machine_info, markdown_block, print_table,  # noqa: E402
                          variant_entry)
from bench.trainer_runs import early_checkpoint, run_hezar_accel, time_resume  # noqa: E402
from bench.workload import PRESETS, WORKLOADS, Workload, build_workload  # noqa: E402

VARIANTS = ("raw", "hezar_accel")
PEERS = ("transformers", "hezar")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="text_classification")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--mixed-precision", choices=["no", "bf16"], default="no")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1: no oversubscription on 2 cores)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions of every variant")
    p.add_argument("--max-steps", type=int, default=60, help="optimizer updates per training repetition")
    p.add_argument("--warmup-steps", type=int, default=None, help="updates left out of the throughput (default: ~1/6)")
    p.add_argument("--eval-passes", type=int, default=3, help="timed passes over the eval set (after one warm-up pass)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", metavar="PATH", help="write every number here")
    p.add_argument("--markdown", metavar="PATH", help="write/refresh the result table in this Markdown file")
    p.add_argument("--no-peers", action="store_true", help="do not run the 🤗 Transformers / Hezar trainers")
    p.add_argument("--startup", choices=VARIANTS, help="internal: one fresh-process run of a variant (prints JSON)")
    p.add_argument("--tokenizer-dir", help="internal: the run's cached tokenizer")
    p.add_argument("--data-dir", help="override the workload's data folder")
    args = p.parse_args(argv)
    if args.max_steps < 2:
        p.error("--max-steps must be >= 2")
    if args.warmup_steps is None:
        args.warmup_steps = max(1, args.max_steps // 6)
    args.warmup_steps = min(max(1, args.warmup_steps), args.max_steps - 1)
    return args


# The Markdown file is written here, by the entry point: ``write_markdown`` looks ``markdown_block`` up in this module.
BEGIN, END = "<!-- benchmark:begin -->", "<!-- benchmark:end -->"


def write_markdown(path: str, report: dict) -> None:
    """Refresh the block between the markers (text around it is kept), or write a new file."""
    block = f"{BEGIN}\n{markdown_block(report)}\n{END}"
    text = open(path, encoding="utf-8").read() if os.path.isfile(path) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = f"# Benchmarks\n\n{block}\n" if not text else f"{text.rstrip()}\n\n{block}\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# -- orchestration ------------------------------------------------------------------------------------------------
def measure(args, work: Workload, tmp: str, peers: dict) -> dict:
    """All in-process and fresh-process measurements, every loop interleaved across variants."""
    runs = {v: [] for v in VARIANTS}
    for rep in range(args.repeats):
        running = [p for p in peers if not peers[p]]
        print(f"repetition {rep + 1}/{args.repeats}: raw, hezar_accel{''.join(', ' + p for p in running)}", flush=True)
        runs["raw"].append(run_raw(work, tmp))
        gc.collect()
        runs["hezar_accel"].append(run_hezar_accel(work, tmp, rep))
        runs["raw"][-1].update(runs["hezar_accel"][-1].pop("baseline"))  # raw's saves are timed beside the Trainer's
        gc.collect()
        run_peers(work, tmp, rep, runs, peers)
    print("resume from an early and a late checkpoint", flush=True)
    early, late = early_checkpoint(work, tmp), runs["hezar_accel"][-1]["late_checkpoint"]
    for rep in range(args.repeats):
        runs["hezar_accel"][rep]["resume_early_s"] = time_resume(work, early, tmp, f"early{rep}")
        runs["hezar_accel"][rep]["resume_late_s"] = time_resume(work, late, tmp, f"late{rep}")
        gc.collect()
    print("fresh processes: start-up time and peak RSS", flush=True)
    for rep in range(args.repeats):
        for variant in VARIANTS:
            runs[variant][rep].update(run_child(args, work, variant))
    return runs


def build_report(args, work: Workload, runs: dict, peers: dict, started: float, machine: dict) -> dict:
    report = {"command": "python scripts/benchmark.py " + " ".join(sys.argv[1:]), "wall_s": time.time() - started,
              "settings": {k: v for k, v in vars(args).items() if k not in ("startup", "tokenizer_dir")},
              "machine": {**machine, "uptime_after": _uptime()}}
    model = work.make_model()
    report["workload"] = {"parameters": sum(p.numel() for p in model.parameters()), "train_samples": len(work.train),
                          "eval_samples": len(work.eval), "data_dir": os.path.abspath(work.data_dir)}
    for variant, reps in runs.items():
        if variant in VARIANTS:
            report[variant] = variant_entry(reps)
        else:
            peers[variant] = variant_entry(reps)
    report["hezar_accel"]["eval_results"] = runs["hezar_accel"][-1]["eval_results"]
    raw_losses, hezar_losses = runs["raw"][0]["losses"], runs["hezar_accel"][0]["losses"]
    report["loss_max_abs_diff"] = max(abs(a - b) for a, b in zip(raw_losses, hezar_losses))
    report["peers"] = peers
    report["runs"] = runs  # every repetition's numbers, per-update times included
    report["targets"] = evaluate_targets(report)
    report["train_throughput_ratio"] = report["targets"]["train"]["value"]
    report["eval_throughput_ratio"] = report["targets"]["eval"]["value"]
    report["train_throughput_ratio_of_medians"] = report["targets"]["train"]["median_ratio"]
    report["eval_throughput_ratio_of_medians"] = report["targets"]["eval"]["median_ratio"]
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.startup:
        return startup_main(args)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but no GPU is visible", file=sys.stderr)
        return 2
    started, machine = time.time(), machine_info()
    torch.set_num_threads(args.threads)
    peers = {p: ({} if (not args.no_peers and _peer_installed(p)) else {"skipped": "skipped (not installed)"
              if not args.no_peers else "skipped (--no-peers)"}) for p in PEERS}
    with tempfile.TemporaryDirectory(prefix="hezar_accel_bench_") as tmp:
        work = build_workload(args, tmp)
        runs = measure(args, work, tmp, peers)
        report = build_report(args, work, runs, peers, started, machine)
    print_table(report)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, default=str)
    if args.markdown:
        write_markdown(args.markdown, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
