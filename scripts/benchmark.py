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
import contextlib
import csv
import gc
import io
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial

for _key, _value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("HF_EVALUATE_OFFLINE", "1"),
                     ("TOKENIZERS_PARALLELISM", "false"), ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")):
    os.environ.setdefault(_key, _value)

import torch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ("raw", "hezar_accel")
PEERS = ("transformers", "hezar")
RESULT_PREFIX = "BENCH_RESULT "
WORKLOADS = {
    "text_classification": dict(  # configs/sentiment_bert.yaml
        task="text_classification", model="bert_text_classification", data=os.path.join(REPO, "data", "sentiment_persian_tweets"),
        dataset_fields={}, max_length=128, metrics=["f1", "precision", "accuracy", "recall"], best="f1",
        learning_rate=5e-4, weight_decay=0.01, warmup=0.1, log_steps=20, group_by_length=False),
    "sequence_labeling": dict(  # configs/ner_bert.yaml
        task="sequence_labeling", model="bert_sequence_labeling",
        data=os.path.join(REPO, "..", "shared", "data", "ner_parstwiner"),
        dataset_fields={"task": "sequence_labeling", "tag_column": 1, "conll_separator": "\t", "max_length": 96},
        max_length=96, metrics=["seqeval"], best="f1", learning_rate=2e-3, weight_decay=0.01, warmup=0.05,
        log_steps=50, group_by_length=True),
}
PRESETS = {
    "tiny": dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128, max_position_embeddings=128),
    "small": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, max_position_embeddings=128),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512),
}
MAX_GRAD_NORM = 1.0  # TrainerConfig's default; the raw loop clips the same way


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


# -- the workload ---------------------------------------------------------------------------------------------------
@dataclass
class Workload:
    args: argparse.Namespace
    spec: dict
    data_dir: str
    tokenizer: object = None
    train: object = None
    eval: object = None
    info: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return torch.device("cuda" if self.args.device == "cuda" else "cpu")

    def make_model(self):
        """A fresh model with the same initial weights every time (seeded construction)."""
        from hezar_accel.registry import get_entry
        import hezar_accel.models  # noqa: F401  (registers the models)

        entry = get_entry("model", self.spec["model"])
        fields = {**PRESETS[self.args.preset], "id2label": self.train.config.id2label, "hidden_dropout_prob": 0.1,
                  "vocab_size": self.tokenizer.vocab_size, "pad_token_id": self.tokenizer.pad_token_id}
        torch.manual_seed(self.args.seed)
        model = entry.cls(entry.config_class.from_dict(fields))
        model.preprocessor = self.tokenizer
        return model


def _synthesize_word_tags(folder: str) -> str:
    """Word/tag CoNLL files from the tweets (long words are B-LONG, the rest O), when no tagged corpus is present."""
    os.makedirs(folder, exist_ok=True)
    for split in ("train", "test"):
        with open(os.path.join(REPO, "data", "sentiment_persian_tweets", f"{split}.csv"), encoding="utf-8") as f:
            rows = [r["text"].split() for r in csv.DictReader(f)]
        with open(os.path.join(folder, f"{split}.txt"), "w", encoding="utf-8") as f:
            for words in filter(None, rows):
                f.writelines(f"{w}\t{'B-LONG' if len(w) >= 7 else 'O'}\n" for w in words)
                f.write("\n")
    return folder


def _training_texts(spec: dict, data_dir: str):
    if spec["task"] == "sequence_labeling":
        from hezar_accel.data.sequence_labeling import SequenceLabelingDataset

        fields = {k: v for k, v in spec["dataset_fields"].items() if k != "task"}
        return list(SequenceLabelingDataset.training_texts(data_dir, "train", **fields))
    with open(os.path.join(data_dir, "train.csv"), encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f)]


def build_workload(args, tmp: str) -> Workload:
    """Tokenizer (trained once like the recipe does, cached in ``tmp``), datasets, model factory."""
    spec = WORKLOADS[args.workload]
    data_dir = args.data_dir or spec["data"]
    if spec["task"] == "sequence_labeling" and not os.path.isdir(data_dir):
        data_dir = _synthesize_word_tags(os.path.join(tmp, "word_tags"))
    from hezar_accel.data import Dataset
    from hezar_accel.preprocessors import Preprocessor, WordPieceTokenizer

    tok_dir = args.tokenizer_dir or os.path.join(tmp, "tokenizer")
    if os.path.isfile(os.path.join(tok_dir, "preprocessor", "tokenizer.json")):
        tokenizer = Preprocessor.load(tok_dir)
    else:
        tokenizer = WordPieceTokenizer.train(_training_texts(spec, data_dir), vocab_size=8000, min_frequency=2,
                                             max_length=spec["max_length"])
        tokenizer.save(tok_dir)
    work = Workload(args, spec, data_dir, tokenizer)
    work.info["tokenizer_dir"] = tok_dir
    work.train = Dataset.load(data_dir, split="train", preprocessor=tokenizer, **spec["dataset_fields"])
    work.eval = Dataset.load(data_dir, split="test", preprocessor=tokenizer, config=work.train.config)
    return work


# -- timing -------------------------------------------------------------------------------------------------------
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


def timed_eval(args, evaluate) -> dict:
    """``--eval-passes`` timed passes of ``evaluate()`` (which returns the samples it saw), after one warm-up pass."""
    evaluate()
    samples, seconds = [], []
    for _ in range(args.eval_passes):
        t0 = time.perf_counter()
        samples.append(evaluate())
        _sync(args)
        seconds.append(time.perf_counter() - t0)
    return {"eval_samples_per_s": sum(samples) / sum(seconds), "eval_pass_s": seconds, "eval_pass_samples": samples}


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


# -- raw: the hand-written loop -------------------------------------------------------------------------------------
def _lr_factor(step: int, warmup: int, total: int) -> float:
    if warmup and step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, 1.0 - min(1.0, (step - warmup) / max(1, total - warmup)))


def raw_optimizer(work: Workload, model):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": work.spec["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {"fused": True} if work.args.device == "cuda" else {}
    return torch.optim.AdamW(groups, lr=work.spec["learning_rate"], **kwargs)


def raw_train(work: Workload, clock: StepClock):
    """Forward, loss, backward, clip, AdamW step, LR step: the floor."""
    from torch.utils.data import DataLoader
    from hezar_accel.data.samplers import EpochShuffleSampler, LengthGroupedSampler

    args, device = work.args, work.device
    model = work.make_model().to(device)
    optimizer = raw_optimizer(work, model)
    warmup = math.floor(work.spec["warmup"] * args.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_lr_factor, warmup=warmup, total=args.max_steps))
    if work.spec["group_by_length"]:
        sampler = LengthGroupedSampler(work.train.lengths(), args.batch_size, seed=args.seed)
    else:
        sampler = EpochShuffleSampler(len(work.train), seed=args.seed)
    # An own generator, as the Trainer's loaders have: iterating then draws nothing from the global RNG, so the
    # dropout stream is the one seeded here (the Trainer seeds at construction).
    loader = DataLoader(work.train, batch_size=args.batch_size, sampler=sampler, collate_fn=work.train.data_collator,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(args.seed))
    torch.manual_seed(args.seed)
    model.train()
    step, epoch = 0, 1
    while step < args.max_steps:
        sampler.set_epoch(epoch)
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
            with _autocast(args):
                logits = model(**batch)["logits"]
                loss = model.compute_loss(logits, batch["labels"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            clock.tick(batch, loss.detach())
            step += 1
            if step >= args.max_steps:
                break
        epoch += 1
    return model, optimizer


@torch.inference_mode()
def raw_eval(work: Workload, model) -> int:
    """Forward + argmax over the eval set (predictions copied to the host); no loss, no metrics."""
    from torch.utils.data import DataLoader

    model.eval()
    loader = DataLoader(work.eval, batch_size=work.args.eval_batch_size, collate_fn=work.eval.data_collator,
                        pin_memory=work.device.type == "cuda")
    predictions = []
    for batch in loader:
        batch = {k: v.to(work.device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        with _autocast(work.args):
            predictions.append(model(**batch)["logits"].argmax(-1).cpu())
    return sum(len(p) for p in predictions)


# -- hezar_accel: the Trainer -------------------------------------------------------------------------------------
class _StopRun(Exception):
    pass


def timed_trainer_class():
    """The Trainer with two seed-contract overrides: count the batch, timestamp each update."""
    from hezar_accel.trainer import Trainer

    class TimedTrainer(Trainer):
        bench_clock: StepClock | None = None
        bench_save_at: int | None = None  # save a checkpoint once this many updates are done, then stop

        def training_step(self, input_batch):
            if self.bench_save_at is not None and self.state.global_step >= self.bench_save_at:
                self.save_checkpoint()
                raise _StopRun
            self._bench_batch = input_batch
            self._bench_loss = super().training_step(input_batch)
            return self._bench_loss

        def optimization_step(self):
            super().optimization_step()
            if self.bench_clock is not None:
                self.bench_clock.tick(self._bench_batch, self._bench_loss)

    return TimedTrainer


def build_trainer(work: Workload, output_dir: str, model=None, **overrides):
    from hezar_accel.trainer import TrainerConfig

    args, spec = work.args, work.spec
    settings = dict(output_dir=output_dir, task=spec["task"], device=args.device, max_steps=args.max_steps,
                    batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, optimizer="adamw",
                    learning_rate=spec["learning_rate"], weight_decay=spec["weight_decay"], lr_scheduler="linear",
                    warmup_steps=spec["warmup"], metrics=spec["metrics"], metric_for_best_model=spec["best"],
                    save_total_limit=2, log_steps=min(spec["log_steps"], args.max_steps), log_with=None,
                    show_progress_bar=False, save_enabled=False, do_evaluate=False, seed=args.seed,
                    mixed_precision=args.mixed_precision, group_by_length=spec["group_by_length"],
                    max_grad_norm=MAX_GRAD_NORM)
    settings.update(overrides)
    with contextlib.redirect_stdout(io.StringIO()):
        return timed_trainer_class()(TrainerConfig(**settings), model if model is not None else work.make_model(),
                                     train_dataset=work.train, eval_dataset=work.eval,
                                     data_collator=work.train.data_collator, preprocessor=work.tokenizer)


def quiet(fn, *a, **kw):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **kw)


# -- one repetition of each variant -------------------------------------------------------------------------------
def run_raw(work: Workload, tmp: str) -> dict:
    args = work.args
    clock = StepClock(args)
    model, optimizer = raw_train(work, clock)
    out = clock.throughput(args.warmup_steps)
    out.update(timed_eval(args, lambda: raw_eval(work, model)))
    path = os.path.join(tmp, "raw_checkpoint.pt")
    t0 = time.perf_counter()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    out["save_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
    out["save_fsync_s"] = time.perf_counter() - t0
    fresh = work.make_model().to(work.device)
    t0 = time.perf_counter()
    state = torch.load(path, map_location=work.device, weights_only=True)
    fresh.load_state_dict(state["model"])
    raw_optimizer(work, fresh).load_state_dict(state["optimizer"])
    out["resume_s"] = time.perf_counter() - t0
    out["losses"] = clock.loss_values()
    return out


def run_hezar_accel(work: Workload, tmp: str, rep: int) -> dict:
    args = work.args
    output_dir = os.path.join(tmp, f"hezar_accel_{rep}")
    model = work.make_model()
    t0 = time.perf_counter()
    trainer = build_trainer(work, output_dir, model=model)
    build_s = time.perf_counter() - t0
    trainer.bench_clock = clock = StepClock(args)
    quiet(trainer.train)
    out = clock.throughput(args.warmup_steps)
    out["build_s"] = build_s
    results = []
    out.update(timed_eval(args, counting(trainer.evaluate, len(work.eval), results)))
    out["eval_results"] = results[-1]
    t0 = time.perf_counter()
    out["late_checkpoint"] = quiet(trainer.save_checkpoint)
    out["save_s"] = time.perf_counter() - t0
    from hezar_accel.trainer.saving import wait_for_checkpoint

    wait_for_checkpoint(trainer)
    out["save_fsync_s"] = time.perf_counter() - t0
    out["losses"] = clock.loss_values()
    return out


def early_checkpoint(work: Workload, tmp: str, step: int = 2) -> str:
    """A mid-epoch checkpoint of a run with the benchmark's settings, written after ``step`` updates."""
    trainer = build_trainer(work, os.path.join(tmp, "early"))
    trainer.bench_save_at = step
    try:
        quiet(trainer.train)
    except _StopRun:
        pass
    from hezar_accel.trainer.checkpoint import find_latest

    return find_latest(trainer.config.checkpoints_path)


def time_resume(work: Workload, checkpoint: str, tmp: str, tag: str) -> float:
    """Build the Trainer and ``resume(checkpoint)``: wall time (the model itself is built before the clock)."""
    model = work.make_model()
    t0 = time.perf_counter()
    trainer = build_trainer(work, os.path.join(tmp, f"resume_{tag}"), model=model)
    quiet(trainer.resume, checkpoint)
    elapsed = time.perf_counter() - t0
    del trainer
    return elapsed


# -- fresh processes: start-up time and peak RSS --------------------------------------------------------------------
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
    argv = [sys.executable, os.path.abspath(__file__), "--startup", variant, "--workload", args.workload,
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


# -- optional peers --------------------------------------------------------------------------------------------------
def _peer_installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def run_transformers_peer(work: Workload, tmp: str, rep: int) -> dict:
    """The 🤗 Transformers Trainer on the same initial weights, data, collator and settings.

    Its own random order (no length grouping: it looks for ``input_ids``), the same AdamW/linear schedule/clipping.
    """
    from transformers import Trainer, TrainerCallback, TrainingArguments
    from hezar_accel.metrics import get_metrics_handler_class

    args, spec = work.args, work.spec
    clock = StepClock(args)
    model = work.make_model()
    handler = get_metrics_handler_class(spec["task"])(spec["metrics"], model_config=model.config,
                                                      preprocessor=work.tokenizer)

    class WithLoss(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, token_ids, attention_mask=None, token_type_ids=None, labels=None):
            logits = self.inner(token_ids=token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)["logits"]
            self.last = {"labels": labels, "token_ids": token_ids}
            loss = self.inner.compute_loss(logits, labels) if labels is not None else None
            self.last_loss = loss
            return {"loss": loss, "logits": logits}

    wrapped = WithLoss(model)

    class Tick(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            clock.tick(wrapped.last, wrapped.last_loss.detach())

    def compute_metrics(prediction):
        handler.reset()
        handler.add_batch(prediction.predictions, prediction.label_ids)
        return handler.compute()

    training_args = TrainingArguments(
        output_dir=os.path.join(tmp, f"transformers_{rep}"), max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=args.eval_batch_size,
        learning_rate=spec["learning_rate"], weight_decay=spec["weight_decay"], lr_scheduler_type="linear",
        warmup_steps=math.floor(spec["warmup"] * args.max_steps), max_grad_norm=MAX_GRAD_NORM,
        logging_steps=min(spec["log_steps"], args.max_steps), save_strategy="no", eval_strategy="no",
        report_to=[], disable_tqdm=True, seed=args.seed, use_cpu=args.device == "cpu",
        bf16=args.mixed_precision == "bf16", dataloader_num_workers=0, remove_unused_columns=False)
    trainer = Trainer(model=wrapped, args=training_args, train_dataset=work.train, eval_dataset=work.eval,
                      data_collator=work.train.data_collator, callbacks=[Tick()], compute_metrics=compute_metrics,
                      preprocess_logits_for_metrics=lambda logits, labels: logits.argmax(-1))
    quiet(trainer.train)
    out = clock.throughput(args.warmup_steps)
    out.update(timed_eval(args, counting(trainer.evaluate, len(work.eval))))
    return out


def run_hezar_peer(work: Workload, tmp: str, rep: int) -> dict:
    """Hezar's own Trainer on the same initial weights and data (its BERT models share our parameter names).

    Hezar's loop differs by design: its own shuffled order, AdamW over all parameters, no clipping, a loss ``.item()``
    per step; it is a reference point, not an identical computation.
    """
    import dataclasses

    import hezar.models
    from hezar.configs import TrainerConfig
    from hezar.preprocessors import Preprocessor
    from hezar.trainer import Trainer

    args, spec = work.args, work.spec
    ours = work.make_model()
    name = type(ours).__name__
    config_cls = getattr(hezar.models, f"{name}Config")
    known = {f.name for f in dataclasses.fields(config_cls) if f.init}
    config = config_cls(**{k: v for k, v in ours.config.to_dict().items() if k in known and k != "name"})
    model = getattr(hezar.models, name)(config)
    model.load_state_dict(ours.state_dict())
    clock = StepClock(args)

    class TimedHezarTrainer(Trainer):
        def training_step(self, input_batch):
            self._bench_batch = input_batch
            return super().training_step(input_batch)

        def optimization_step(self):
            super().optimization_step()
            clock.tick(self._bench_batch, None)

    trainer_config = TrainerConfig(
        output_dir=os.path.join(tmp, f"hezar_{rep}"), task=spec["task"], device=args.device, num_epochs=1,
        max_steps=args.max_steps, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
        optimizer="adamw", learning_rate=spec["learning_rate"], weight_decay=spec["weight_decay"],
        metrics=spec["metrics"], log_steps=min(spec["log_steps"], args.max_steps), save_enabled=False,
        use_cpu=args.device == "cpu", mixed_precision=None if args.mixed_precision == "no" else "bf16", seed=args.seed)
    trainer = quiet(TimedHezarTrainer, model=model, config=trainer_config, train_dataset=work.train,
                    eval_dataset=work.eval, data_collator=work.train.data_collator,
                    preprocessor=Preprocessor.load(work.info["tokenizer_dir"]))  # our folder is Hezar's format
    quiet(trainer.inner_training_loop, 1)
    out = clock.throughput(args.warmup_steps)
    out.update(timed_eval(args, counting(trainer.evaluate, len(work.eval))))
    return out


PEER_RUNNERS = {"transformers": run_transformers_peer, "hezar": run_hezar_peer}


# -- report -------------------------------------------------------------------------------------------------------
# (key, label, format, better) of the per-variant rows; the targets compare hezar_accel against raw.
ROWS = [
    ("train_samples_per_s", "train samples/s (after warm-up)", "{:.1f}", "higher"),
    ("train_tokens_per_s", "train tokens/s (padded, after warm-up)", "{:.0f}", "higher"),
    ("eval_samples_per_s", "eval samples/s (hezar_accel: incl. loss + metrics; raw: forward + argmax)", "{:.1f}", "higher"),
    ("startup_s", "process start -> first optimizer step (s)", "{:.2f}", "lower"),
    ("peak_rss_mb", "peak RSS, train + eval (MiB)", "{:.0f}", "lower"),
    ("save_s", "checkpoint save, training blocked (s) (raw: torch.save model + optimizer)", "{:.3f}", "lower"),
    ("save_fsync_s", "checkpoint durable on disk (s) (raw: torch.save + fsync; hezar_accel: save + background "
     "fsync/marker/rename done)", "{:.3f}", "lower"),
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


def variant_entry(reps: list[dict]) -> dict:
    entry = {key: summary([r[key] for r in reps], better) for key, _, _, better in ROWS if key in reps[0]}
    entry["train_samples_per_s"]["best"] = best_of_steps(reps, "samples")
    entry["train_tokens_per_s"]["best"] = best_of_steps(reps, "tokens")
    passes = [(n, t) for r in reps for n, t in zip(r["eval_pass_samples"], r["eval_pass_s"])]
    entry["eval_samples_per_s"]["best"] = max(n / t for n, t in passes)
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
        "save_durable": {"value": durable, "shown": f"{durable:.2f}x", "target": "<= 1.5x torch.save + fsync",
                         "pass": durable <= 1.5},
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


def table_rows(report: dict) -> list[list[str]]:
    rows = []
    for key, label, fmt, _ in ROWS:
        target = report["targets"].get(TARGET_OF_ROW.get(key, ""))
        if not report["raw"].get(key) and not report["hezar_accel"].get(key):
            continue
        rows.append([label, _cell(report["raw"].get(key), fmt), _cell(report["hezar_accel"].get(key), fmt),
                     target["shown"] if target else "", target["target"] if target else "",
                     ("PASS" if target["pass"] else "FAIL") if target else ""])
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
             "fastest pass, times = minimum. Verdicts use `best` (peak RSS: the median).", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(report)]
    lines += ["", f"Same work check: the largest per-step difference between the raw and the hezar_accel train loss "
                  f"(first repetition) is {report['loss_max_abs_diff']:.3g}.", ""]
    lines += [f"- {peer_line(name, entry)}" for name, entry in report["peers"].items()]
    passed = [k for k, t in report["targets"].items() if t["pass"]]
    failed = [k for k, t in report["targets"].items() if not t["pass"]]
    lines += ["", f"Targets passed: {', '.join(passed) or 'none'}; failed: {', '.join(failed) or 'none'}."]
    return "\n".join(lines)


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


# -- orchestration ------------------------------------------------------------------------------------------------
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


def run_peers(work: Workload, tmp: str, rep: int, runs: dict, peers: dict) -> None:
    for name in [p for p in peers if "skipped" not in peers[p] and "error" not in peers[p]]:
        try:
            result = PEER_RUNNERS[name](work, tmp, rep)
            runs.setdefault(name, []).append(result)
        except Exception as e:  # a peer's API drift must not sink the benchmark
            peers[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
            runs.pop(name, None)
        gc.collect()


def measure(args, work: Workload, tmp: str, peers: dict) -> dict:
    """All in-process and fresh-process measurements, every loop interleaved across variants."""
    runs = {v: [] for v in VARIANTS}
    for rep in range(args.repeats):
        running = [p for p in peers if not peers[p]]
        print(f"repetition {rep + 1}/{args.repeats}: raw, hezar_accel{''.join(', ' + p for p in running)}", flush=True)
        runs["raw"].append(run_raw(work, tmp))
        gc.collect()
        runs["hezar_accel"].append(run_hezar_accel(work, tmp, rep))
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
