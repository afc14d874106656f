"""scripts/benchmark.py runs end to end on the tiny preset and reports what the issue asks for (no timing asserts)."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "benchmark.py")


def load_script():
    spec = importlib.util.spec_from_file_location("benchmark_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    path, markdown = out / "bench.json", out / "BENCH.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    completed = subprocess.run([sys.executable, SCRIPT, "--preset", "tiny", "--repeats", "1", "--max-steps", "5",
                                "--no-peers", "--json", str(path), "--markdown", str(markdown)],
                               capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    with open(path, encoding="utf-8") as f:
        return json.load(f), markdown.read_text(encoding="utf-8"), completed.stdout


def positive_float(value) -> bool:
    return isinstance(value, float) and value > 0 and math.isfinite(value)


@pytest.mark.slow
def test_the_json_has_both_ratios_as_positive_floats(report):
    data, _, _ = report
    assert positive_float(data["train_throughput_ratio"])
    assert positive_float(data["eval_throughput_ratio"])


@pytest.mark.slow
def test_every_variant_has_every_measurement(report):
    data, _, _ = report
    for key in ("train_samples_per_s", "train_tokens_per_s", "eval_samples_per_s", "startup_s", "peak_rss_mb",
                "save_s", "save_fsync_s"):
        for variant in ("raw", "hezar_accel"):
            entry = data[variant][key]
            assert entry["min"] <= entry["median"] <= entry["max"] and len(entry["values"]) == 1, (variant, key)
            assert positive_float(float(entry["median"])), (variant, key)
    for key in ("resume_early_s", "resume_late_s", "build_s"):
        assert positive_float(data["hezar_accel"][key]["median"]), key
    assert set(data["targets"]) == {"train", "eval", "startup", "peak_rss", "save", "save_durable", "resume"}
    assert all(isinstance(t["pass"], bool) for k, t in data["targets"].items() if k != "save_durable")
    assert data["targets"]["save_durable"]["pass"] is None  # shown for reference, not an issue target


@pytest.mark.slow
def test_both_variants_did_the_same_work(report):
    # Same weights, batches, dropout stream and optimizer: the per-step losses agree (bitwise on CPU). If this fails,
    # the raw loop no longer mirrors the Trainer and the ratios compare different work.
    data, _, _ = report
    assert data["loss_max_abs_diff"] <= 1e-6


@pytest.mark.slow
def test_the_table_is_printed_and_written_with_a_verdict_per_target(report):
    _, markdown, stdout = report
    assert "hezar_accel vs raw" in stdout and "peer `transformers`: skipped" in stdout
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert sum(("PASS" in r) or ("FAIL" in r) for r in rows) == 6
    assert "uptime" in markdown.lower() or "load average" in markdown


def test_markdown_refresh_keeps_the_hand_written_text_around_the_table(tmp_path):
    bench = load_script()
    path = tmp_path / "B.md"
    path.write_text(f"# Title\n\nintro\n\n{bench.BEGIN}\nold table\n{bench.END}\n\n## Notes\nkept\n", encoding="utf-8")
    bench.markdown_block = lambda report: "new table"
    bench.write_markdown(str(path), {})
    text = path.read_text(encoding="utf-8")
    assert "old table" not in text and "new table" in text
    assert text.startswith("# Title\n\nintro\n") and text.endswith("## Notes\nkept\n")


def test_the_startup_clock_reads_the_parents_spawn_time(monkeypatch):
    bench = load_script()
    monkeypatch.setenv("BENCH_SPAWN_TIME", "0")
    assert bench.seconds_since_start() > 1e9
    monkeypatch.delenv("BENCH_SPAWN_TIME")
    since = bench.seconds_since_start()
    assert since is None or 0 <= since < 3600


@pytest.mark.slow
def test_every_eval_pass_is_cut_into_one_segment_per_batch_plus_the_end(report):
    data, _, _ = report
    batches = math.ceil(data["workload"]["eval_samples"] / data["settings"]["eval_batch_size"])
    for variant in ("raw", "hezar_accel"):
        run = data["runs"][variant][0]
        assert len(run["eval_segments_s"]) == data["settings"]["eval_passes"], variant
        for segments, seconds in zip(run["eval_segments_s"], run["eval_pass_s"]):
            assert len(segments) == batches + 1 and sum(segments) == pytest.approx(seconds), variant


def test_eval_best_takes_each_segments_fastest_time_so_bursts_in_different_passes_cancel():
    load_script()
    from bench.report import best_of_eval_segments

    # Three passes of 100 samples in 3 segments of 0.1 s; a 0.2 s burst hits a different segment in each pass.
    passes = [[0.3, 0.1, 0.1], [0.1, 0.3, 0.1], [0.1, 0.1, 0.3]]
    reps = [{"eval_segments_s": passes[:2], "eval_pass_s": [0.5, 0.5], "eval_pass_samples": [100, 100]},
            {"eval_segments_s": passes[2:], "eval_pass_s": [0.5], "eval_pass_samples": [100]}]
    assert best_of_eval_segments(reps) == pytest.approx(100 / 0.3)
    without = [{k: v for k, v in r.items() if k != "eval_segments_s"} for r in reps]
    assert best_of_eval_segments(without) == pytest.approx(100 / 0.5)  # no segments: the fastest whole pass
