"""The ``Trainer``: a hand-written epoch loop on one ``accelerate.Accelerator``.

The same code runs on a CPU, one GPU, DDP, FSDP and DeepSpeed; ``accelerate launch --config_file ...`` picks the
topology. Each piece of the loop is a method that can be overridden alone (Hezar's seed contract):
``prepare_input_batch``, ``forward``, ``compute_loss``, ``training_step``, ``optimization_step``,
``inner_training_loop``, ``evaluation_step``, ``evaluate``, ``print_info``, ``log``, ``save``.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import math
import os
import signal
from typing import Any, Callable, Mapping

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from ..constants import TQDM_BAR_FORMAT, NanPolicy, TaskType
from ..errors import CheckpointError, ConfigError
from ..metrics import get_metrics_handler_class
from ..models import Model
from . import backend
from .callbacks import CallbackList, EarlyStoppingCallback
from .checkpoint import checkpoint_name
from .checkpointer import Checkpointer
from .config import TrainerConfig
from .data_inputs import ITERABLE
from .data_order import data_order_for
from .evaluation import PredictionOutput, evaluation_loop
from .guards import NonFiniteTracker, StopSignal, TrainingPreempted, all_finite, non_finite_error
from .info import EvaluationTable, format_info, info_rows
from .iterables import empty_pass_error
from .loggers import RunLog
from .optim import SchedulerStepper, build_optimizer, build_scheduler, set_schedule_length
from .resume import ResumeReport
from .setup import (build_dataloaders, build_eval_dataloader, check_inputs, check_model_source, epoch_dataloader,
                    loss_scales, update_groups)
from .state import TrainerState
from .steps import plan_steps
from .weights import ModelWeights, init_weights, weights_fingerprint


class Trainer:
    """Train and evaluate a Hezar-style model with 🤗 Accelerate.

    ``__init__`` does, in order: config checks, seeding, devices (one ``Accelerator``), model + preprocessor
    (+ ``init_weights_from``), dataloaders, optimizer and LR scheduler (all through ``accelerator.prepare``), the
    task's metrics handler, paths and loggers, and the trainer state.

    Args:
        config: the run's :class:`TrainerConfig`.
        model: a :class:`Model` (or any module with ``forward(**inputs) -> {"logits"}`` and ``compute_loss``).
        train_dataset: training data: a hezar_accel ``Dataset`` (with its ``data_collator``), a 🤗
            ``datasets.Dataset`` or torch map-style dataset of tokenized dict rows, or a torch/🤗 ``IterableDataset``
            (trains with ``max_steps``; an epoch is one pass). See ``data_inputs.py`` and ``iterables.py``.
        eval_dataset: evaluation data of the same kinds (an iterable must be finite), or None.
        data_collator: batch collate function; default: ``train_dataset.data_collator``, else (🤗-style rows) a
            :class:`~hezar_accel.data.columns.ColumnCollator` that keeps the model's input columns (``input_ids``
            fed as ``token_ids``, ``label`` as ``labels``) and pads them (token ids with the tokenizer's pad id,
            labels with -100, the rest with 0).
        preprocessor: tokenizer/image processor/feature extractor saved with the model; default: the model's.
        metrics_handler: custom metrics handler; default: the task's.
        optimizer: custom optimizer (over ``model``'s parameters); default: built from the config.
        lr_scheduler: custom LR scheduler; default: built from the config.
        callbacks: :class:`~.callbacks.TrainerCallback` objects, called in this order (early stopping is added from
            the config's ``early_stopping_patience``).
        model_init: builds the model (instead of ``model``) after the Trainer has seeded every RNG with
            ``config.seed``, so two runs with the same seed start from the same weights; a model built before the
            Trainer is created starts from whatever the RNG held then.

    Raises:
        ConfigError: invalid inputs (all problems in one message) before anything is built: e.g. a list instead of
            a dataset, rows that are not dicts or lack ``labels``/the model's inputs, an iterable without ``max_steps``.
    """

    def __init__(self, config: TrainerConfig, model: Model | None = None, train_dataset=None, eval_dataset=None,
                 data_collator: Callable | None = None, preprocessor=None, metrics_handler=None,
                 optimizer: torch.optim.Optimizer | None = None, lr_scheduler=None, callbacks=(),
                 model_init: Callable[[], Model] | None = None):
        check_model_source(config, model, model_init)
        set_seed(config.seed)
        if model_init is not None:
            model = model_init()  # after seeding: the initial weights are a function of config.seed
        preprocessor = preprocessor if preprocessor is not None else getattr(model, "preprocessor", None)
        self.data_inputs = check_inputs(config, model, train_dataset, eval_dataset, preprocessor, data_collator)
        self.config = config
        self.accelerator = backend.build_accelerator(config)
        for note in self.data_inputs.notes:
            self.accelerator.print(f"Data: {note}")
        model.preprocessor = preprocessor
        self.init_weights_report = init_weights(model, config.init_weights_from, config.init_weights_strict,
                                                self.accelerator.print)
        # Before any wrapping or sharding: what the banner shows, to tell two runs' starting points apart.
        self.initial_weights_fingerprint = weights_fingerprint(model)
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.data_collator = self.data_inputs.train_collator
        eval_collator = self.data_inputs.collator_for(eval_dataset) if eval_dataset is not None else None
        train_dl, eval_dl = build_dataloaders(config, train_dataset, eval_dataset, self.data_collator,
                                              pin_memory=self.accelerator.device.type == "cuda",
                                              eval_collator=eval_collator)
        iterable = self.data_inputs.kinds.get("train_dataset") == ITERABLE  # no length: passes end by running out
        self.train_sampler = train_dl.sampler if train_dl is not None and not iterable else None  # epoch-seeded
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
            self.plan = plan_steps(None if iterable else len(self.train_dataloader),
                                   config.gradient_accumulation_steps, config.num_epochs, config.max_steps,
                                   config.warmup_steps, config.save_steps, config.log_steps, config.eval_steps)
            if lr_scheduler is None:
                set_schedule_length(self.lr_scheduler, self.plan.total_steps, self.plan.warmup_steps)
        data_config = getattr(train_dataset if train_dataset is not None else eval_dataset, "config", None)
        self.metrics_handler = metrics_handler or get_metrics_handler_class(config.task)(
            config.metrics, model_config=self.unwrapped_model.config, preprocessor=self.unwrapped_model.preprocessor,
            dataset_config=data_config)
        self._check_best_metric()
        # The state is saved as YAML beside the weights, never registered with accelerate (which would pickle it).
        self.state = TrainerState(total_steps=self.plan.total_steps if self.plan else 0, run_name=config.run_name)
        self.resumed: ResumeReport | None = None
        self.run_log = RunLog(self.accelerator, config, self.state)
        self.weights = ModelWeights(self.accelerator, lambda: (self.model, self.unwrapped_model), config,
                                    getattr(train_dataset, "config", None))
        self.data_order = None
        if self.plan is not None:
            self.data_order = data_order_for(self.train_dataloader, train_dl, train_dataset, config, self.accelerator,
                                             self.plan.steps_per_epoch)
        self.checkpointer = Checkpointer(self.accelerator, config, self.state, self.weights, self.run_log.loss,
                                         self.data_order, self.lr_scheduler, self.optimizer, self.plan)
        self.scheduler_stepper = SchedulerStepper(self.accelerator, self.lr_scheduler)
        self.nonfinite = NonFiniteTracker(self.accelerator.device)
        self.stop_signal = StopSignal()
        self.callbacks = CallbackList()
        for callback in callbacks or ():
            self.add_callback(callback)
        if config.early_stopping_patience is not None:
            self.add_callback(EarlyStoppingCallback(config.early_stopping_patience, config.early_stopping_threshold))
        self.evaluation_table = EvaluationTable(self.accelerator.print)
        self.last_evaluation: dict[str, float] = {}
        self._other_eval_loaders: dict[int, tuple] = {}
        self._loss_params = None
        self._micro_scale = None  # the current micro-batch's loss weight (see setup.loss_scales)
        self._skip_update = False

    # -- construction ----------------------------------------------------------------------------------------------
    def _check_best_metric(self) -> None:
        """metric_for_best_model against what the metrics compute on this data (the config alone was checked
        before): e.g. `f1` on a POS tag set, whose metrics are token accuracy only."""
        check = getattr(self.metrics_handler, "best_metric_problem", None)  # a custom handler may not have it
        problem = check(self.config.best_metric_name) if check is not None else None
        if problem:
            raise ConfigError("TrainerConfig", [problem])

    def add_callback(self, callback) -> None:
        """Add a :class:`~.callbacks.TrainerCallback` (its hooks run after those added before it)."""
        self.callbacks.add(callback, self)

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
        """Keep the tensors of a collated batch (accelerate already moved them to the device), under the model's
        input names: a 🤗-style ``input_ids`` is fed as ``token_ids`` to a model that reads those."""
        renames = self.data_inputs.batch_renames
        return {(renames[k] if k in renames and renames[k] not in input_batch else k): v
                for k, v in input_batch.items() if isinstance(v, torch.Tensor)}

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

        The loss is backpropagated with the micro-batch's weight in its update (``setup.loss_scales``), so gradient
        accumulation and several processes give the gradient of one big batch. Under ``nan_policy: skip_step`` a
        non-finite loss (on any process) is not backpropagated, the update is skipped and None is returned.
        """
        with self.accelerator.autocast():
            outputs = self.forward(input_batch)
            loss = self.compute_loss(outputs, input_batch)
        if self.config.nan_policy == NanPolicy.SKIP_STEP and not all_finite(loss, self.accelerator):
            self._skip_update = True
            return None
        self.nonfinite.record(loss, self.state.global_step + 1)
        scale = self._micro_scale
        self.accelerator.backward(loss if scale is None else loss * scale.to(loss.dtype))
        return loss.detach()

    def optimization_step(self) -> None:
        """Clip, step the optimizer and (on real, unskipped updates) the LR scheduler, then zero the gradients.

        Called after every micro-batch; accelerate's optimizer only steps on the one that syncs gradients.
        """
        sync = self.accelerator.sync_gradients
        if self._skip_update:
            if sync:  # drop the whole update's gradients: nothing is applied
                self.optimizer.zero_grad(set_to_none=True)
                self._skip_update = False
                self.state.skipped_updates += 1
            return
        if sync and self.config.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        if sync:
            self.scheduler_stepper.before_update()
        self.optimizer.step()
        if sync:
            self.scheduler_stepper.after_update()
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
            CheckpointError: resuming or saving failed (the message names the file and the last intact checkpoint).
            TrainingError: a NaN/inf loss under ``nan_policy: raise``.
            TrainingPreempted: SIGTERM/SIGINT arrived; a checkpoint was saved (exits with ``EXIT_PREEMPTED``).
        """
        if self.train_dataloader is None:
            raise ConfigError("Trainer", ["train_dataset: required to train; this Trainer was built to evaluate only"])
        self.resume(resume_from_checkpoint if resume_from_checkpoint is not None else self.config.resume_from_checkpoint)
        self.print_info()
        self.callbacks.call("on_train_begin", self.state)
        self.stop_signal.install(self.accelerator.num_processes)
        try:
            results = self._epochs()
        finally:
            self.stop_signal.uninstall()
            self.checkpointer.wait()  # the last save's background part (fsync, rename) ends with train()
        self.callbacks.call("on_train_end", self.state)
        self.finish()
        return results

    def _epochs(self) -> dict[str, float]:
        train_results = {}
        control = self.callbacks.control
        # An epoch whose updates are all done but whose end (evaluation, log row, save) is not - a run stopped by a
        # signal in its last update - still runs that end, without an update.
        while (self.plan.runs_epoch(self.state.epoch) and not control.should_stop
               and (self.state.global_step < self.plan.total_steps or self.state.epoch_step > 0)):
            epoch = self.state.epoch
            train_results = self.inner_training_loop(epoch)
            if control.should_stop:  # a callback stopped the run mid-epoch; its requests were handled there
                break
            if self.state.epoch_step == 0 and self.state.global_step < self.plan.total_steps:
                raise empty_pass_error(epoch, self.plan.total_steps)  # an iterable with nothing left: no endless loop
            self._raise_if_non_finite()
            self.scheduler_stepper.settle()
            row = {"step": self.state.global_step, "epoch": epoch, **_prefixed("train", train_results)}
            if self._can_evaluate():
                self._evaluate_in_training(row)
            self.log(row)
            self.state.epoch, self.state.epoch_step = epoch + 1, 0
            self.run_log.loss.zero_()
            if self.checkpointer.maybe_save(epoch_end=epoch):
                self.callbacks.call("on_save", self.state, checkpoint=self.checkpointer.last_saved)
            self.callbacks.call("on_epoch_end", self.state)
            self._handle_requests(row)
        return self.last_evaluation or train_results

    def inner_training_loop(self, epoch: int) -> dict[str, float]:
        """One epoch (or its rest, after a resume) of updates; returns ``{"loss": mean train loss of the epoch}``."""
        self.model.train()
        dataloader = epoch_dataloader(self.accelerator, self.train_dataloader, epoch,
                                      self.state.epoch_step * self.config.gradient_accumulation_steps)
        bar = tqdm(total=self.plan.steps_per_epoch, initial=self.state.epoch_step, unit="step",
                   desc=f"Epoch: {epoch}/{self.plan.num_epochs or '?'}", bar_format=TQDM_BAR_FORMAT, ascii=" #",
                   disable=not (self.config.show_progress_bar and self.accelerator.is_local_main_process))
        self.run_log.start_window()
        groups = update_groups(dataloader, self.config.gradient_accumulation_steps)
        for group in itertools.islice(groups, max(0, self.plan.total_steps - self.state.global_step)):
            scales = loss_scales(group, self.accelerator, self.unwrapped_model, self.config.gradient_accumulation_steps)
            for i, input_batch in enumerate(group):
                # The last micro-batch of a group syncs gradients across processes and steps the optimizer; the
                # others accumulate locally (no_sync), as one big batch would.
                last = i == len(group) - 1
                self.accelerator.sync_gradients = last
                with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                    self._micro_scale = scales[i]
                    loss = self.training_step(self.prepare_input_batch(input_batch))
                self.optimization_step()
                if loss is not None:
                    self.run_log.loss.add(loss)
            self.state.global_step += 1
            self.state.epoch_step += 1
            bar.update(1)
            # The prepared dataloader reads one batch ahead: it knows when the batch just used was the pass's last.
            self._on_update(epoch, bar, pass_ended=bool(getattr(dataloader, "end_of_dataloader", False)))
            if self.callbacks.control.should_stop:
                break
        epoch_mean = self.run_log.epoch_loss()
        bar.set_postfix(loss=f"{epoch_mean:.4f}")
        bar.close()
        return {"loss": epoch_mean}

    def _on_update(self, epoch: int, bar, pass_ended: bool = False) -> None:
        """After an update: mid-epoch log, evaluation and save when due (the epoch's last update leaves them to the
        epoch end), the callbacks' step hook and their requests, then the stop check every process agrees on.
        ``pass_ended``: the update used the pass's last batch (how an iterable's epoch end is known)."""
        step, plan = self.state.global_step, self.plan
        row = {"step": step, "epoch": epoch}
        ended = pass_ended if plan.steps_per_epoch is None else self.state.epoch_step >= plan.steps_per_epoch
        last_of_epoch = ended or step >= plan.total_steps
        if not last_of_epoch:
            due = [plan.is_due(n, step) for n in (plan.log_steps, plan.eval_steps, plan.save_steps)]
            if any(due):  # the syncs these events need happen here, once, never inside an update
                self._raise_if_non_finite()
                self.scheduler_stepper.settle()
            if due[0]:
                row.update(self.run_log.window_row(self.lr_scheduler.get_last_lr()[0]))
                bar.set_postfix(loss=f"{row['train.loss']:.4f}")
            if due[1] and self._can_evaluate():
                self._evaluate_in_training(row)
            if len(row) > 2:
                self.log(row)
            if due[2] and self.checkpointer.maybe_save():
                self.callbacks.call("on_save", self.state, checkpoint=self.checkpointer.last_saved)
        self.callbacks.call("on_step_end", self.state)
        if not last_of_epoch:  # at an epoch's end the requests wait for the epoch's own evaluation and save
            self._handle_requests(row)
        signum = self.stop_signal.poll()
        if signum is not None:
            self._stop_for(signum)

    def _evaluate_in_training(self, row: dict) -> dict[str, float]:
        """Evaluate during training: track the best, add the results to ``row``, show them, tell the callbacks."""
        results = self.last_evaluation = self.evaluate()
        self._track_best(results)
        row.update(_prefixed("evaluation", results))
        state = self.state
        self.evaluation_table.row(row["epoch"], row["step"], row.get("train.loss"), results,
                                  self.config.best_metric_name, state.best_metric, state.best_step)
        self.callbacks.call("on_evaluate", state, metrics=results)
        self.model.train()
        return results

    def _handle_requests(self, row: dict) -> None:
        """Do what callbacks asked for at this step (all processes alike): evaluate, save, and save before a stop."""
        control = self.callbacks.control
        if control.should_evaluate:
            control.should_evaluate = False
            if self._can_evaluate() and not any(k.startswith("evaluation.") for k in row):
                self._raise_if_non_finite()
                evaluated = {"step": row["step"], "epoch": row["epoch"]}
                self._evaluate_in_training(evaluated)
                self.log(evaluated)
        if control.should_save or (control.should_stop and self.config.save_enabled):
            control.should_save = False
            if self.checkpointer.last_saved_step != self.state.global_step:  # not saved at this step already
                self.save_checkpoint()
                self.callbacks.call("on_save", self.state, checkpoint=self.checkpointer.last_saved)

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
    def evaluate(self, eval_dataset=None) -> dict[str, float]:
        """Evaluate: corpus-level metrics, exact under any number of processes.

        Predictions and labels are padded across processes, gathered with ``gather_for_metrics`` (duplicated tail
        samples dropped) and fed to the metrics batch by batch; ``compute()`` runs once. Call it on every process.

        Args:
            eval_dataset: any dataset of the task; default the Trainer's ``eval_dataset``.

        Returns:
            ``{"loss": ..., <metric>: ...}``.

        Raises:
            ConfigError: no dataset to evaluate on.
        """
        return evaluation_loop(self, self._eval_loader(eval_dataset))

    @torch.inference_mode()
    def predict(self, dataset, output_file: str | os.PathLike | None = None) -> PredictionOutput:
        """Predict every sample of ``dataset`` and score the predictions against its labels, like :meth:`evaluate`.

        Every process takes part (sharded backends need it); each ends with the same, complete list, in dataset
        order, without the samples that evenly-sized last batches repeat.

        Args:
            dataset: any dataset of the task (with labels, as the Trainer's datasets have).
            output_file: also write the predictions there (JSON Lines, one ``{"prediction", "reference"}`` object per
                sample, UTF-8; written by the main process).

        Returns:
            A :class:`PredictionOutput`: ``predictions`` (readable: class names, tag lists, texts), ``references``
            and ``metrics``.
        """
        kept: list = []
        metrics = evaluation_loop(self, self._eval_loader(dataset), kept=kept)
        output = PredictionOutput([p for p, _ in kept], [r for _, r in kept], metrics)
        if output_file is not None and self.accelerator.is_main_process:
            output.write_jsonl(output_file)
        self.accelerator.wait_for_everyone()
        return output

    def _eval_loader(self, dataset):
        if dataset is None:
            if self.eval_dataloader is None:
                raise ConfigError("Trainer", ["eval_dataset: none to evaluate on; pass eval_dataset= to evaluate(), or "
                                              "build the Trainer with an eval_dataset"])
            return self.eval_dataloader
        cached = self._other_eval_loaders.get(id(dataset))
        if cached is None or cached[0] is not dataset:  # one prepared loader per dataset, not one per call
            loader = build_eval_dataloader(self.config, dataset, self.data_inputs.collator_for(dataset),
                                           pin_memory=self.accelerator.device.type == "cuda")
            cached = self._other_eval_loaders[id(dataset)] = (dataset, self.accelerator.prepare_data_loader(loader))
        return cached[1]

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

    def _last_checkpoint_hint(self) -> str:
        latest = self.checkpointer.latest()
        return f"the last good checkpoint is `{latest}`" if latest else "no checkpoint was written yet"

    def _raise_if_non_finite(self) -> None:
        """Under ``nan_policy: raise``, raise at the first non-finite update seen so far (a collective).

        Raises:
            TrainingError: with the update, its sample indices and the last sealed checkpoint.
        """
        if self.config.nan_policy != NanPolicy.RAISE:
            return
        step = self.nonfinite.first_bad_step(self.accelerator)
        if step is None:
            return
        try:  # the hint names the last sealed checkpoint: let a save of a few steps ago finish sealing first
            self.checkpointer.wait(all_processes=True)
        except CheckpointError:
            pass  # that save failed; the hint then names the one before it, and the NaN stays the error raised
        raise non_finite_error(step, self.data_order.update_indices(step), self._last_checkpoint_hint())

    def _stop_for(self, signum: int) -> None:
        """Save a checkpoint at this step on every process (unless one exists) and stop with ``TrainingPreempted``."""
        self.checkpointer.wait(all_processes=True)  # a save a few steps ago may still be sealing
        latest = self.checkpointer.latest()
        if latest is None or os.path.basename(latest) != checkpoint_name(self.state.global_step):
            self.save_checkpoint()
            self.checkpointer.wait(all_processes=True)
            latest = self.checkpointer.latest()
        self.accelerator.print(f"Received {signal.Signals(signum).name}: saved {latest}; resume with "
                               "resume_from_checkpoint: true")
        self.accelerator.end_training()
        raise TrainingPreempted(signum, latest)

    def resume(self, resume_from_checkpoint: bool | str | None) -> None:
        """Restore model, optimizer, scheduler, RNG, trainer state and data position from a checkpoint, or (unset)
        start fresh; then open the run's logs."""
        if resume_from_checkpoint:
            self.resumed = self.checkpointer.restore(resume_from_checkpoint)
            self.callbacks.load_states(self.state.callback_states)
        else:
            self.checkpointer.start_fresh()
        self.run_log.open()

    def print_info(self) -> None:
        """Print the "Training Info" banner (main process only)."""
        self.accelerator.print(format_info(info_rows(self)))

    def log(self, logs: dict[str, Any]) -> None:
        """Append a row to the CSV log and send the numbers to the trackers (TensorBoard) at ``logs["step"]``."""
        self.run_log.log(logs)
        self.callbacks.call("on_log", self.state, logs=logs)

    def save_checkpoint(self) -> str | None:
        """Write ``checkpoints/<global step>/`` atomically (all processes must call it). Returns its path on main.

        The bytes are written before it returns; the folder becomes complete (fsynced, marked, renamed into place)
        on a background thread, by the next save or the end of ``train()`` at the latest, or at once with
        ``trainer.checkpointer.wait()``. A checkpoint is never written over weights that went through a NaN update.
        """
        self._raise_if_non_finite()
        self.scheduler_stepper.settle()
        return self.checkpointer.save()

    def save(self, path: str | os.PathLike, config_filename: str | None = None, model_filename: str | None = None,
             model_config_filename: str | None = None, subfolder: str | None = None,
             dataset_config_file: str | None = None) -> None:
        """Save the model folder (full weights, preprocessor) plus ``train/`` configs into ``path``.

        Must be called on every process: gathering full weights from sharded models (FSDP, ZeRO-3) is collective.
        """
        self.weights.save_folder(path, config_filename=config_filename, model_filename=model_filename,
                                 model_config_filename=model_config_filename, subfolder=subfolder,
                                 dataset_config_file=dataset_config_file)

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """Save the trained model (and, by option, logs/configs) and upload it to the Hub in one commit."""
        from .hub_push import push_trainer_to_hub

        return push_trainer_to_hub(self, repo_id, **kwargs)

    def finish(self) -> None:
        """Load the best weights if asked, draw the run's pictures, wait for a pending checkpoint upload
        (push_to_hub), close the trackers."""
        if self.config.load_best_model_at_end:
            self.checkpointer.load_best()
        if self.config.write_plots:
            self._write_pictures()
        self.checkpointer.close()
        self.accelerator.wait_for_everyone()
        self.run_log.close()


    def _write_pictures(self) -> None:
        """Training curves from the CSV log; for a classifier, the final model's confusion matrix on eval_dataset."""
        import importlib.util

        confusion = None
        id2label = getattr(getattr(self.unwrapped_model, "config", None), "id2label", None)
        if (self.config.task == TaskType.TEXT_CLASSIFICATION and id2label and self._can_evaluate()
                and importlib.util.find_spec("matplotlib") is not None):
            output = self.predict(self.eval_dataset)  # a collective: every process takes part
            ids = {name: int(i) for i, name in id2label.items()}
            confusion = ([ids.get(r, r) for r in output.references], [ids.get(p, p) for p in output.predictions],
                         id2label)
        self.run_log.write_pictures(confusion=confusion)


def _prefixed(prefix: str, results: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}.{k}": v for k, v in results.items()}
