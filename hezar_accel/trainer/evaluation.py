"""The evaluation loop: corpus-level metrics that are exact under any number of processes (DESIGN promise 4)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..constants import TQDM_BAR_FORMAT


def evaluation_loop(trainer) -> dict[str, float]:
    """Run ``trainer.evaluation_step`` over the eval dataloader and compute the metrics once.

    Variable-length predictions and labels are padded across processes (so every process gathers tensors of one
    shape and none waits forever), gathered with ``gather_for_metrics`` (which drops the samples duplicated to even
    out the last batches) and fed to the metrics batch by batch. The loss is averaged per sample.

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
        loss = out["loss"] if out["loss"] is not None else torch.zeros((), device=labels.device)
        per_sample = loss.detach().float().expand(labels.shape[0]).contiguous()
        predictions, labels, per_sample = acc.gather_for_metrics((predictions, labels, per_sample))
        handler.add_batch(predictions.cpu().numpy(), labels.cpu().numpy())
        loss_sum += per_sample.double().sum()
        count += per_sample.numel()
    results = {"loss": (loss_sum / count.clamp(min=1)).item()}
    results.update(handler.compute())
    return results
