"""F1 (harmonic mean of precision and recall) over class ids, with scikit-learn.

A local 🤗 evaluate module, no Hub access."""

import datasets
import numpy as np
import evaluate
from sklearn.metrics import f1_score

_AVERAGES = ("macro", "micro", "weighted", "binary")
_DESCRIPTION = "F1 = harmonic mean of precision and recall, averaged over classes as asked."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted class ids.
    references: true class ids.
    average: one of macro, micro, weighted, binary (default macro).
    labels: the class ids to average over (default: every id seen in predictions or references).
    pos_label: the positive class for average=binary (default 1).
    zero_division: value used when a class has no predicted/actual samples (default 0).
Returns:
    f1: a float.
"""


class F1(evaluate.Metric):
    """F1 over integer class ids; one float, never a per-class array."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, average="macro", labels=None, pos_label=1, zero_division=0):
        if average not in _AVERAGES:
            raise ValueError(f"f1: average={average!r} is not supported; use one of {', '.join(_AVERAGES)}")
        score = f1_score(
            np.asarray(references), np.asarray(predictions), average=average, labels=labels, pos_label=pos_label,
            zero_division=zero_division,
        )
        return {"f1": float(score)}
