"""The "Training Info" banner printed at the start of ``train()``."""

from __future__ import annotations


def format_info(rows: dict[str, object], title: str = "Training Info") -> str:
    """Render ``rows`` as an aligned two-column block under a title rule."""
    width = max(len(k) for k in rows) + 1
    rule = "*" * 20
    lines = [f"\n{rule} {title} {rule}\n"]
    lines += [f"  {k:<{width}}: {v}" for k, v in rows.items()]
    lines.append(f"\n{'*' * (len(title) + 42)}\n")
    return "\n".join(lines)


def human_count(n: int) -> str:
    """12_345_678 -> '12.35M' (parameter counts in the banner)."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def _dataset_line(dataset, training: bool = True) -> str:
    if dataset is None:
        return "None"
    config = getattr(dataset, "config", None)
    where = getattr(config, "path", None) or type(dataset).__name__
    split = getattr(dataset, "split", None)
    size = f"{len(dataset)} samples" if hasattr(dataset, "__len__") else "iterable, length unknown"
    note = _augmentation_note(dataset) if training else ""  # evaluation data is never augmented
    return f"{where}{f' [{split}]' if split else ''} ({size}){note}"


def _steps_line(plan) -> str:
    if plan.steps_per_epoch is None:
        return f"{plan.total_steps} (max_steps; an epoch is one pass of the iterable, its steps known when it ends)"
    return f"{plan.total_steps} ({plan.steps_per_epoch} per epoch, {plan.batches_per_epoch} batches per process)"


def _order_check_line(trainer) -> str:
    """What a resume of this run can verify about the data order (DataOrder / IterableDataOrder)."""
    if trainer.plan.steps_per_epoch is not None:
        return "exact: settings and each process's upcoming sample indices"
    return ("settings, and on resume the replayed batches of the current pass (exact only if the iterable yields "
            "the same rows for a given epoch; rows after the resume point cannot be checked)")


def _augmentation_note(dataset) -> str:
    """``, augmented: rotation 2, ...`` (the settings that differ from the defaults), or nothing when off."""
    augmentation = getattr(dataset, "augmentation", None)
    if augmentation is None:
        return ""
    defaults = type(augmentation)()
    changed = [f"{name} {value}" for name, value in augmentation.to_dict().items()
               if name not in ("name", "config_type") and value != getattr(defaults, name)]
    return ", augmented: " + ", ".join(changed)


def info_rows(trainer) -> dict[str, object]:
    """The banner's rows for a built trainer (duck-typed: reads its config, plan, accelerator and model)."""
    c, plan, acc, model = trainer.config, trainer.plan, trainer.accelerator, trainer.unwrapped_model
    resumed = getattr(trainer, "resumed", None)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "Output Directory": c.output_dir,
        "Task": c.task,
        "Model": f"{type(model).__name__} ({getattr(model.config, 'name', '-')})",
        "Init Weights": c.init_weights_from or "N/A",
        "Device(s)": f"{acc.device} x {acc.num_processes} ({acc.distributed_type.value})",
        "Training Dataset": _dataset_line(trainer.train_dataset),
        "Evaluation Dataset": _dataset_line(trainer.eval_dataset, training=False),
        "Optimizer": c.optimizer,
        "Initial Learning Rate": c.learning_rate,
        "Learning Rate Scheduler": _schedule_line(trainer),
        "Learning Rate Decay": c.weight_decay,
        "Epochs": plan.num_epochs if plan.num_epochs is not None else "passes of the iterable until max_steps",
        "Steps": _steps_line(plan),
        "Batch Size": f"{c.batch_size} per process x {acc.num_processes} x {c.gradient_accumulation_steps} accumulation"
                      f" = {c.batch_size * acc.num_processes * c.gradient_accumulation_steps}",
        "Number of Parameters": human_count(total),
        "Number of Trainable Parameters": human_count(trainable),
        "Mixed Precision": acc.mixed_precision,
        "Metrics": ", ".join(getattr(trainer.metrics_handler, "metrics", None) or ["loss only"]),
        "Checkpoints Path": c.checkpoints_path,
        "Logs Path": f"{c.logs_path}/{trainer.state.run_name}",
        "Resumed From": f"{resumed.checkpoint} (step {resumed.step})" if resumed else "N/A",
        "Data Order Check": _order_check_line(trainer),
        "Initial Weights": f"fingerprint {trainer.initial_weights_fingerprint} (seed {c.seed})",
        "Adjusted": "; ".join(plan.notes) or "nothing",
        "Callbacks": ", ".join(type(cb).__name__ for cb in trainer.callbacks.callbacks) or "none",
    }


def _schedule_line(trainer) -> str:
    """Scheduler, warm-up (or that it is over, on a resume past it) and any refit of a resumed run's schedule."""
    warmup, step = trainer.plan.warmup_steps, trainer.state.global_step
    if not warmup:
        phase = "no warm-up"
    elif step >= warmup:
        phase = f"warm-up of {warmup} steps done"
    else:
        phase = f"warm-up {warmup} steps"
    resumed = getattr(trainer, "resumed", None)
    refit = f"; {resumed.schedule_note}" if resumed and resumed.schedule_note else ""
    return f"{trainer.config.lr_scheduler or 'constant'} ({phase}{refit})"


class EvaluationTable:
    """The evaluations of a run as a table on the console: a header once, then one row per evaluation.

    Args:
        print_fn: prints on the main process only (``accelerator.print``).
    """

    def __init__(self, print_fn):
        self.print = print_fn
        self.columns: list[str] | None = None
        self.widths: list[int] = []

    def row(self, epoch: int, step: int, train_loss: float | None, results: dict[str, float], best_name: str,
            best_value: float | None, best_step: int | None) -> None:
        """Print one evaluation: epoch, step, train loss, each result, and the best ``best_name`` so far."""
        columns = ["epoch", "step", "train loss", *(f"eval {k}" for k in results), f"best {best_name}"]
        cells = [str(epoch), str(step), _number(train_loss), *(_number(v) for v in results.values()),
                 f"{_number(best_value)} (step {best_step})" if best_value is not None else "-"]
        if columns != self.columns:  # a header when the columns first appear (or change); its widths hold after
            self.columns, self.widths = columns, [max(len(c), len(v), 8) for c, v in zip(columns, cells)]
            self.print(" | ".join(c.ljust(w) for c, w in zip(columns, self.widths)))
        self.print(" | ".join(v.ljust(w) for v, w in zip(cells, self.widths)))


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"
