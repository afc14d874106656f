#!/usr/bin/env python
"""What 🤗 evaluate's public API costs per evaluation, against the path hezar_accel's ``Metric`` takes.

Three ways to score the same corpus with the same loaded module, fed batch by batch as the Trainer feeds it:

- ``fast``: ``hezar_accel.metrics.loading.Metric`` (host lists, then the module's ``_compute``; seqeval folds each
  batch into counts with ``_update_statistics`` and ends with ``_compute_from_statistics``);
- ``public_batches``: ``EvaluationModule.add_batch(predictions=, references=)`` per batch, then ``compute(**options)``;
- ``public_once``: the batches kept in host lists, then one ``compute(predictions=, references=, **options)``.

The paths take turns (in a shuffled order each repetition) so bursts from other jobs hit them alike; each timing is
a whole evaluation's scoring (every ``add_batch`` and the ``compute``). Beside the total, ``overhead`` is the part
spent outside the module's own scoring methods (``_compute``, or seqeval's ``_update_statistics`` and
``_compute_from_statistics``), timed inside the same call: both paths run the same scoring on the same data, so
that is where they differ, and it is less noisy than a difference of two totals. Results must be equal to the bit
across the three paths, or the script fails.

``--startup N`` adds fresh-process timings, N per snippet and source tree (``--root``, repeatable, taking turns):
``import evaluate`` (what reading the options from the imported module at start-up would add) and building every
task's metrics handler, options checked.

    python scripts/bench/metrics_api.py --repeats 30 --startup 10 --root . --root /tmp/old_checkout
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import warnings

for _key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATHS = ("fast", "public_batches", "public_once")
WORDS = ("من", "به", "خانه", "رفتم", "امروز", "هوا", "بسیار", "خوب", "و", "آفتابی", "است", "این", "کتاب", "را",
         "دوست", "دارم", "هر", "روز", "صبح", "دانشگاه", "می", "روم", "شهر", "تهران", "بزرگ", "زیبا", "مدرسه", "ما")
TAGS = ("O",) * 12 + ("B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-EVE", "I-EVE", "B-DAT", "I-DAT")


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 20)))


def _garble(rng: random.Random, text: str) -> str:
    """~10% of the characters substituted, dropped or doubled: a decent model's output."""
    out = []
    for char in text:
        roll = rng.random()
        out.append(rng.choice("ابپتسشکگلمنوهی") if roll < 0.04 else "" if roll < 0.07 else char * 2 if roll < 0.1
                   else char)
    return "".join(out)


def workloads(seed: int = 0) -> list[tuple[str, str, dict, list, list, int]]:
    """(label, metric, options, predictions, references, batch size) per case; sizes as in the demo recipes."""
    rng = random.Random(seed)
    cases = []
    for size in (367, 3000):  # the sentiment demo's eval set; a mid-size one
        refs = [rng.randrange(3) for _ in range(size)]
        preds = [ref if rng.random() < 0.8 else rng.randrange(3) for ref in refs]
        for name, options in (("accuracy", {}), ("f1", {"average": "macro"}), ("precision", {"average": "macro"}),
                              ("recall", {"average": "macro"})):
            cases.append((f"{name} n={size}", name, options, preds, refs, 64))
    tag_refs = [[rng.choice(TAGS) for _ in range(rng.randint(5, 60))] for _ in range(303)]  # ~10k tags: ParsTwiNER
    tag_preds = [[rng.choice(TAGS) if rng.random() < 0.1 else tag for tag in ref] for ref in tag_refs]
    cases.append(("seqeval 303 sent.", "seqeval", {}, tag_preds, tag_refs, 64))
    cases.append(("seqeval IOB2 303 sent.", "seqeval", {"scheme": "IOB2"}, tag_preds, tag_refs, 64))
    texts = [_sentence(rng) for _ in range(300)]
    garbled = [_garble(rng, text) for text in texts]
    for name in ("cer", "wer", "bleu", "rouge"):
        cases.append((f"{name} 300 sent.", name, {}, garbled, texts, 32))
    return cases


def _batches(predictions: list, references: list, size: int):
    for start in range(0, len(predictions), size):
        yield predictions[start:start + size], references[start:start + size]


_SCORING_METHODS = ("_compute", "_update_statistics", "_compute_from_statistics")


def _timed_scoring(module, inside: list[float]):
    """Wrap the module's scoring methods (on the instance) so that their time adds up in ``inside[0]``; a call made
    from inside another (seqeval's ``_compute`` calls the other two) is not counted twice (``inside[1]``: depth)."""
    for attr in _SCORING_METHODS:
        method = getattr(module, attr, None)
        if callable(method):
            def timed(*args, _method=method, **kwargs):
                inside[1] += 1
                t0 = time.perf_counter()
                try:
                    return _method(*args, **kwargs)
                finally:
                    inside[1] -= 1
                    if not inside[1]:
                        inside[0] += time.perf_counter() - t0
            setattr(module, attr, timed)
    return module


def _public_module(name: str):
    """A second module instance for the public calls, built as ``load_metric`` builds its own (in memory)."""
    import uuid

    import evaluate

    from hezar_accel.metrics.loading import metric_module_path

    return evaluate.load(metric_module_path(name), experiment_id=f"bench-{uuid.uuid4().hex}", keep_in_memory=True)


def _scorers(name: str, options: dict, predictions: list, references: list, batch: int) -> dict:
    """path -> (a call scoring the corpus, the list its module's scoring time accumulates in, at [0])."""
    from hezar_accel.metrics.loading import load_metric

    fast = load_metric(name, **options)
    fast_inside, public_inside = [0.0, 0], [0.0, 0]
    _timed_scoring(fast.module, fast_inside)
    public = _timed_scoring(_public_module(name), public_inside)

    def run_fast():
        for preds, refs in _batches(predictions, references, batch):
            fast.add_batch(preds, refs)
        return fast.compute()

    def run_public_batches():
        for preds, refs in _batches(predictions, references, batch):
            public.add_batch(predictions=preds, references=refs)
        return {key: float(value) for key, value in public.compute(**options).items()}

    def run_public_once():
        kept_preds, kept_refs = [], []
        for preds, refs in _batches(predictions, references, batch):
            kept_preds.extend(preds)
            kept_refs.extend(refs)
        result = public.compute(predictions=kept_preds, references=kept_refs, **options)
        return {key: float(value) for key, value in result.items()}

    return {"fast": (run_fast, fast_inside), "public_batches": (run_public_batches, public_inside),
            "public_once": (run_public_once, public_inside)}


def _summary(values: list[float]) -> dict:
    return {"min_ms": min(values), "median_ms": statistics.median(values)}


def measure(repeats: int, seed: int = 0) -> list[dict]:
    """Per case and path: min and median milliseconds (total and overhead) over ``repeats`` interleaved repetitions."""
    rng = random.Random(seed)
    cases = {label: _scorers(name, options, preds, refs, batch) for label, name, options, preds, refs, batch
             in workloads(seed)}
    totals = {label: {path: [] for path in PATHS} for label in cases}
    overheads = {label: {path: [] for path in PATHS} for label in cases}
    for label, scorers in cases.items():  # warm-up, and the check that the three paths agree to the bit
        results = {path: scorers[path][0]() for path in PATHS}
        if len({json.dumps(result, sort_keys=True) for result in results.values()}) != 1:
            raise SystemExit(f"{label}: the paths disagree: {results}")
    order = [(label, path) for label in cases for path in PATHS]
    for _ in range(repeats):
        rng.shuffle(order)
        for label, path in order:
            scorer, inside = cases[label][path]
            inside[0] = 0.0
            t0 = time.perf_counter()
            scorer()
            total = time.perf_counter() - t0
            totals[label][path].append(total * 1e3)
            overheads[label][path].append((total - inside[0]) * 1e3)
    return [{"case": label, **{path: {"total": _summary(totals[label][path]),
                                      "overhead": _summary(overheads[label][path])} for path in PATHS}}
            for label in cases]


_STARTUP_CODE = {
    "import evaluate": "import evaluate",
    "build every task's metrics handler": (
        "from hezar_accel.metrics import get_metrics_handler_class as g\n"
        "cfg = {'id2label': {0: 'O', 1: 'B-PER'}}\n"
        "class Tok:\n    def decode(self, ids, skip_special_tokens=True): return ''\n"
        "for task in ('text_classification', 'sequence_labeling', 'text_generation', 'image2text',"
        " 'speech_recognition'):\n    g(task)(None, model_config=cfg, preprocessor=Tok())\n"
        "import sys\nassert 'evaluate' not in sys.modules and 'sklearn' not in sys.modules"),
}


def startup(repeats: int, roots: list[str]) -> list[dict]:
    """Fresh-process wall time of each snippet in ``_STARTUP_CODE`` per source tree, after ``import
    hezar_accel.metrics`` (not timed); the trees and snippets take turns."""
    timer = "import time; t0 = time.perf_counter()\n{code}\nprint(time.perf_counter() - t0)"
    base = "import hezar_accel.metrics.loading, hezar_accel.metrics.handlers\n"
    times: dict[tuple[str, str], list[float]] = {(root, label): [] for root in roots for label in _STARTUP_CODE}
    for _ in range(repeats):
        for root, label in times:
            env = {**os.environ, "PYTHONPATH": os.path.abspath(root)}
            done = subprocess.run([sys.executable, "-c", base + timer.format(code=_STARTUP_CODE[label])], env=env,
                                  check=True, capture_output=True, text=True, cwd=os.path.abspath(root))
            times[root, label].append(float(done.stdout.strip().splitlines()[-1]) * 1e3)
    return [{"root": root, "case": label, **_summary(values)} for (root, label), values in times.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="interleaved repetitions per path (default 30)")
    parser.add_argument("--startup", type=int, default=0, metavar="N", help="also N fresh processes per snippet")
    parser.add_argument("--root", action="append", help="source tree(s) to import hezar_accel from (default: this "
                        "checkout); scoring uses the first, --startup takes turns between all")
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args()
    roots = args.root or [REPO]
    sys.path.insert(0, os.path.abspath(roots[0]))
    warnings.simplefilter("ignore")  # seqeval warns about labels that are not entity tags; not this script's concern
    out = {"scoring": measure(args.repeats) if args.repeats else []}
    if out["scoring"]:
        print(f"ms, min/median of {args.repeats}; overhead = time outside the module's scoring methods")
        print(f"{'case':<24}" + "".join(f"{path + ' total':>24}{'overhead':>14}" for path in PATHS))
    for row in out["scoring"]:
        cells = [f"{row[p][part]['min_ms']:.2f}/{row[p][part]['median_ms']:.2f}".rjust(24 if part == "total" else 14)
                 for p in PATHS for part in ("total", "overhead")]
        print(f"{row['case']:<24}" + "".join(cells))
    if args.startup:
        out["startup"] = startup(args.startup, roots)
        for row in out["startup"]:
            print(f"fresh process, {row['root']}: {row['case']}: min {row['min_ms']:.1f} ms, "
                  f"median {row['median_ms']:.1f} ms")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
