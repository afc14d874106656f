"""Optional peers: the 🤗 Transformers Trainer and Hezar's Trainer, when installed (``pip install -e .[bench]``)."""

from __future__ import annotations

import gc
import math
import os

import torch

from .timing import EvalClock, StepClock, counting, quiet, timed_eval
from .workload import MAX_GRAD_NORM, Workload


def _peer_installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def run_transformers_peer(work: Workload, tmp: str, rep: int) -> dict:
    """The 🤗 Transformers Trainer on the same initial weights, data, collator and settings.

    The raw loop's batch order (same sampler and seed), the same AdamW/linear schedule/clipping.
    """
    from transformers import Trainer, TrainerCallback, TrainingArguments
    from hezar_accel.metrics import get_metrics_handler_class

    args, spec = work.args, work.spec
    clock, eval_clock = StepClock(args), EvalClock()
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
    from hezar_accel.data.samplers import EpochShuffleSampler

    class SameOrderTrainer(Trainer):
        """The raw loop's first-epoch order (the run is shorter than an epoch), so all three see the same batches."""

        def _get_train_sampler(self, train_dataset=None):
            return EpochShuffleSampler(len(work.train), seed=args.seed).order(1)

        def prediction_step(self, *a, **kw):
            eval_clock.tick()
            return super().prediction_step(*a, **kw)

    trainer = SameOrderTrainer(model=wrapped, args=training_args, train_dataset=work.train, eval_dataset=work.eval,
                      data_collator=work.train.data_collator, callbacks=[Tick()], compute_metrics=compute_metrics,
                      preprocess_logits_for_metrics=lambda logits, labels: logits.argmax(-1))
    quiet(trainer.train)
    out = clock.throughput(args.warmup_steps)
    out.update(timed_eval(args, counting(trainer.evaluate, len(work.eval)), eval_clock))
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
    clock, eval_clock = StepClock(args), EvalClock()

    class TimedHezarTrainer(Trainer):
        def training_step(self, input_batch):
            self._bench_batch = input_batch
            return super().training_step(input_batch)

        def optimization_step(self):
            super().optimization_step()
            clock.tick(self._bench_batch, None)

        def evaluation_step(self, input_batch):
            eval_clock.tick()
            return super().evaluation_step(input_batch)

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
    out.update(timed_eval(args, counting(trainer.evaluate, len(work.eval)), eval_clock))
    return out


PEER_RUNNERS = {"transformers": run_transformers_peer, "hezar": run_hezar_peer}


def run_peers(work: Workload, tmp: str, rep: int, runs: dict, peers: dict) -> None:
    for name in [p for p in peers if "skipped" not in peers[p] and "error" not in peers[p]]:
        try:
            result = PEER_RUNNERS[name](work, tmp, rep)
            runs.setdefault(name, []).append(result)
        except Exception as e:  # a peer's API drift must not sink the benchmark
            peers[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
            runs.pop(name, None)
        gc.collect()
