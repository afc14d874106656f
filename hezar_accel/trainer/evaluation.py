"""The evaluation loop: corpus-level metrics that are exact under any number of processes (DESIGN promise 4)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..constants import TQDM_BAR_FORMAT


def evaluation_loop(trainer) -> dict[str, float]:
    """Run ``trainer.evaluation_step`` over the eval dataloader and compute the metrics once.

    Variable-length predictions and labels are padded across processes (so every process gathers tensors of one
    shape and none waits forever), gathered with ``gather_for_metrics`` (which drops the samples duplicated to even
    out the last batches) and fed to the metrics batch by batch. The loss is the mean over every target (token or
    sample, as the model's loss averages) of the whole set; the duplicated tail samples are left out of it too, so
    it equals the single-process value up to float rounding.

    Returns:
        ``{"loss": ..., <metric>: ...}``.
    """
    acc, handler = trainer.accelerator, trainer.metrics_handler
    trainer.model.eval()
    handler.reset()
    pad = handler.pad_index
    loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
    count = torch.zeros((), dtype=torch.float64, device=acc.device)
    show = trainer.config.show_progress_bar and acc.is_local_main_process
    for input_batch in tqdm(trainer.eval_dataloader, desc="Evaluating", unit="batch", bar_format=TQDM_BAR_FORMAT,
                            ascii=" #", leave=False, disable=not show):
        out = trainer.evaluation_step(trainer.prepare_input_batch(input_batch))
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
        handler.add_batch(predictions.cpu().numpy(), labels.cpu().numpy())
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
