"""The evaluation loop: corpus-level metrics that are exact under any number of processes (DESIGN promise 4)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..constants import TQDM_BAR_FORMAT
from .iterables import settle_remainder


@dataclass
class PredictionOutput:
    """What ``Trainer.predict`` returns.

    Attributes:
        predictions: one readable prediction per sample (class name, tag list or text), in dataset order.
        references: the matching labels, read the same way.
        metrics: ``{"loss": ..., <metric>: ...}`` over the whole dataset, as ``Trainer.evaluate`` computes them.
    """

    predictions: list = field(default_factory=list)
    references: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def write_jsonl(self, path: str | os.PathLike) -> None:
        """Write one ``{"prediction": ..., "reference": ...}`` JSON object per line (UTF-8, Persian kept readable)."""
        folder = os.path.dirname(os.fspath(path))
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for prediction, reference in zip(self.predictions, self.references):
                f.write(json.dumps({"prediction": _plain(prediction), "reference": _plain(reference)},
                                   ensure_ascii=False) + "\n")


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else value


def evaluation_loop(trainer, dataloader=None, kept: list | None = None) -> dict[str, float]:
    """Run ``trainer.evaluation_step`` over an evaluation dataloader and compute the metrics once.

    Variable-length predictions and labels are padded across processes (so every process gathers tensors of one
    shape and none waits forever), gathered with ``gather_for_metrics`` (which drops the samples duplicated to even
    out the last batches) and fed to the metrics batch by batch. The loss is the mean over every target (token or
    sample, as the model's loss averages) of the whole set; the duplicated tail samples are left out of it too, so
    it equals the single-process value up to float rounding. The progress bar shows the running mean loss.

    Args:
        trainer: the Trainer (its model, steps, metrics handler and accelerator).
        dataloader: a prepared evaluation dataloader; default the Trainer's.
        kept: when given, every sample's readable ``(prediction, reference)`` is appended, in dataset order, once
            over all processes (``Trainer.predict``).

    Returns:
        ``{"loss": ..., <metric>: ...}``.
    """
    acc, handler = trainer.accelerator, trainer.metrics_handler
    dataloader = trainer.eval_dataloader if dataloader is None else dataloader
    trainer.model.eval()
    handler.reset()
    pad = handler.pad_index
    loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
    count = torch.zeros((), dtype=torch.float64, device=acc.device)
    show = trainer.config.show_progress_bar and acc.is_local_main_process
    bar = tqdm(dataloader, desc="Evaluating", unit="batch", bar_format=TQDM_BAR_FORMAT, ascii=" #", leave=False,
               disable=not show)
    for input_batch in bar:
        if acc.num_processes > 1:
            settle_remainder(dataloader)  # an iterable eval set: how many rows of the last round are real
        input_batch = trainer.prepare_input_batch(input_batch)  # the model's names (input_ids -> token_ids ...)
        out = trainer.evaluation_step(input_batch)
        predictions, labels = out["predictions"], out["labels"]
        if predictions.dim() > 1:
            predictions = acc.pad_across_processes(predictions, dim=1, pad_index=pad)
        if labels.dim() > 1:
            labels = acc.pad_across_processes(labels, dim=1, pad_index=pad)
        if out["loss"] is not None:
            batch_loss, targets = _real_part_loss(trainer, input_batch, out["loss"])
            loss_sum += batch_loss.detach().double() * targets
            count += targets
        predictions, labels = acc.gather_for_metrics((predictions, labels))
        decoded = handler.add_batch(predictions.cpu().numpy(), labels.cpu().numpy(), keep=kept is not None)
        if decoded is not None:
            kept.extend(zip(*decoded))
        if show:  # this process's running mean loss; the bar is only drawn on the main process. Drawn at tqdm's
            # next refresh: drawing now would show a stale batch count (tqdm's iterator syncs it only on refresh)
            bar.set_postfix(loss=f"{(loss_sum / count.clamp(min=1)).item():.4f}", refresh=False)
    if acc.num_processes > 1:
        loss_sum, count = acc.reduce(loss_sum, reduction="sum"), acc.reduce(count, reduction="sum")
    results = {"loss": (loss_sum / count).item() if count.item() > 0 else float("nan")}
    results.update(handler.compute())
    return results


def _kept_in_last_batch(acc, size: int) -> int:
    """How many samples of this process's batch ``gather_for_metrics`` keeps (the rest pad the last round)."""
    return max(0, min(size, acc.gradient_state.remainder - acc.process_index * size))


def _real_part_loss(trainer, input_batch: dict, loss: torch.Tensor):
    """The batch's mean loss and target count, over the samples that are not padding duplicates.

    On the padded last round every process runs one extra forward (on at least one sample, weighted 0 when it keeps
    none), so sharded models (FSDP, ZeRO-3), whose forward is a collective, stay in step.
    """
    from .setup import count_targets

    acc, model = trainer.accelerator, trainer.unwrapped_model
    state = acc.gradient_state
    if acc.num_processes == 1 or not state.end_of_dataloader or state.remainder <= 0:
        return loss, count_targets(input_batch, model)
    size = input_batch["labels"].shape[0]
    kept = _kept_in_last_batch(acc, size)
    part = {k: v[:max(kept, 1)] if isinstance(v, torch.Tensor) and v.shape[:1] == (size,) else v
            for k, v in input_batch.items()}
    with acc.autocast():
        part_loss = trainer.compute_loss(trainer.forward(part), part)
    targets = count_targets(part, model)
    return part_loss, targets if kept > 0 else torch.zeros_like(targets)
