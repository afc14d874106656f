"""raw: the hand-written loop (the floor) and one timed repetition of it."""

from __future__ import annotations

import math
import os
import time
from functools import partial

import torch

from .timing import EvalClock, StepClock, _autocast, timed_eval, torch_save
from .workload import MAX_GRAD_NORM, Workload


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
    kwargs = {"fused": True}  # as the Trainer's build_optimizer does on CUDA and CPU (a hand-written loop would too)
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
def raw_eval(work: Workload, model, clock: EvalClock | None = None) -> int:
    """Forward + argmax over the eval set (predictions copied to the host); no loss, no metrics."""
    from torch.utils.data import DataLoader

    model.eval()
    loader = DataLoader(work.eval, batch_size=work.args.eval_batch_size, collate_fn=work.eval.data_collator,
                        pin_memory=work.device.type == "cuda")
    predictions = []
    for batch in loader:
        if clock is not None:
            clock.tick()
        batch = {k: v.to(work.device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        with _autocast(work.args):
            predictions.append(model(**batch)["logits"].argmax(-1).cpu())
    return sum(len(p) for p in predictions)


# -- one repetition -------------------------------------------------------------------------------------------------
def run_raw(work: Workload, tmp: str) -> dict:
    args = work.args
    clock = StepClock(args)
    model, optimizer = raw_train(work, clock)
    out = clock.throughput(args.warmup_steps)
    eval_clock = EvalClock()
    out.update(timed_eval(args, lambda: raw_eval(work, model, eval_clock), eval_clock))
    # The save itself is timed beside the Trainer's (``run_hezar_accel``), so both meet the same disk conditions.
    path = os.path.join(tmp, "raw_checkpoint.pt")
    torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    fresh = work.make_model().to(work.device)
    t0 = time.perf_counter()
    state = torch.load(path, map_location=work.device, weights_only=True)
    fresh.load_state_dict(state["model"])
    raw_optimizer(work, fresh).load_state_dict(state["optimizer"])
    out["resume_s"] = time.perf_counter() - t0
    out["losses"] = clock.loss_values()
    return out
