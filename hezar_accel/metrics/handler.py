"""``MetricsHandler``: turns gathered model outputs into corpus-level metric values for one task.

The trainer drives it (promise 4 of DESIGN.md): per evaluation batch it calls :meth:`predictions_from_outputs` and
:meth:`labels_from_batch` on device, pads both along dim 1 with :attr:`pad_index`, gathers them across processes with
``gather_for_metrics`` and passes the host arrays to :meth:`add_batch`; after the last batch it calls
:meth:`compute` once. Because every metric sees the whole gathered corpus, 2-process results equal 1-process ones.

Subclasses (one per task, in ``handlers.py``) set the class attributes and implement :meth:`decode`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, closest
from .loading import load_metric

__all__ = ["MetricsHandler", "METRIC_OUTPUTS", "IGNORE_INDEX"]

# Label value meaning "do not score this position" (PyTorch's cross-entropy ignore_index).
IGNORE_INDEX = -100

# The keys each metric contributes to compute()'s result, in order.
METRIC_OUTPUTS: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy",),
    "precision": ("precision",),
    "recall": ("recall",),
    "f1": ("f1",),
    "seqeval": ("f1", "precision", "recall", "accuracy"),
    "bleu": ("bleu",),
    "rouge": ("rouge1", "rouge2", "rougeL"),
    "cer": ("cer",),
    "wer": ("wer",),
}


def config_value(config: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a model config given as a dataclass/object, a dict, or None."""
    if config is None:
        return default
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def to_numpy(values) -> np.ndarray:
    """Host numpy view of a tensor, array or (rectangular) nested list."""
    if hasattr(values, "detach"):  # torch.Tensor, without importing torch in this module
        return values.detach().cpu().numpy()
    return np.asarray(values)


class MetricsHandler:
    """Base class of the per-task metric sets.

    Args:
        metrics: metric names (each in :attr:`valid_metrics`); None uses :attr:`default_metrics`, [] computes nothing.
        model_config: the model's config; gives ``id2label`` (and ``blank_id`` for CTC models).
        preprocessor: the model's preprocessor; gives ``decode`` for text generation.
        metric_kwargs: per-metric options, e.g. ``{"f1": {"average": "micro"}, "cer": {"normalize": False}}``; merged
            over :attr:`default_metric_kwargs`.
        dataset_config: the config of the data being scored, for what only the data declares (sequence labeling:
            ``tag_scheme``); None = nothing declared.

    Raises:
        ConfigError: unknown or repeated metric names, options for metrics that are not used, unknown options, or a
            model config/preprocessor lacking what the task needs.
        MissingDependencyError: a metric's library is not installed.
    """

    task: ClassVar[str] = ""
    valid_metrics: ClassVar[tuple[str, ...]] = ()
    default_metrics: ClassVar[tuple[str, ...]] = ()
    default_metric_kwargs: ClassVar[dict[str, dict[str, Any]]] = {}
    # Per-metric options consumed by the handler itself (not passed to the metric module), with their defaults.
    handler_options: ClassVar[dict[str, Any]] = {}
    pad_index: ClassVar[int] = IGNORE_INDEX

    def __init__(self, metrics: list[str] | None = None, model_config=None, preprocessor=None,
                 metric_kwargs: dict | None = None, dataset_config=None):
        # None = the task's defaults; setup() may narrow them once it knows the data (see requested_metrics).
        self.requested_metrics = None if metrics is None else list(metrics)
        self.metrics = list(self.default_metrics) if metrics is None else list(metrics)
        metric_kwargs = dict(metric_kwargs or {})
        problems = self.check_metrics(self.metrics) + self._check_metric_kwargs(metric_kwargs)
        if problems:
            raise ConfigError(f"{type(self).__name__} (task {self.task})", problems)
        self.model_config = model_config
        self.preprocessor = preprocessor
        self.dataset_config = dataset_config
        self.setup()  # config problems surface before the (slower) metric loading
        self.options: dict[str, dict[str, Any]] = {}
        self._metrics = {}
        for name in self.metrics:
            kwargs = {**self.default_metric_kwargs.get(name, {}), **metric_kwargs.get(name, {})}
            self.options[name] = {key: kwargs.pop(key, default) for key, default in self.handler_options.items()}
            self._metrics[name] = load_metric(name, **kwargs)

    # -- validation (pure, no loading) ------------------------------------------------------------------------
    @classmethod
    def check_metrics(cls, metrics: list[str] | None) -> list[str]:
        """Return one problem line per bad metric name (empty when all are fine). Loads nothing.

        Args:
            metrics: the names from ``TrainerConfig.metrics``; None means the defaults and is always fine.

        Returns:
            Lines like ``metrics: unknown metric `f2` for task text_classification (did you mean `f1`?); valid: ...``.
        """
        if metrics is None:
            return []
        if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
            return [f"metrics: expected a list of metric names, got {metrics!r}; valid: {', '.join(cls.valid_metrics)}"]
        problems, seen = [], set()
        for name in metrics:
            if not isinstance(name, str) or name not in cls.valid_metrics:
                hint = closest(name, cls.valid_metrics) if isinstance(name, str) else ""
                problems.append(
                    f"metrics: unknown metric `{name}` for task {cls.task}{hint}; valid: {', '.join(cls.valid_metrics)}"
                )
            elif name in seen:
                problems.append(f"metrics: `{name}` is listed more than once")
            seen.add(name)
        return problems

    @classmethod
    def output_names(cls, metrics: list[str] | None) -> list[str]:
        """Names of the values :meth:`compute` returns for ``metrics`` (None = defaults); unknown names are skipped.

        Args:
            metrics: metric names as in ``TrainerConfig.metrics``.

        Returns:
            e.g. ``["accuracy", "f1", "precision", "recall"]``; the trainer adds ``loss`` itself.
        """
        names: list[str] = []
        for metric in cls.default_metrics if metrics is None else metrics:
            if metric in cls.valid_metrics:
                names.extend(n for n in METRIC_OUTPUTS[metric] if n not in names)
        return names

    def _check_metric_kwargs(self, metric_kwargs: dict) -> list[str]:
        problems = []
        for name, kwargs in metric_kwargs.items():
            if name not in self.metrics:
                problems.append(
                    f"metric_kwargs: options given for `{name}`, which is not among the metrics used "
                    f"({', '.join(self.metrics) or 'none'}){closest(name, self.metrics)}"
                )
            elif not isinstance(kwargs, dict):
                problems.append(f"metric_kwargs.{name}: expected a mapping of option -> value, got {kwargs!r}")
        return problems

    def setup(self) -> None:
        """Read what the task needs from ``model_config``/``preprocessor``; raise ConfigError when it is missing.

        It may replace :attr:`metrics` by the set that fits the data when the caller asked for the defaults
        (:attr:`requested_metrics` is None); :attr:`metrics` is what gets loaded and computed.
        """

    def metric_output_names(self, name: str) -> tuple[str, ...]:
        """The keys metric ``name`` contributes to :meth:`compute`'s result (default: ``METRIC_OUTPUTS[name]``)."""
        return METRIC_OUTPUTS[name]

    def outputs(self) -> list[str]:
        """The keys :meth:`compute` returns with this handler's metrics and data (the trainer adds ``loss``)."""
        names: list[str] = []
        for metric in self.metrics:
            names.extend(n for n in self.metric_output_names(metric) if n not in names)
        return names

    def best_metric_problem(self, name: str) -> str | None:
        """Why ``metric_for_best_model: name`` cannot pick checkpoints with these metrics (None when it can).

        The config alone is checked before any data is read (``TrainerConfig``); this is the check against what the
        handler computes once it knows the data, e.g. a tag set that has no entities to score.
        """
        produced = ["loss", *self.outputs()]
        if name in produced:
            return None
        return (f"metric_for_best_model: `{name}` is not computed by the metrics {self.metrics} of task "
                f"{self.task}{closest(name, produced)}; valid: {produced}")

    # -- on device --------------------------------------------------------------------------------------------
    def predictions_from_outputs(self, outputs: dict, batch: dict):
        """Compact on-device predictions from the model outputs (default: ``logits.argmax(-1)``); never moves to host.

        Args:
            outputs: the model's forward (or generate) outputs.
            batch: the input batch (for shapes only).

        Returns:
            A tensor whose dim 0 is the batch.
        """
        return outputs["logits"].argmax(-1)

    def labels_from_batch(self, batch: dict):
        """The reference tensor of a batch: ``batch["labels"]``."""
        return batch["labels"]

    # -- on host, after gathering -----------------------------------------------------------------------------
    def decode(self, predictions: np.ndarray, labels: np.ndarray) -> tuple[list, list]:
        """Turn gathered id arrays into the metric inputs (class ids, tag lists or strings). Subclasses implement it.

        Returns:
            ``(predictions, references)``, two lists of equal length.
        """
        raise NotImplementedError

    def metric_inputs(self, name: str, predictions: list, references: list) -> tuple[list, list]:
        """Per-metric adjustment of the decoded inputs (e.g. text normalization); the default passes them through."""
        return predictions, references

    def add_batch(self, predictions, labels, keep: bool = False) -> tuple[list, list] | None:
        """Decode one gathered batch and feed it to every metric.

        Args:
            predictions: gathered predictions (numpy array or tensor), padded with :attr:`pad_index` along dim 1.
            labels: gathered labels, same batch size, padded likewise.
            keep: also return the decoded batch, readable (class names instead of ids), for ``Trainer.predict``.

        Returns:
            ``(predictions, references)`` as :meth:`readable` lists when ``keep``, else None.

        Raises:
            ValueError: batch sizes differ, or an id has no label in ``id2label``.
        """
        predictions, labels = to_numpy(predictions), to_numpy(labels)
        if predictions.shape[:1] != labels.shape[:1]:
            raise ValueError(
                f"{type(self).__name__}.add_batch: {predictions.shape[0]} predictions but {labels.shape[0]} labels"
            )
        if not self._metrics and not keep:
            return None
        decoded_predictions, decoded_references = self.decode(predictions, labels)
        for name, metric in self._metrics.items():
            metric.add_batch(*self.metric_inputs(name, decoded_predictions, decoded_references))
        return (self.readable(decoded_predictions), self.readable(decoded_references)) if keep else None

    def readable(self, decoded: list) -> list:
        """Decoded values as a person reads them: class ids become ``id2label`` names (other values pass through)."""
        id2label = config_value(self.model_config, "id2label")
        if not id2label or not decoded or not isinstance(decoded[0], int):
            return list(decoded)
        names = {int(k): v for k, v in id2label.items()}
        return [names.get(i, i) for i in decoded]

    def compute(self) -> dict[str, float]:
        """Compute every metric over everything added since the last compute, then reset for the next evaluation.

        Returns:
            A flat ``{output name: float}`` dict with the keys of :meth:`outputs`; values are NaN when nothing
            was added (an empty evaluation set).
        """
        results: dict[str, float] = {}
        try:
            for name, metric in self._metrics.items():
                keys = self.metric_output_names(name)
                values = metric.compute() if metric.num_added else {}
                # A key the metric did not produce (nothing added; an entity type absent from both sides) is NaN:
                # undefined, not zero.
                results.update({key: float(values.get(key, math.nan)) for key in keys})
        finally:
            self.reset()
        return results

    def reset(self) -> None:
        """Drop everything added since the last compute."""
        for metric in self._metrics.values():
            metric.reset()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, metrics={self.metrics!r})"
