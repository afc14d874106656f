"""``TrainerConfig``: every knob of a training run, validated once and frozen.

It has every field of Hezar's ``TrainerConfig`` (same names, same meaning) plus the ones a demanding user expects from
the 🤗 Transformers Trainer. Derived numbers (steps per epoch, resolved fractions) never live here: they are computed
by :func:`hezar_accel.trainer.steps.plan_steps` after the dataloaders are prepared, so ``train_config.yaml`` is
exactly what the user asked for.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..configs import Config
from ..constants import ConfigType, LRSchedulerType, NanPolicy, OptimizerType, PrecisionType, TRAINER_CONFIG_FILE, TaskType
from ..errors import closest
from .hezar_fields import hezar_only_field_problems, hezar_value_hint, is_hezar_unset
from .trackers import tracker_problems

_LOWER_IS_BETTER = ("loss", "cer", "wer", "perplexity")


def _doc(help_text: str, default: Any = None, factory=None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help_text})
    return field(default=default, metadata={"help": help_text})


@dataclass
class TrainerConfig(Config):
    """Configuration of a training run (Hezar-compatible field names).

    Step-valued fields (``save_steps``, ``log_steps``, ``eval_steps``, ``warmup_steps``) take an int (optimizer
    updates) or a float in (0, 1] (a fraction of the total number of updates). One step is one optimizer update.
    """

    name: str = field(default="trainer", init=False)
    config_type: str = field(default=ConfigType.TRAINER, init=False)
    output_dir: str = _doc("Folder for checkpoints/ and logs/ (created). Required.")
    task: str = _doc(f"The task; one of {TaskType.values()}. Required.")
    device: str = _doc("`cuda` (falls back to CPU when no GPU is visible) or `cpu` to force the CPU.", "cuda")
    num_epochs: int | None = _doc("Passes over the training data. None = derived from max_steps.", None)
    init_weights_from: str | None = _doc("Model folder/Hub id/weights file whose matching tensors initialise the model. None = off.")
    init_weights_strict: bool = _doc("Refuse init_weights_from when it matches less than half of the model's tensors (name "
                                     "and shape): the run would train mostly from scratch. False = accept any match.", True)
    resume_from_checkpoint: bool | str | None = _doc("True = latest complete checkpoint in checkpoints_dir; a path = that one; a Hub repo id = a "
                                                     "pushed checkpoint (weights + trainer state; optimizer/scheduler/RNG only if "
                                                     "it holds accelerate/). None/False = fresh run.")
    max_steps: int | None = _doc("Stop after this many optimizer updates (overrides num_epochs). None = off.")
    num_dataloader_workers: int = _doc("DataLoader worker processes. 0 = load in the main process.", 0)
    dataloader_shuffle: bool = _doc("Shuffle training data each epoch (order is a pure function of seed and epoch).", True)
    seed: int = _doc("Seed of all RNGs and of the data order.", 42)
    optimizer: str = _doc(f"One of {OptimizerType.values()}.", OptimizerType.ADAM)
    learning_rate: float = _doc("Peak learning rate (after warm-up).", 2e-5)
    weight_decay: float = _doc("Decoupled weight decay (adamw) / L2 (adam, sgd); not applied to biases and norms. 0 = off.", 0.0)
    lr_scheduler: str | None = _doc(f"One of {LRSchedulerType.values()}. None = constant.")
    lr_scheduler_kwargs: dict | None = _doc("Extra scheduler arguments (polynomial: power, lr_end_ratio).")
    lr_scheduling_steps: int | None = _doc("Hezar's scheduler stepping every N updates; not supported (here the scheduler "
                                           "steps after every update): only None (unset) is accepted. See "
                                           "hezar_fields.HEZAR_ONLY_FIELDS.")
    warmup_steps: int | float = _doc("Linear warm-up: updates (int) or fraction of all updates (float < 1). 0 = off.", 0)
    batch_size: int = _doc("Per-process training batch size (samples).", 8)
    eval_batch_size: int | None = _doc("Per-process evaluation batch size. None = batch_size.")
    gradient_accumulation_steps: int = _doc("Micro-batches per optimizer update. 1 = off.", 1)
    distributed: bool = _doc("Kept for Hezar configs; the topology comes from `accelerate launch`, not from this flag.", False)
    mixed_precision: str | None = _doc(f"One of {PrecisionType.values()}. None = accelerate's launch setting.")
    use_cpu: bool = _doc("Force the CPU even when a GPU is visible (same as device: cpu).", False)
    do_evaluate: bool = _doc("Evaluate on eval_dataset after each epoch (and every eval_steps).", True)
    evaluate_with_generate: bool = _doc("For generative models, compute metrics on generate() outputs. False = on the teacher-forced next-token argmax (one forward, no decoding loop).", True)
    metrics: list | None = _doc("Metric names for the task (e.g. [f1, accuracy]). None = the task's defaults.")
    metric_for_best_model: str = _doc("Evaluation metric that picks the best checkpoint (`loss`, `f1`, ...; `evaluation.` prefix allowed).", "loss")
    greater_is_better: bool | None = _doc("Whether a larger metric_for_best_model is better. None = false for loss/cer/wer, true otherwise.")
    save_enabled: bool = _doc("Write checkpoints. False = save nothing.", True)
    save_freq: int | None = _doc("Save at the end of every N-th epoch. None = every epoch.")
    save_steps: int | float | None = _doc("Also save every N updates mid-epoch (int) or every fraction of all updates. None = off.")
    save_total_limit: int | None = _doc("Keep only the newest N checkpoints (plus the best). None = keep all.")
    load_best_model_at_end: bool = _doc("After training, load the weights of the best checkpoint.", False)
    early_stopping_patience: int | None = _doc("Stop when metric_for_best_model has not improved for this many evaluations in a "
                                               "row (epoch ends and eval_steps). None = off.")
    early_stopping_threshold: float = _doc("How much better than the best so far an evaluation must be to count as an "
                                           "improvement (in the metric's unit; 0 = any improvement).", 0.0)
    log_steps: int | float | None = _doc("Log train loss/LR/throughput every N updates (or fraction). None = once per epoch.")
    eval_steps: int | float | None = _doc("Also evaluate every N updates mid-epoch (or fraction). None = only at epoch ends.")
    checkpoints_dir: str = _doc("Checkpoints folder, relative to output_dir.", "checkpoints")
    logs_dir: str = _doc("Logs folder, relative to output_dir.", "logs")
    log_with: list | str | None = _doc("Accelerate trackers (accelerate.utils.LoggerType: tensorboard, wandb, ...); each "
                                       "one's package must be installed. None/[] = CSV only.", "tensorboard")
    run_name: str | None = _doc("Name of the log sub-folder. None = a timestamp (kept on resume).")
    max_grad_norm: float | None = _doc("Clip the global gradient norm to this. None or 0 = off.", 1.0)
    nan_policy: str = _doc(f"On a NaN/inf loss: {NanPolicy.values()}.", NanPolicy.RAISE)
    group_by_length: bool = _doc("Batch samples of similar length together (less padding).", False)
    torch_compile: bool = _doc("Compile the model with torch.compile.", False)
    dataloader_pin_memory: bool = _doc("Pin host memory for faster GPU copies (ignored on CPU).", True)
    ignore_data_order_mismatch: bool = _doc("Resume even when the data order differs from the checkpoint's (changed dataset/batch size/processes/seed).", False)
    resume_without_rng_state: bool = _doc("Resume even when a process's accelerate/random_states_<rank>.pkl is missing or unreadable: its "
                                          "random streams (dropout, augmentation) restart and the run is no longer bitwise "
                                          "exact; a warning says so. False = refuse (or, with resume_from_checkpoint: true, "
                                          "take the newest checkpoint whose RNG states load).", False)
    show_progress_bar: bool = _doc("Show tqdm progress bars on the main process.", True)
    write_plots: bool = _doc("After training, draw training_curves.png (and, for classification, confusion_matrix.png from "
                             "a prediction pass of the final model over eval_dataset) into the run's logs folder and "
                             "TensorBoard; needs matplotlib (pip install 'hezar_accel[plots]'). False = off.", True)
    push_to_hub: bool = _doc("Upload every saved checkpoint's model folder + train/ (not accelerate/) to hub_model_id in a "
                             "background thread: never blocks training, a failed upload is a warning, the run's end waits "
                             "for the last one. The token comes from HF_TOKEN or `hf auth login`, never from this config.", False)
    hub_model_id: str | None = _doc("Hub repo id (`owner/name`, created when missing) that push_to_hub uploads to.")
    overwrite_output_dir: bool = _doc("A fresh run may delete the checkpoints of an earlier run in output_dir. False = refuse to start over them.", False)

    default_filename: ClassVar[str] = TRAINER_CONFIG_FILE

    def __setattr__(self, key, value):
        if getattr(self, "_frozen", False):
            raise AttributeError(
                f"TrainerConfig is immutable after validation (tried to set `{key}`); use config.replace({key}=...)"
            )
        object.__setattr__(self, key, value)

    def __post_init__(self):
        # Hezar's spellings of "not set" (`save_freq: deprecated` in every train_config.yaml Hezar writes) mean the
        # default here: read as it before validation, so the config holds one spelling of each setting.
        for f in dataclasses.fields(self):
            if f.init and is_hezar_unset(f.name, getattr(self, f.name)):
                object.__setattr__(self, f.name, f.default)
        super().__post_init__()
        object.__setattr__(self, "_frozen", True)

    @property
    def best_metric_name(self) -> str:
        """metric_for_best_model without an `evaluation.` prefix."""
        return self.metric_for_best_model.split(".", 1)[1] if "." in self.metric_for_best_model else self.metric_for_best_model

    @property
    def best_is_greater(self) -> bool:
        if self.greater_is_better is not None:
            return self.greater_is_better
        return self.best_metric_name not in _LOWER_IS_BETTER

    @property
    def checkpoints_path(self) -> str:
        return os.path.join(self.output_dir, self.checkpoints_dir)

    @property
    def logs_path(self) -> str:
        return os.path.join(self.output_dir, self.logs_dir)

    def validate(self) -> list[str]:
        problems = super().validate()
        # These read one field each, so they are reported even when another field has the wrong type.
        wrong_type = {p.split(":", 1)[0] for p in problems}
        own_field = [p for p in hezar_only_field_problems(self) + tracker_problems(self.log_with)
                     if p.split(":", 1)[0] not in wrong_type]
        if problems:  # range checks below assume the types are right
            return problems + own_field
        problems += _check_choices(self)
        problems += _check_ranges(self)
        problems += _check_metrics(self)
        problems += _check_hub(self)
        return problems + own_field


def _choice(name: str, value, valid: list[str]) -> list[str]:
    if value in valid:
        return []
    hint = hezar_value_hint(name, value)
    if hint:
        return [f"{name}: `{value}` {hint}; valid: {valid}"]
    return [f"{name}: `{value}` is not valid{closest(value, valid)}; valid: {valid}"]


def _check_choices(c: TrainerConfig) -> list[str]:
    problems = []
    if c.output_dir in (None, ""):
        problems.append("output_dir: required; give the folder for checkpoints and logs")
    problems += _choice("task", c.task, TaskType.values()) if c.task is not None else ["task: required; one of " + str(TaskType.values())]
    problems += _choice("optimizer", c.optimizer, OptimizerType.values())
    if c.lr_scheduler is not None:
        problems += _choice("lr_scheduler", c.lr_scheduler, LRSchedulerType.values())
    if c.mixed_precision is not None:
        problems += _choice("mixed_precision", c.mixed_precision, PrecisionType.values())
    problems += _choice("nan_policy", c.nan_policy, NanPolicy.values())
    if c.device not in ("cuda", "cpu") and not str(c.device).startswith("cuda:"):
        problems.append(f"device: `{c.device}` is not valid; use `cuda` or `cpu`")
    return problems


def _positive(name: str, value, minimum=1) -> list[str]:
    if value is not None and value < minimum:
        return [f"{name}: {value} must be >= {minimum}"]
    return []


def _steps_value(name: str, value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, float):
        return [] if 0 < value <= 1 else [f"{name}: {value} as a fraction must be in (0, 1]; or give an int number of steps"]
    return [] if value >= 1 else [f"{name}: {value} must be >= 1 (steps) or a fraction in (0, 1]"]


# What each float field accepts, shown when it is not a finite number. YAML reads `.inf` and `.nan` as floats, and
# none of these fields has a meaning for them (an infinite LR or clip norm would only turn the weights into NaN).
_FINITE_RANGES = {
    "learning_rate": "a number > 0, e.g. 2e-5",
    "weight_decay": "a number >= 0 (0 = off)",
    "max_grad_norm": "a number >= 0 (null or 0 = off)",
    "warmup_steps": "an int >= 0 (updates) or a fraction in [0, 1)",
    "save_steps": "an int >= 1 (updates) or a fraction in (0, 1]; null = off",
    "log_steps": "an int >= 1 (updates) or a fraction in (0, 1]; null = once per epoch",
    "eval_steps": "an int >= 1 (updates) or a fraction in (0, 1]; null = only at epoch ends",
    "early_stopping_threshold": "a number >= 0 (0 = any improvement)",
}


def _non_finite(c: TrainerConfig) -> dict[str, str]:
    """Field name -> problem, for every float field (and lr_scheduler_kwargs value) that is inf or NaN."""
    problems = {}
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            valid = _FINITE_RANGES.get(f.name, "a finite number")
            problems[f.name] = f"{f.name}: {value} is not a finite number; give {valid}"
    kwargs = c.lr_scheduler_kwargs or {}
    bad = [f"{k} = {v}" for k, v in kwargs.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        problems["lr_scheduler_kwargs"] = (f"lr_scheduler_kwargs: {', '.join(bad)} is not a finite number; "
                                           "give finite values")
    return problems


def _check_ranges(c: TrainerConfig) -> list[str]:
    not_finite = _non_finite(c)
    problems = list(not_finite.values())
    # The range checks below would misdescribe inf/NaN (NaN fails every comparison), so those fields are said once.
    finite = {name: getattr(c, name) for name in _FINITE_RANGES if name not in not_finite}
    if c.num_epochs is None and c.max_steps is None:
        problems.append("num_epochs: give num_epochs or max_steps (both are None)")
    problems += _positive("num_epochs", c.num_epochs) + _positive("max_steps", c.max_steps)
    problems += _positive("batch_size", c.batch_size) + _positive("eval_batch_size", c.eval_batch_size)
    problems += _positive("gradient_accumulation_steps", c.gradient_accumulation_steps)
    problems += _positive("num_dataloader_workers", c.num_dataloader_workers, 0)
    problems += _positive("save_total_limit", c.save_total_limit) + _positive("save_freq", c.save_freq)
    problems += _positive("early_stopping_patience", c.early_stopping_patience)
    if "early_stopping_threshold" not in not_finite and c.early_stopping_threshold < 0:
        problems.append(f"early_stopping_threshold: {c.early_stopping_threshold} must be >= 0 (0 = any improvement)")
    if c.early_stopping_patience is not None and not c.do_evaluate:
        problems.append("early_stopping_patience: needs evaluations, but do_evaluate is false; set do_evaluate: true "
                        "(and pass an eval_dataset) or early_stopping_patience: null")
    lr, decay = finite.get("learning_rate"), finite.get("weight_decay")
    clip, warmup = finite.get("max_grad_norm"), finite.get("warmup_steps")
    if lr is not None and not lr > 0:
        problems.append(f"learning_rate: {lr} must be > 0")
    if decay is not None and decay < 0:
        problems.append(f"weight_decay: {decay} must be >= 0")
    if clip is not None and clip < 0:
        problems.append(f"max_grad_norm: {clip} must be >= 0 (None or 0 = off)")
    if isinstance(warmup, float) and not 0 <= warmup < 1:
        problems.append(f"warmup_steps: {warmup} as a fraction must be in [0, 1); or give an int number of steps")
    elif isinstance(warmup, int) and warmup < 0:
        problems.append(f"warmup_steps: {warmup} must be >= 0")
    for name in ("save_steps", "log_steps", "eval_steps"):
        problems += _steps_value(name, finite.get(name))
    if isinstance(c.resume_from_checkpoint, str) and c.resume_from_checkpoint == "":
        problems.append("resume_from_checkpoint: empty string; use true, a checkpoint path, or leave it unset")
    return problems


def _check_metrics(c: TrainerConfig) -> list[str]:
    if c.task not in TaskType.values():
        return []
    from ..metrics import get_metrics_handler_class

    handler = get_metrics_handler_class(c.task)
    problems = handler.check_metrics(c.metrics)
    if problems:
        return problems
    produced = ["loss", *handler.output_names(c.metrics)]
    if c.best_metric_name not in produced:
        problems.append(
            f"metric_for_best_model: `{c.metric_for_best_model}` is not produced by the metrics of task "
            f"{c.task}{closest(c.best_metric_name, produced)}; valid: {produced}"
        )
    return problems


def _check_hub(c: TrainerConfig) -> list[str]:
    if c.push_to_hub and not c.hub_model_id:
        return ["hub_model_id: required when push_to_hub is true; give the Hub repo id (`owner/name`) to upload checkpoints to"]
    repo = c.hub_model_id
    if repo is not None and (repo.count("/") != 1 or not all(repo.split("/")) or any(ch.isspace() for ch in repo)):
        return [f"hub_model_id: `{repo}` is not a Hub repo id; use `owner/name`"]
    return []
