"""``load_metric``: build a metric from this package's local 🤗 evaluate modules, never from the Hub.

Each metric lives in ``modules/<name>/<name>.py``; ``evaluate.load`` is given that absolute folder, so loading works
offline and cannot pick up a Hub script of the same name.

:func:`load_metric` checks everything up front without importing the metric: the name, that its library is
installed (with the pip command that installs it), and the options against :data:`METRIC_OPTIONS`, the table of what
each module's ``_compute`` accepts (a test holds the table and the signatures equal). The module itself
(🤗 evaluate, and scikit-learn, seqeval ... behind it) is imported on first use, normally the first evaluation: those
imports cost ~0.9 s on a CPU, and ~2 s when 🤗 transformers is installed, because ``import evaluate`` then imports
``transformers.pipelines`` (huggingface/evaluate#674). Training starts that much sooner, and a bad option still
fails before it starts.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from ..errors import ConfigError, closest, require, require_installed

__all__ = ["AVAILABLE_METRICS", "METRIC_OPTIONS", "Metric", "load_metric", "metric_module_path"]

_MODULES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "modules")

# name -> (module to import, pip package, hezar_accel extra) that the metric's script needs.
_REQUIREMENTS: dict[str, tuple[str, str, str]] = {
    "accuracy": ("sklearn", "scikit-learn", "all"),
    "precision": ("sklearn", "scikit-learn", "all"),
    "recall": ("sklearn", "scikit-learn", "all"),
    "f1": ("sklearn", "scikit-learn", "all"),
    "seqeval": ("seqeval", "seqeval", "nlp"),
    "bleu": ("sacrebleu", "sacrebleu", "nlp"),
    "rouge": ("rouge_score", "rouge-score", "nlp"),
    "cer": ("jiwer", "jiwer", "vision"),
    "wer": ("jiwer", "jiwer", "audio"),
}

AVAILABLE_METRICS: list[str] = list(_REQUIREMENTS)

AVERAGES = ("macro", "micro", "weighted", "binary")
SEQEVAL_SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")
_FLAG = (True, False)
_AVERAGED = {"average": AVERAGES, "labels": None, "pos_label": None, "zero_division": None}

# name -> the keyword options of its module's `_compute`, in signature order, each with the values it accepts: a
# closed set, or None where the library judges the value when it computes (class ids, sacrebleu's tokenizers, which
# vary with its version). Declared here, not read from the module, so that a misspelled option fails at load without
# importing evaluate; tests/test_metrics.py holds each entry equal to the module's `_compute` signature. The module
# scripts import AVERAGES and SEQEVAL_SCHEMES from here and check them again at compute.
METRIC_OPTIONS: dict[str, dict[str, tuple | None]] = {
    "accuracy": {"normalize": _FLAG},
    "precision": _AVERAGED,
    "recall": _AVERAGED,
    "f1": _AVERAGED,
    "seqeval": {"scheme": (None, *SEQEVAL_SCHEMES), "suffix": _FLAG, "zero_division": (0, 1, "warn"),
                "per_type": _FLAG},
    "bleu": {"tokenize": None, "lowercase": _FLAG, "smooth_method": ("exp", "floor", "add-k", "none")},
    "rouge": {},
    "cer": {},
    "wer": {},
}


def metric_module_path(name: str) -> str:
    """Absolute path of the local evaluate module folder of metric ``name`` (validated like :func:`load_metric`)."""
    if name not in _REQUIREMENTS:
        raise ConfigError(
            "metrics",
            [f"unknown metric `{name}`{closest(name, AVAILABLE_METRICS)}; available: {', '.join(AVAILABLE_METRICS)}"],
        )
    return os.path.join(_MODULES_DIR, name)


class Metric:
    """One metric: a local ``evaluate`` module plus the keyword arguments its ``compute`` gets.

    Feed it with :meth:`add_batch` as often as needed, then call :meth:`compute` once; the buffer is emptied after
    ``compute`` (and by :meth:`reset`) so the object serves the next evaluation.

    Predictions and references are buffered here, in Python lists, and scored by the module's own ``_compute`` (the
    scripts in ``modules/`` are this package's, so that private method is a contract within the package).
    evaluate's public ``EvaluationModule.add_batch``/``compute`` run the same ``_compute`` but first write every
    batch to an Arrow table and read it back, to support cross-process and on-disk collection: 3.1-12 ms more per
    metric per evaluation on a CPU (~5% of the small eval pass in BENCHMARKS.md for the four classification metrics;
    README, "Metrics"). The trainer already gathers the whole corpus onto every process before it calls
    :meth:`add_batch`, so that round trip buys nothing here.

    A module that also defines ``_update_statistics(statistics, predictions, references, **options)`` (folds a batch
    into a dict of running counts, ``{}`` at first, and returns it) and ``_compute_from_statistics(statistics,
    **options)`` is scored batch by batch instead: each batch is reduced as it arrives and only the counts are kept.
    The module promises that the result equals ``_compute`` over the whole corpus, for any split into batches.

    Args:
        name: the metric name (one of ``AVAILABLE_METRICS``).
        module: the loaded ``evaluate.EvaluationModule``; None loads the local module on first use.
        compute_kwargs: passed to every ``compute`` call (e.g. ``average="macro"``).
    """

    def __init__(self, name: str, module=None, compute_kwargs: dict[str, Any] | None = None):
        self.name = name
        self._module = module
        self.compute_kwargs = dict(compute_kwargs or {})
        self.reset()

    @property
    def module(self):
        """The ``evaluate.EvaluationModule`` (imported and built on first access).

        Raises:
            MissingDependencyError: the library the metric needs cannot be imported.
        """
        if self._module is None:
            self._module = _load_module(self.name)
        return self._module

    @property
    def incremental(self) -> bool:
        """Whether the module scores batch by batch (``_update_statistics`` + ``_compute_from_statistics``)."""
        return callable(getattr(self.module, "_update_statistics", None)) and callable(
            getattr(self.module, "_compute_from_statistics", None))

    @property
    def num_added(self) -> int:
        """How many (prediction, reference) pairs were added since the last compute/reset."""
        return self._num_added

    def add_batch(self, predictions, references) -> None:
        """Add a batch of predictions and references (lists of equal length); empty batches are ignored.

        Raises:
            ValueError: when the lengths differ; for an incremental module, also when the values do not fit it.
        """
        if len(predictions) != len(references):
            raise ValueError(
                f"{self.name}: got {len(predictions)} predictions but {len(references)} references in one batch"
            )
        if not len(predictions):
            return
        if self.incremental:
            self._statistics = self.module._update_statistics(self._statistics, predictions=predictions,
                                                              references=references, **self.compute_kwargs)
        else:
            self._predictions.extend(predictions)
            self._references.extend(references)
        self._num_added += len(predictions)

    def compute(self) -> dict[str, float]:
        """Compute the metric over everything added since the last compute/reset, then empty the buffer.

        Returns:
            The metric's results as a flat ``{name: float}`` dict.

        Raises:
            ValueError: when nothing was added, or the values do not fit the metric's input format.
        """
        if self.num_added == 0:
            raise ValueError(f"{self.name}: compute() called before any predictions were added")
        try:
            if self.incremental:
                result = self.module._compute_from_statistics(self._statistics, **self.compute_kwargs)
            else:
                result = self.module._compute(
                    predictions=self._predictions, references=self._references, **self.compute_kwargs
                )
        finally:
            self.reset()
        return {key: float(value) for key, value in result.items()}

    def reset(self) -> None:
        """Drop everything added since the last compute."""
        self._predictions: list = []
        self._references: list = []
        self._statistics: dict[str, int | float] = {}
        self._num_added = 0

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, compute_kwargs={self.compute_kwargs!r})"


def load_metric(name: str, **compute_kwargs) -> Metric:
    """Metric ``name`` from its local evaluate module, checked now and imported on first use.

    Args:
        name: one of ``AVAILABLE_METRICS``.
        **compute_kwargs: keyword arguments for every ``compute`` call (e.g. ``average="macro"``, ``scheme="IOB2"``,
            ``tokenize="char"``).

    Returns:
        A :class:`Metric`; its in-memory evaluate module gets a unique ``experiment_id``, so several metrics (and
        several trainers in one process) never share a cache file.

    Raises:
        ConfigError: unknown metric name (with the closest valid name), unknown option or invalid option value.
        MissingDependencyError: the library the metric needs is not installed (with the pip command).
    """
    metric_module_path(name)  # validates the name
    require_installed(*_REQUIREMENTS[name], f"The `{name}` metric")
    _check_options(name, compute_kwargs)
    return Metric(name, None, compute_kwargs)


def _load_module(name: str):
    require(*_REQUIREMENTS[name], f"The `{name}` metric")
    import evaluate  # heavy (datasets, pyarrow; transformers when installed): only when a metric is first used

    return evaluate.load(metric_module_path(name), experiment_id=f"hezar_accel-{name}-{uuid.uuid4().hex}",
                         keep_in_memory=True)


def _is_one_of(value, choices: tuple) -> bool:
    try:
        return value in choices
    except (TypeError, ValueError):  # e.g. an array, whose == is elementwise and has no single truth value
        return False


def _check_options(name: str, compute_kwargs: dict) -> None:
    """Reject misspelled options and values outside a closed set now: ``compute`` would fail only at the end of the
    first evaluation."""
    options = METRIC_OPTIONS[name]
    problems = [
        f"{name}: unknown option `{key}`{closest(key, options)}; valid options: {', '.join(options) or 'none'}"
        for key in compute_kwargs
        if key not in options
    ]
    for key, value in compute_kwargs.items():
        choices = options.get(key)
        if choices is not None and not _is_one_of(value, choices):
            valid_values = ", ".join(map(str, choices))
            problems.append(f"{name}: {key}={value!r} is not valid; use one of {valid_values}")
    if problems:
        raise ConfigError("metric options", problems)
