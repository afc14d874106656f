"""The report: per-variant summaries, the verdicts on the targets, the table (terminal and Markdown), the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess

import torch

# (key, label, format, better) of the per-variant rows; the targets compare hezar_accel against raw.
ROWS = [
    ("train_samples_per_s", "train samples/s (after warm-up)", "{:.1f}", "higher"),
    ("train_tokens_per_s", "train tokens/s (padded, after warm-up)", "{:.0f}", "higher"),
    ("eval_samples_per_s", "eval samples/s (hezar_accel: incl. loss + metrics; raw: forward + argmax)", "{:.1f}", "higher"),
    ("startup_s", "process start -> first optimizer step (s)", "{:.2f}", "lower"),
    ("peak_rss_mb", "peak RSS, train + eval (MiB)", "{:.0f}", "lower"),
    ("save_s", "checkpoint save, training blocked (s) (raw: torch.save of the same model + optimizer tensors, "
     "taking turns with the Trainer's saves; fastest of 3 per repetition)", "{:.3f}", "lower"),
    ("save_fsync_s", "checkpoint durable on disk (s) (raw: torch.save + fsync; hezar_accel: save + background "
     "fsync/marker/rename done; fastest of 3 per repetition)", "{:.3f}", "lower"),
    ("build_s", "Trainer construction (s) (first one is cold)", "{:.2f}", "lower"),
    ("resume_s", "resume (s) (raw: torch.load + load_state_dict)", "{:.3f}", "lower"),
    ("resume_early_s", "resume from the step-2 checkpoint (s): build Trainer + resume()", "{:.3f}", "lower"),
    ("resume_late_s", "resume from the last-step checkpoint (s): build Trainer + resume()", "{:.3f}", "lower"),
]


def summary(values: list[float], better: str) -> dict:
    best = max(values) if better == "higher" else min(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "best": best,
            "values": values}


def best_of_steps(reps: list[dict], unit: str) -> float:
    """Train throughput from each update's fastest time over the repetitions.

    Every repetition (and both variants) runs the same batches in the same order, so update ``i`` does the same work
    each time; other jobs on a shared machine only ever add time, so the per-update minimum filters their bursts.
    """
    seconds = [min(times) for times in zip(*(r["step_s"] for r in reps))]
    return sum(reps[0][f"step_{unit}"][:len(seconds)]) / sum(seconds)


def best_of_eval_segments(reps: list[dict]) -> float:
    """Eval throughput from each segment's fastest time over all timed passes (see ``timing.EvalClock``).

    Falls back to the fastest whole pass when a variant has no segments or its passes were cut differently.
    """
    segments = [pass_ for r in reps for pass_ in r.get("eval_segments_s", [])]
    if segments and len({len(s) for s in segments}) == 1:
        return reps[0]["eval_pass_samples"][0] / sum(min(times) for times in zip(*segments))
    passes = [(n, t) for r in reps for n, t in zip(r["eval_pass_samples"], r["eval_pass_s"])]
    return max(n / t for n, t in passes)


def variant_entry(reps: list[dict]) -> dict:
    entry = {key: summary([r[key] for r in reps], better) for key, _, _, better in ROWS if key in reps[0]}
    entry["train_samples_per_s"]["best"] = best_of_steps(reps, "samples")
    entry["train_tokens_per_s"]["best"] = best_of_steps(reps, "tokens")
    entry["eval_samples_per_s"]["best"] = best_of_eval_segments(reps)
    return entry


def evaluate_targets(report: dict) -> dict:
    """Verdicts on the noise-robust ``best`` numbers (peak RSS: median); the medians' ratios are shown beside."""
    def get(variant: str, key: str, stat: str = "best") -> float:
        return report[variant][key][stat]

    train, evaluation = (get("hezar_accel", k) / get("raw", k) for k in ("train_samples_per_s", "eval_samples_per_s"))
    train_m, eval_m = (get("hezar_accel", k, "median") / get("raw", k, "median")
                       for k in ("train_samples_per_s", "eval_samples_per_s"))
    startup = get("hezar_accel", "startup_s") - get("raw", "startup_s")
    rss = get("hezar_accel", "peak_rss_mb", "median") / get("raw", "peak_rss_mb", "median")
    save = get("hezar_accel", "save_s") / get("raw", "save_s")
    durable = get("hezar_accel", "save_fsync_s") / get("raw", "save_fsync_s")
    early, late = get("hezar_accel", "resume_early_s"), get("hezar_accel", "resume_late_s")
    return {
        "train": {"value": train, "median_ratio": train_m, "shown": f"{train:.3f}x (medians {train_m:.3f}x)",
                  "target": ">= 0.97x raw", "pass": train >= 0.97},
        "eval": {"value": evaluation, "median_ratio": eval_m, "shown": f"{evaluation:.3f}x (medians {eval_m:.3f}x)",
                 "target": ">= 0.95x raw", "pass": evaluation >= 0.95},
        "startup": {"value": startup, "shown": f"{startup:+.2f} s", "target": "<= raw + 1.5 s", "pass": startup <= 1.5},
        "peak_rss": {"value": rss, "shown": f"{rss:.3f}x", "target": "<= 1.15x raw", "pass": rss <= 1.15},
        "save": {"value": save, "shown": f"{save:.2f}x", "target": "<= 1.5x torch.save", "pass": save <= 1.5},
        "save_durable": {"value": durable, "shown": f"{durable:.2f}x", "target": "reference (no target): the fair durable baseline",
                         "pass": None},
        "resume": {"value": late / early, "shown": f"late/early {late / early:.2f}",
                   "target": "independent of the step (abs(late - early) <= 20% + 50 ms)",
                   "pass": abs(late - early) <= 0.2 * early + 0.05},
    }


TARGET_OF_ROW = {"train_samples_per_s": "train", "eval_samples_per_s": "eval", "startup_s": "startup",
                 "peak_rss_mb": "peak_rss", "save_s": "save", "save_fsync_s": "save_durable",
                 "resume_late_s": "resume"}


def _cell(entry: dict | None, fmt: str) -> str:
    if not entry:
        return "-"
    spread = f"{fmt.format(entry['median'])} [{fmt.format(entry['min'])}–{fmt.format(entry['max'])}]"
    return f"{fmt.format(entry['best'])}; {spread}" if "best" in entry else spread


def _verdict(target: dict | None) -> str:
    if not target or target["pass"] is None:  # no row target, or a figure shown for reference only
        return ""
    return "PASS" if target["pass"] else "FAIL"


def table_rows(report: dict) -> list[list[str]]:
    rows = []
    for key, label, fmt, _ in ROWS:
        target = report["targets"].get(TARGET_OF_ROW.get(key, ""))
        if not report["raw"].get(key) and not report["hezar_accel"].get(key):
            continue
        rows.append([label, _cell(report["raw"].get(key), fmt), _cell(report["hezar_accel"].get(key), fmt),
                     target["shown"] if target else "", target["target"] if target else "",
                     _verdict(target)])
    return rows


HEADER = ["metric", "raw: best; median [min–max]", "hezar_accel: best; median [min–max]", "hezar_accel vs raw",
          "target", "result"]


def peer_line(name: str, entry: dict) -> str:
    if "skipped" in entry or "error" in entry:
        return f"peer `{name}`: {entry.get('skipped') or 'failed: ' + entry['error']}"
    return (f"peer `{name}`: train {_cell(entry['train_samples_per_s'], '{:.1f}')} samples/s, "
            f"eval incl. metrics {_cell(entry['eval_samples_per_s'], '{:.1f}')} samples/s")


def markdown_block(report: dict) -> str:
    s, mach = report["settings"], report["machine"]
    lines = [f"Command: `{report['command']}`", "",
             f"Machine: {mach['cpu']}, {mach['cpus']} CPUs, torch {mach['torch']}, accelerate {mach['accelerate']}, "
             f"Python {mach['python']}; device `{s['device']}`, mixed precision `{s['mixed_precision']}`, "
             f"{s['threads']} torch thread(s).",
             f"Load (`uptime`) before: `{mach['uptime_before']}`; after: `{mach['uptime_after']}`.", "",
             f"Workload `{s['workload']}`, preset `{s['preset']}` ({report['workload']['parameters']:,} parameters), "
             f"{report['workload']['train_samples']} train / {report['workload']['eval_samples']} eval samples, "
             f"batch {s['batch_size']} (eval {s['eval_batch_size']}), {s['max_steps']} updates per repetition of which "
             f"the first {s['warmup_steps']} are warm-up, {s['eval_passes']} timed eval passes per repetition, "
             f"{s['repeats']} interleaved repetitions (start-up and RSS: {s['repeats']} fresh processes per variant). "
             f"The run took {report['wall_s']:.0f} s.", "",
             "`best`: train = each update's fastest time over the repetitions (same batches every time), eval = "
             "each batch's fastest time over all timed passes (from its arrival to the next one's; the last one "
             "includes the metric computation), times = minimum. Verdicts use `best` (peak RSS: the median).", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(report)]
    lines += ["", f"Same work check: the largest per-step difference between the raw and the hezar_accel train loss "
                  f"(first repetition) is {report['loss_max_abs_diff']:.3g}.", ""]
    lines += [f"- {peer_line(name, entry)}" for name, entry in report["peers"].items()]
    passed = [k for k, t in report["targets"].items() if t["pass"] is True]
    failed = [k for k, t in report["targets"].items() if t["pass"] is False]
    lines += ["", f"Targets passed: {', '.join(passed) or 'none'}; failed: {', '.join(failed) or 'none'}."]
    return "\n".join(lines)



def print_table(report: dict) -> None:
    rows = [HEADER] + table_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"loss max |raw - hezar_accel| = {report['loss_max_abs_diff']:.3g}")
    for name, entry in report["peers"].items():
        print(peer_line(name, entry))


def machine_info() -> dict:
    import accelerate

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    if torch.cuda.is_available():
        cpu += f" + {torch.cuda.get_device_name()}"
    return {"cpu": cpu, "cpus": os.cpu_count(), "torch": torch.__version__, "accelerate": accelerate.__version__,
            "python": platform.python_version(), "uptime_before": _uptime()}


def _uptime() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
