"""hezar_accel: the Trainer, timed from outside the step, one repetition of it, its checkpoints and resume."""

from __future__ import annotations

import contextlib
import io
import os
import time

from .timing import EvalClock, StepClock, counting, fastest, quiet, timed_eval, torch_save
from .workload import MAX_GRAD_NORM, Workload


class _StopRun(Exception):
    pass


def timed_trainer_class():
    """The Trainer with three seed-contract overrides: count the batch, timestamp each update and each eval batch."""
    from hezar_accel.trainer import Trainer

    class TimedTrainer(Trainer):
        bench_clock: StepClock | None = None
        bench_eval_clock: EvalClock | None = None
        bench_save_at: int | None = None  # save a checkpoint once this many updates are done, then stop

        def training_step(self, input_batch):
            if self.bench_save_at is not None and self.state.global_step >= self.bench_save_at:
                self.save_checkpoint()
                raise _StopRun
            self._bench_batch = input_batch
            self._bench_loss = super().training_step(input_batch)
            return self._bench_loss

        def evaluation_step(self, input_batch):
            if self.bench_eval_clock is not None:
                self.bench_eval_clock.tick()
            return super().evaluation_step(input_batch)

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



# -- one repetition -------------------------------------------------------------------------------------------------
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
    trainer.bench_eval_clock = eval_clock = EvalClock()
    out.update(timed_eval(args, counting(trainer.evaluate, len(work.eval), results), eval_clock))
    out["eval_results"] = results[-1]
    def save_durably():
        quiet(trainer.save_checkpoint)
        trainer.checkpointer.wait()

    # raw's row: a plain torch.save of this very model's and optimizer's tensors, taking turns with the Trainer's
    # saves. The same step saved again replaces the checkpoint; the wait keeps the previous sealing out of any timing.
    model, optimizer = trainer.unwrapped_model, trainer.optimizer.optimizer
    baseline = os.path.join(tmp, "torch_save_baseline.pt")

    def plain(durable=False):
        torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, baseline, durable)

    raw_save, out["save_s"] = fastest([plain, lambda: quiet(trainer.save_checkpoint)],
                                      prepare=lambda: trainer.checkpointer.wait())
    raw_durable, out["save_fsync_s"] = fastest([lambda: plain(durable=True), save_durably])
    out["baseline"] = {"save_s": raw_save, "save_fsync_s": raw_durable}
    out["late_checkpoint"] = quiet(trainer.save_checkpoint)
    trainer.checkpointer.wait()
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
