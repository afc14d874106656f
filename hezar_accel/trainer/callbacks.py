"""Callbacks: small hooks into the training loop that can watch it and ask it to stop, save or evaluate.

A callback subclasses :class:`TrainerCallback` and overrides the hooks it needs; the Trainer calls them on every
process, in the order the callbacks were given:

==================  ======================================================================================
``on_train_begin``  after a resume restored the state (or a fresh start), before the first update
``on_step_end``     after every optimizer update and its log/evaluation/save events
``on_log``          after a row went to the CSV log and the trackers (``logs``: the row)
``on_evaluate``     after an evaluation during training (``metrics``: its results, ``loss`` included)
``on_save``         after a checkpoint was written (``checkpoint``: its folder on the main process, else None)
``on_epoch_end``    after an epoch's evaluation, log row and save
``on_train_end``    after training, before the best weights are loaded
==================  ======================================================================================

A hook gets the :class:`~.state.TrainerState` and a :class:`TrainerControl`; setting ``control.should_stop``,
``should_save`` or ``should_evaluate`` makes the loop do that at the current step, right after the hook. Hooks run on
every process, so a request must be made alike everywhere: decide from the state and the metrics (which every
process shares), never from anything local to one process. A callback that keeps its own state across a resume
returns it from :meth:`TrainerCallback.state_dict` (plain YAML data); it is saved in every checkpoint's
``trainer_state.yaml`` and handed back to :meth:`TrainerCallback.load_state_dict` on resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TrainerControl:
    """Requests a callback makes to the loop; each is reset once the loop has acted on it.

    Attributes:
        should_stop: end training after the current step (a checkpoint of it is saved when saving is enabled).
        should_save: save a checkpoint at the current step.
        should_evaluate: evaluate at the current step.
    """

    should_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False


class TrainerCallback:
    """Base class of callbacks; every hook does nothing by default.

    Attributes:
        trainer: the Trainer the callback was added to (set by :meth:`setup`), for its config, model and data.
    """

    trainer = None

    @property
    def name(self) -> str:
        """Key of this callback's saved state (the class name; give two stateful instances distinct names)."""
        return type(self).__name__

    def setup(self, trainer) -> None:
        """Called once when the callback is added to ``trainer``; raise ConfigError here for unusable settings."""
        self.trainer = trainer

    def state_dict(self) -> dict | None:
        """State to keep across a resume (plain YAML data), or None for a stateless callback."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned, on resume."""

    def on_train_begin(self, state, control: TrainerControl) -> None:
        pass

    def on_step_end(self, state, control: TrainerControl) -> None:
        pass

    def on_log(self, state, control: TrainerControl, logs: dict) -> None:
        pass

    def on_evaluate(self, state, control: TrainerControl, metrics: dict) -> None:
        pass

    def on_save(self, state, control: TrainerControl, checkpoint: str | None) -> None:
        pass

    def on_epoch_end(self, state, control: TrainerControl) -> None:
        pass

    def on_train_end(self, state, control: TrainerControl) -> None:
        pass


class CallbackList:
    """The Trainer's callbacks: calls one hook on all of them, and saves/restores their states.

    Args:
        callbacks: the callbacks, called in this order.
    """

    def __init__(self, callbacks=()):
        self.callbacks: list[TrainerCallback] = list(callbacks)
        self.control = TrainerControl()

    def add(self, callback: TrainerCallback, trainer) -> None:
        callback.setup(trainer)
        self.callbacks.append(callback)

    def call(self, hook: str, state, **info) -> TrainerControl:
        """Run ``hook`` on every callback, then copy their states into ``state`` (so the next checkpoint holds them).

        Returns:
            The (shared) control with whatever they requested.
        """
        for callback in self.callbacks:
            getattr(callback, hook)(state, self.control, **info)
        if self.callbacks:
            state.callback_states = self.states()
        return self.control

    def states(self) -> dict:
        """Every stateful callback's state, by name (saved in the trainer state)."""
        return {c.name: s for c in self.callbacks if (s := c.state_dict()) is not None}

    def load_states(self, states: dict) -> None:
        """Hand each callback the state saved under its name (those saved by absent callbacks are ignored)."""
        for callback in self.callbacks:
            if callback.name in states:
                callback.load_state_dict(states[callback.name])


class EarlyStoppingCallback(TrainerCallback):
    """Stop when ``metric_for_best_model`` has not improved for ``patience`` evaluations in a row.

    An evaluation improves when it beats the best value so far by more than ``threshold`` (in the metric's
    direction: ``greater_is_better``). The best value and the count of evaluations without improvement are saved
    in checkpoints, so a killed and resumed run stops at the same evaluation as an uninterrupted one, and a run that
    already stopped stops again at once when it is resumed.

    Args:
        patience: evaluations without improvement that end training (>= 1).
        threshold: how much better than the best so far counts as an improvement (>= 0; 0 = any improvement).
    """

    def __init__(self, patience: int, threshold: float = 0.0):
        self.patience, self.threshold = int(patience), float(threshold)
        self.best: float | None = None
        self.bad_evaluations = 0
        self.stopped_at: int | None = None

    def setup(self, trainer) -> None:
        super().setup(trainer)
        self.metric, self.greater = trainer.config.best_metric_name, trainer.config.best_is_greater

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_evaluations": self.bad_evaluations, "stopped_at": self.stopped_at}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.bad_evaluations = state.get("best"), int(state.get("bad_evaluations", 0))
        self.stopped_at = state.get("stopped_at")

    def on_train_begin(self, state, control: TrainerControl) -> None:
        if self.stopped_at is not None:  # resumed after it had stopped: the run is over
            control.should_stop = True
            self.trainer.accelerator.print(f"Early stopping: this run stopped at step {self.stopped_at}; not training further.")

    def on_evaluate(self, state, control: TrainerControl, metrics: dict) -> None:
        value = metrics.get(self.metric)
        if value is None or math.isnan(value):
            return
        improved = self.best is None or (value > self.best + self.threshold if self.greater
                                         else value < self.best - self.threshold)
        if improved:
            self.best, self.bad_evaluations = float(value), 0
            return
        self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience:
            self.stopped_at = state.global_step
            control.should_stop = True
            self.trainer.accelerator.print(
                f"Early stopping at step {state.global_step}: {self.metric} did not improve on {self.best:.6g} by more "
                f"than {self.threshold:g} for {self.bad_evaluations} evaluation(s) (early_stopping_patience).")
