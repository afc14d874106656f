"""What the metric scripts in ``modules/`` share: their ``_info``, class-id scoring and corpus edit rates.

The scripts import this module by its absolute name (``from hezar_accel.metrics import scoring``). ``evaluate.load``
copies a script into its modules cache and checks only that each top-level import is an importable library, which
``hezar_accel`` is wherever the script is loaded from. They import the module, never its classes: ``evaluate`` takes
the first ``EvaluationModule`` subclass in a script's namespace as the metric, and an imported base class would come
before the script's own.

Nothing imports this module at start-up (it imports 🤗 evaluate and datasets); the scripts do, on first use.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import datasets
import evaluate
import numpy as np

from .loading import AVERAGES

__all__ = ["LocalMetric", "ClassIdMetric", "AveragedClassIdMetric", "EditRateMetric", "STRING_PAIRS"]

STRING_PAIRS = datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")})
_CLASS_ID_PAIRS = datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")})


class LocalMetric(evaluate.Metric):
    """A metric script of this package: ``_info`` built from class constants.

    Subclasses set ``DESCRIPTION`` (one line), ``INPUTS`` (Args/Returns of ``compute``) and ``FEATURES`` (the input
    schema, or a list of accepted schemas), and define ``_compute``. The constants are upper case so that they do not
    shadow the ``description``/``features`` properties ``evaluate`` defines on every module; a base class that
    derives them from other constants overrides :meth:`_describe` instead.
    """

    DESCRIPTION: ClassVar[str] = ""
    INPUTS: ClassVar[str] = ""
    FEATURES: ClassVar[datasets.Features | list] = STRING_PAIRS

    def _describe(self) -> tuple[str, str]:
        """``(description, inputs description)`` of this metric."""
        return self.DESCRIPTION, self.INPUTS

    def _info(self):
        description, inputs = self._describe()
        return evaluate.MetricInfo(description=description, citation="", inputs_description=inputs,
                                   features=self.FEATURES)


class ClassIdMetric(LocalMetric):
    """A metric over integer class ids, scored by a scikit-learn function ``SCORE(y_true, y_pred, **options)``.

    Subclasses set ``OUTPUT`` (the result's key), ``SCORE`` (wrapped in ``staticmethod``) and ``DESCRIPTION``, and
    define ``_compute`` with the options they accept, passing them to :meth:`_score`.
    """

    OUTPUT: ClassVar[str] = ""
    SCORE: ClassVar[Callable]
    FEATURES = _CLASS_ID_PAIRS

    def _score(self, predictions, references, **options) -> dict[str, float]:
        # numpy arrays, not lists: scikit-learn validates them ~30% faster, with the same result.
        return {self.OUTPUT: float(self.SCORE(np.asarray(references), np.asarray(predictions), **options))}


class AveragedClassIdMetric(ClassIdMetric):
    """Precision, recall or F1 over class ids, averaged over classes as ``average`` says; one float, never an array."""

    def _describe(self) -> tuple[str, str]:
        return self.DESCRIPTION, f"""
Args:
    predictions: predicted class ids.
    references: true class ids.
    average: one of {', '.join(AVERAGES)} (default macro).
    labels: the class ids to average over (default: every id seen in predictions or references).
    pos_label: the positive class for average=binary (default 1).
    zero_division: value used when a class has no predicted/actual samples (default 0).
Returns:
    {self.OUTPUT}: a float.
"""

    def _compute(self, predictions, references, average="macro", labels=None, pos_label=1, zero_division=0):
        if average not in AVERAGES:
            raise ValueError(f"{self.OUTPUT}: average={average!r} is not supported; use one of {', '.join(AVERAGES)}")
        return self._score(predictions, references, average=average, labels=labels, pos_label=pos_label,
                           zero_division=zero_division)


# unit -> how many of them a text has. Used only where jiwer is not run: to find the empty references, and to count
# their predictions' units as insertions.
_UNIT_COUNTS: dict[str, Callable[[str], int]] = {
    "characters": lambda text: len(text.strip()),
    "words": lambda text: len(text.split()),
}


class EditRateMetric(LocalMetric):
    """Corpus-level error rate over strings: (substitutions + deletions + insertions) / reference units.

    Corpus-level means total edits over all pairs divided by the total reference length, not the mean of per-sentence
    rates: a long sentence weighs more than a short one, and the result does not depend on how the data was batched.
    An empty reference adds no length and counts every unit of its prediction as an insertion (older jiwer versions
    reject empty references); a corpus with no reference units scores 0 when nothing was predicted, else inf.

    Subclasses set ``OUTPUT`` (the result's key), ``UNIT`` (``characters`` or ``words``) and ``ALIGN``, jiwer's
    alignment over that unit (``process_characters`` / ``process_words``, wrapped in ``staticmethod``).
    """

    OUTPUT: ClassVar[str] = ""
    UNIT: ClassVar[str] = ""
    ALIGN: ClassVar[Callable]

    def _describe(self) -> tuple[str, str]:
        description = (f"{self.OUTPUT.upper()} = (substitutions + deletions + insertions) / reference {self.UNIT}, "
                       "summed over the corpus.")
        return description, f"""
Args:
    predictions: hypothesis strings.
    references: reference strings.
Returns:
    {self.OUTPUT}: a float (0 is perfect; can exceed 1 with many insertions).
"""

    def _compute(self, predictions, references):
        units = _UNIT_COUNTS[self.UNIT]
        edits, ref_length = 0, 0
        scored_refs, scored_preds = [], []
        for pred, ref in zip(predictions, references):
            if units(ref) == 0:
                edits += units(pred)
            else:
                scored_refs.append(ref)
                scored_preds.append(pred)
        if scored_refs:
            out = self.ALIGN(scored_refs, scored_preds)
            edits += out.substitutions + out.deletions + out.insertions
            ref_length += out.substitutions + out.deletions + out.hits
        if ref_length == 0:
            return {self.OUTPUT: 0.0 if edits == 0 else float("inf")}
        return {self.OUTPUT: edits / ref_length}
