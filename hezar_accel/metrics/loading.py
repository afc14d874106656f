"""``load_metric``: build a metric from this package's local 🤗 evaluate modules, never from the Hub.

Each metric lives in ``modules/<name>/<name>.py``; ``evaluate.load`` is given that absolute folder, so loading works
offline and cannot pick up a Hub script of the same name.

:func:`load_metric` checks everything up front without importing the metric: the name, that its library is
installed (with the pip command that installs it), and the options against the signature of the module's
``_compute``, read from its source. The module itself (🤗 evaluate, and scikit-learn, seqeval ... behind it) is
imported on first use, normally the first evaluation: those imports cost ~0.9 s on a CPU, and ~2 s when
🤗 transformers is installed, because ``import evaluate`` then imports ``transformers.pipelines``
(huggingface/evaluate#674). Training starts that much sooner, and a bad option still fails before it starts.
"""

from __future__ import annotations

import ast
import functools
import os
import uuid
from typing import Any

from ..errors import ConfigError, closest, require, require_installed

__all__ = ["AVAILABLE_METRICS", "Metric", "load_metric", "metric_module_path"]

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

# Options with a closed set of values, checked at load time (the module scripts check them again at compute).
_AVERAGES = ("macro", "micro", "weighted", "binary")
_OPTION_CHOICES: dict[str, dict[str, tuple]] = {
    "precision": {"average": _AVERAGES},
    "recall": {"average": _AVERAGES},
    "f1": {"average": _AVERAGES},
    "seqeval": {"scheme": (None, "IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")},
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
    scripts in ``modules/`` are this package's). ``EvaluationModule.add_batch``/``compute`` would write every batch
    to an Arrow table and read it back (about 5 ms per metric per evaluation on a CPU, a few percent of a small
    model's eval pass) to support cross-process and on-disk collection; the trainer already gathers the whole corpus
    onto every process before it calls :meth:`add_batch`, so that round trip buys nothing here.

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
    path = metric_module_path(name)
    require_installed(*_REQUIREMENTS[name], f"The `{name}` metric")
    _check_compute_kwargs(name, _compute_options(os.path.join(path, f"{name}.py")), compute_kwargs)
    return Metric(name, None, compute_kwargs)


def _load_module(name: str):
    require(*_REQUIREMENTS[name], f"The `{name}` metric")
    import evaluate  # heavy (datasets, pyarrow; transformers when installed): only when a metric is first used

    return evaluate.load(metric_module_path(name), experiment_id=f"hezar_accel-{name}-{uuid.uuid4().hex}",
                         keep_in_memory=True)


@functools.lru_cache(maxsize=None)
def _compute_options(script: str) -> tuple[str, ...]:
    """The keyword options of the ``_compute`` method in a metric script, read from its source (nothing imported)."""
    with open(script, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=script)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "_compute":
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            return tuple(a.arg for a in args if a.arg not in ("self", "predictions", "references"))
    raise RuntimeError(f"{script} defines no _compute method")  # a broken package, not a user error


def _check_compute_kwargs(name: str, valid: tuple[str, ...], compute_kwargs: dict) -> None:
    """Reject misspelled options now: ``compute`` would only fail at the end of the first evaluation."""
    problems = [
        f"{name}: unknown option `{key}`{closest(key, valid)}; valid options: {', '.join(valid) or 'none'}"
        for key in compute_kwargs
        if key not in valid
    ]
    for key, choices in _OPTION_CHOICES.get(name, {}).items():
        if key in compute_kwargs and compute_kwargs[key] not in choices:
            valid_values = ", ".join(map(str, choices))
            problems.append(f"{name}: {key}={compute_kwargs[key]!r} is not valid; use one of {valid_values}")
    if problems:
        raise ConfigError("metric options", problems)
