"""The ``Trainer``: a hand-written epoch loop on one ``accelerate.Accelerator``.

The same code runs on a CPU, one GPU, DDP, FSDP and DeepSpeed; ``accelerate launch --config_file ...`` picks the
topology. Each piece of the loop is a method that can be overridden alone (Hezar's seed contract):
``prepare_input_batch``, ``forward``, ``compute_loss``, ``training_step``, ``optimization_step``,
``inner_training_loop``, ``evaluation_step``, ``evaluate``, ``print_info``, ``log``, ``save``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import time
from typing import Any, Callable, Mapping

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from ..constants import TQDM_BAR_FORMAT, NanPolicy
from ..errors import ConfigError
from ..metrics import get_metrics_handler_class
from ..models import Model
from . import backend
from . import checkpoint as ckpt
from . import saving
from .config import TrainerConfig
from .info import format_info, info_rows
from .evaluation import evaluation_loop
from .guards import NonFiniteTracker, StopSignal, all_finite, raise_if_non_finite, stop_if_signalled
from .loggers import end_run_logs, log_row, start_run_logs, window_row
from .optim import build_optimizer, build_scheduler, scaler_scale, set_schedule_length, update_was_skipped
from .setup import (RunningLoss, build_dataloaders, check_inputs, check_precision, epoch_dataloader, loss_scales,
                    update_groups)
from .state import TrainerState
from .steps import plan_steps


class Trainer:
    """Train and evaluate a Hezar-style model with 🤗 Accelerate.

    ``__init__`` does, in order: config checks, seeding, devices (one ``Accelerator``), model + preprocessor
    (+ ``init_weights_from``), dataloaders, optimizer and LR scheduler (all through ``accelerator.prepare``), the
    task's metrics handler, paths and loggers, and the trainer state.

    Args:
        config: the run's :class:`TrainerConfig`.
        model: a :class:`Model` (or any module with ``forward(**inputs) -> {"logits"}`` and ``compute_loss``).
        train_dataset: training data (a ``Dataset`` with ``data_collator``).
        eval_dataset: evaluation data, or None.
        data_collator: batch collate function; default: ``train_dataset.data_collator``.
        preprocessor: tokenizer/image processor/feature extractor saved with the model; default: the model's.
        metrics_handler: custom metrics handler; default: the task's.
        optimizer: custom optimizer (over ``model``'s parameters); default: built from the config.
        lr_scheduler: custom LR scheduler; default: built from the config.

    Raises:
        ConfigError: invalid inputs (all problems in one message) before anything is built.
    """

    def __init__(self, config: TrainerConfig, model: Model, train_dataset=None, eval_dataset=None,
                 data_collator: Callable | None = None, preprocessor=None, metrics_handler=None,
                 optimizer: torch.optim.Optimizer | None = None, lr_scheduler=None):
        check_inputs(config, model, train_dataset, eval_dataset)
        self.config = config
        set_seed(config.seed)
        self.accelerator = self._build_accelerator()
        model.preprocessor = preprocessor if preprocessor is not None else getattr(model, "preprocessor", None)
        self.init_weights_report = self._init_weights(model)
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.data_collator = data_collator or getattr(train_dataset, "data_collator", None)
        train_dl, eval_dl = build_dataloaders(config, train_dataset, eval_dataset, self.data_collator,
                                              pin_memory=self.accelerator.device.type == "cuda")
        self.train_sampler = train_dl.sampler if train_dl is not None else None
        optimizer = optimizer or build_optimizer(model, config.optimizer, config.learning_rate, config.weight_decay,
                                                 self.accelerator.device.type)
        if config.torch_compile:
            model = torch.compile(model)
        # The scheduler goes through prepare with the optimizer (DeepSpeed needs both at once); its length is only
        # known from the prepared dataloader, so it is set right after.
        scheduler = lr_scheduler or build_scheduler(optimizer, config.lr_scheduler, config.lr_scheduler_kwargs)
        (self.model, self.optimizer, self.train_dataloader, self.eval_dataloader,
         self.lr_scheduler) = self.accelerator.prepare(model, optimizer, train_dl, eval_dl, scheduler)
        self.plan = None
        if self.train_dataloader is not None:  # without training data the Trainer only evaluates
            self.plan = plan_steps(len(self.train_dataloader), config.gradient_accumulation_steps, config.num_epochs,
                                   config.max_steps, config.warmup_steps, config.save_steps, config.log_steps,
                                   config.eval_steps)
            if lr_scheduler is None:
                set_schedule_length(self.lr_scheduler, self.plan.total_steps, self.plan.warmup_steps)
        self.metrics_handler = metrics_handler or get_metrics_handler_class(config.task)(
            config.metrics, model_config=self.unwrapped_model.config, preprocessor=self.unwrapped_model.preprocessor)
        self.state = TrainerState(total_steps=self.plan.total_steps if self.plan else 0, run_name=config.run_name)
        self.accelerator.register_for_checkpointing(self.state)
        saving.register_weight_hooks(self)
        self._finalizer = ckpt.CheckpointFinalizer()
        self.csv_logger = None
        self._loss = RunningLoss(self.accelerator.device)
        self._loss_params = None
        self._nonfinite = NonFiniteTracker(self.accelerator.device)
        self._stop = StopSignal()
        self._skip_update = False

    # -- construction ----------------------------------------------------------------------------------------------
    def _build_accelerator(self) -> Accelerator:
        c = self.config
        use_cpu = c.use_cpu or c.device == "cpu" or not torch.cuda.is_available()
        check_precision(c.mixed_precision, on_cpu=use_cpu)
        trackers = [c.log_with] if isinstance(c.log_with, str) else list(c.log_with or [])
        # What the launcher asked for is read first: accelerate can fall back to another mode without a word (e.g.
        # cpu=True drops DeepSpeed), and the check below refuses any such switch.
        requested = backend.requested_mode()
        accelerator = Accelerator(
            **backend.accelerator_device_kwargs(use_cpu, requested),
            mixed_precision=c.mixed_precision,
            gradient_accumulation_steps=c.gradient_accumulation_steps,
            log_with=trackers or None,
            # Accumulation is driven by the loop itself (update_groups + no_sync); accelerate only learns the number
            # of steps so that backward() and DeepSpeed scale consistently.
            project_config=ProjectConfiguration(project_dir=c.output_dir, logging_dir=c.logs_path),
            # The scheduler is stepped by hand once per real update (not num_processes times, not on skipped steps).
            step_scheduler_with_optimizer=False,
        )
        backend.check_mode(accelerator, requested, use_cpu)
        return accelerator

    def _init_weights(self, model: Model):
        if not self.config.init_weights_from:
            return None
        report = model.load_matching_weights(self.config.init_weights_from)
        if not report.loaded:
            raise ConfigError("TrainerConfig", [f"init_weights_from: `{self.config.init_weights_from}` shares no "
                                                f"tensor (name and shape) with {type(model).__name__}: {report.summary()}"])
        self.accelerator.print(f"init_weights_from {self.config.init_weights_from}: {report.summary()}")
        return report

    @property
    def unwrapped_model(self) -> Model:
        # Cached per wrapped model: accelerate's unwrap_model walks every submodule (~0.4 ms on BERT-small), and the
        # step and evaluation loops ask for the model several times per batch.
        cached = getattr(self, "_unwrapped", None)
        if cached is None or cached[0] is not self.model:
            model = self.accelerator.unwrap_model(self.model)
            cached = self._unwrapped = (self.model, getattr(model, "_orig_mod", model))  # _orig_mod: torch.compile
        return cached[1]

    # -- one step --------------------------------------------------------------------------------------------------
    def prepare_input_batch(self, input_batch: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the tensors of a collated batch (accelerate already moved them to the device)."""
        return {k: v for k, v in input_batch.items() if isinstance(v, torch.Tensor)}

    def forward(self, input_batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the model on a batch; returns its output dict (with ``logits``)."""
        return self.model(**input_batch)

    def compute_loss(self, model_outputs: dict, input_batch: dict) -> torch.Tensor:
        """Call the model's ``compute_loss`` with the arguments its signature names, taken from outputs and batch."""
        if self._loss_params is None:
            self._loss_params = list(inspect.signature(self.unwrapped_model.compute_loss).parameters)
        available = {**input_batch, **model_outputs}
        return self.unwrapped_model.compute_loss(**{k: available[k] for k in self._loss_params if k in available})

    def training_step(self, input_batch: dict) -> torch.Tensor | None:
        """Forward, loss and backward of one micro-batch; returns the detached loss (still on the device).

        The loss is backpropagated with the micro-batch's weight in its update (see ``_loss_scales``), so gradient
        accumulation and several processes give the gradient of one big batch. Under ``nan_policy: skip_step`` a
        non-finite loss (on any process) is not backpropagated, the update is skipped and None is returned.
        """
        with self.accelerator.autocast():
            outputs = self.forward(input_batch)
            loss = self.compute_loss(outputs, input_batch)
        if self.config.nan_policy == NanPolicy.SKIP_STEP and not all_finite(loss, self.accelerator):
            self._skip_update = True
            return None
        self._nonfinite.record(loss, self.state.global_step + 1)
        scale = getattr(self, "_micro_scale", None)
        self.accelerator.backward(loss if scale is None else loss * scale.to(loss.dtype))
        return loss.detach()

    def optimization_step(self) -> None:
        """Clip, step the optimizer and (on real, unskipped updates) the LR scheduler, then zero the gradients."""
        if self._skip_update:
            if self.accelerator.sync_gradients:  # drop the whole update's gradients: nothing is applied
                self.optimizer.zero_grad(set_to_none=True)
                self._skip_update = False
                self.state.skipped_updates += 1
            return
        if self.accelerator.sync_gradients and self.config.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        scale = scaler_scale(self.accelerator)
        self.optimizer.step()
        if self.accelerator.sync_gradients and not update_was_skipped(self.accelerator, scale):
            self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    # -- loops -----------------------------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: bool | str | None = None) -> dict[str, float]:
        """Train for the configured epochs/steps, evaluating, logging and checkpointing on the way.

        Args:
            resume_from_checkpoint: overrides the config's field (True = latest complete checkpoint, or a path).

        Returns:
            The last evaluation results (or the last train results when there is no eval set).

        Raises:
            ConfigError: the Trainer was built without a train_dataset.
        """
        if self.train_dataloader is None:
            raise ConfigError("Trainer", ["train_dataset: required to train; this Trainer was built to evaluate only"])
        self.resume(resume_from_checkpoint if resume_from_checkpoint is not None else self.config.resume_from_checkpoint)
        self.print_info()
        results = {}
        self._stop.install()
        try:
            results = self._epochs()
        finally:
            self._stop.uninstall()
            saving.wait_for_checkpoint(self)  # the last save's background part (fsync, rename) ends with train()
        self.finish()
        return results

    def _epochs(self) -> dict[str, float]:
        results = train_results = {}
        while self.state.epoch <= self.plan.num_epochs and self.state.global_step < self.plan.total_steps:
            epoch = self.state.epoch
            train_results = self.inner_training_loop(epoch)
            raise_if_non_finite(self)
            results = self.evaluate() if self._can_evaluate() else {}
            self._track_best(results)
            self.log({"step": self.state.global_step, "epoch": epoch, **_prefixed("train", train_results),
                      **_prefixed("evaluation", results)})
            self.state.epoch, self.state.epoch_step = epoch + 1, 0
            self._loss.zero_()
            if self._epoch_save_due(epoch):
                self.save_checkpoint()
        return results or train_results

    def inner_training_loop(self, epoch: int) -> dict[str, float]:
        """One epoch (or its rest, after a resume) of updates; returns ``{"loss": mean train loss of the epoch}``."""
        self.model.train()
        dataloader = epoch_dataloader(self.accelerator, self.train_dataloader, epoch,
                                             self.state.epoch_step * self.config.gradient_accumulation_steps)
        bar = tqdm(total=self.plan.steps_per_epoch, initial=self.state.epoch_step, unit="step",
                   desc=f"Epoch: {epoch}/{self.plan.num_epochs}", bar_format=TQDM_BAR_FORMAT, ascii=" #",
                   disable=not (self.config.show_progress_bar and self.accelerator.is_local_main_process))
        self._window_start = (time.perf_counter(), self.state.global_step)
        for group in update_groups(dataloader, self.config.gradient_accumulation_steps):
            scales = loss_scales(group, self.accelerator, self.unwrapped_model, self.config.gradient_accumulation_steps)
            for i, input_batch in enumerate(group):
                # The last micro-batch of a group syncs gradients across processes and steps the optimizer; the
                # others accumulate locally (no_sync), as one big batch would.
                last = i == len(group) - 1
                self.accelerator.gradient_state._set_sync_gradients(last)
                with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                    self._micro_scale = scales[i]
                    loss = self.training_step(self.prepare_input_batch(input_batch))
                self.optimization_step()
                if loss is not None:
                    self._loss.add(loss)
            self.state.global_step += 1
            self.state.epoch_step += 1
            bar.update(1)
            self._on_update(epoch, bar)
            if self.state.global_step >= self.plan.total_steps:
                break
        epoch_mean = self._loss.reduce(self.accelerator, which=0)
        bar.set_postfix(loss=f"{epoch_mean:.4f}")
        bar.close()
        return {"loss": epoch_mean}

    def _on_update(self, epoch: int, bar) -> None:
        """Mid-epoch events after an update: log, evaluate, save (the epoch's last update defers to the epoch end)."""
        step, plan = self.state.global_step, self.plan
        if self.state.epoch_step >= plan.steps_per_epoch or step >= plan.total_steps:
            stop_if_signalled(self)
            return
        if any(plan.is_due(n, step) for n in (plan.log_steps, plan.eval_steps, plan.save_steps)):
            raise_if_non_finite(self)
        row = {}
        if plan.is_due(plan.log_steps, step):
            row.update(window_row(self, bar))
        if plan.is_due(plan.eval_steps, step) and self._can_evaluate():
            results = self.evaluate()
            self._track_best(results)
            row.update(_prefixed("evaluation", results))
            self.model.train()
        if row:
            self.log({"step": step, "epoch": epoch, **row})
        if plan.is_due(plan.save_steps, step) and self.config.save_enabled:
            self.save_checkpoint()
        stop_if_signalled(self)

    def evaluation_step(self, input_batch: dict) -> dict[str, torch.Tensor]:
        """Loss and compact predictions (ids, not logits) of one evaluation batch, on the device."""
        with self.accelerator.autocast():
            outputs = self.forward(input_batch)
            loss = self.compute_loss(outputs, input_batch) if "labels" in input_batch else None
        if self.unwrapped_model.is_generative and self.config.evaluate_with_generate:
            generate_inputs = {k: v for k, v in input_batch.items() if k != "labels"}
            outputs = {**outputs, "generated_ids": self.unwrapped_model.generate(**generate_inputs)}
        return {"loss": loss, "predictions": self.metrics_handler.predictions_from_outputs(outputs, input_batch),
                "labels": self.metrics_handler.labels_from_batch(input_batch)}

    @torch.inference_mode()
    def evaluate(self) -> dict[str, float]:
        """Evaluate on ``eval_dataset``: corpus-level metrics, exact under any number of processes.

        Predictions and labels are padded across processes, gathered with ``gather_for_metrics`` (duplicated tail
        samples dropped) and fed to the metrics batch by batch; ``compute()`` runs once.

        Returns:
            ``{"loss": ..., <metric>: ...}``.
        """
        return evaluation_loop(self)

    # -- bookkeeping -----------------------------------------------------------------------------------------------
    def _can_evaluate(self) -> bool:
        return self.config.do_evaluate and self.eval_dataloader is not None

    def _track_best(self, results: dict[str, float]) -> None:
        name = self.config.best_metric_name
        if name not in results:
            return
        value, best = results[name], self.state.best_metric
        better = best is None or (value > best if self.config.best_is_greater else value < best)
        if better and not math.isnan(value):
            self.state.best_metric, self.state.best_step = float(value), self.state.global_step
            self.state.best_checkpoint = None  # set when a checkpoint of this step is written

    def _epoch_save_due(self, epoch: int) -> bool:
        if not self.config.save_enabled:
            return False
        last = epoch >= self.plan.num_epochs or self.state.global_step >= self.plan.total_steps
        return last or epoch % (self.config.save_freq or 1) == 0

    def _last_checkpoint_hint(self) -> str:
        latest = ckpt.find_latest(self.config.checkpoints_path)
        return f"the last good checkpoint is `{latest}`" if latest else "no checkpoint was written yet"

    def resume(self, resume_from_checkpoint: bool | str | None) -> None:
        """Restore model, optimizer, scheduler, RNG, trainer state and data position from a checkpoint (no-op if unset)."""
        if resume_from_checkpoint:
            saving.restore(self, resume_from_checkpoint)
        else:
            saving.start_fresh(self)
        self._start_logging()

    def _start_logging(self) -> None:
        self.csv_logger = start_run_logs(self)

    def print_info(self) -> None:
        """Print the "Training Info" banner (main process only)."""
        self.accelerator.print(format_info(info_rows(self)))

    def log(self, logs: dict[str, Any]) -> None:
        """Append a row to the CSV log and send the numbers to the trackers (TensorBoard) at ``logs["step"]``."""
        log_row(self, logs)

    def save_checkpoint(self) -> str | None:
        """Write ``checkpoints/<global step>/`` atomically (all processes must call it). Returns its path on main.

        The bytes are written before it returns; the folder becomes complete (fsynced, marked, renamed into place)
        on a background thread, by the next save or the end of ``train()`` at the latest, or at once with
        ``saving.wait_for_checkpoint(trainer)``.
        """
        return saving.save_checkpoint(self)

    def save(self, path: str | os.PathLike, config_filename: str | None = None, model_filename: str | None = None,
             model_config_filename: str | None = None, subfolder: str | None = None,
             dataset_config_file: str | None = None) -> None:
        """Save the model folder (full weights, preprocessor) plus ``train/`` configs into ``path``.

        Must be called on every process: gathering full weights from sharded models (FSDP, ZeRO-3) is collective.
        """
        saving.save_model_folder(self, path, config_filename=config_filename, model_filename=model_filename,
                                 model_config_filename=model_config_filename, subfolder=subfolder,
                                 dataset_config_file=dataset_config_file)

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """Save the trained model (and, by option, logs/configs) and upload it to the Hub in one commit."""
        from .hub_push import push_trainer_to_hub

        return push_trainer_to_hub(self, repo_id, **kwargs)

    def finish(self) -> None:
        """Load the best weights if asked, wait for a pending checkpoint upload (push_to_hub), close the trackers."""
        if self.config.load_best_model_at_end:
            saving.load_best_weights(self)
        from .hub_sync import wait_for_pushes

        wait_for_pushes(self)
        self.accelerator.wait_for_everyone()
        end_run_logs(self.accelerator)


def _prefixed(prefix: str, results: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}.{k}": v for k, v in results.items()}
