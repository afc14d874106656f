"""Accuracy: the fraction of predictions equal to their reference (a local 🤗 evaluate module, no Hub access)."""

import datasets
import numpy as np
import evaluate
from sklearn.metrics import accuracy_score

_DESCRIPTION = "Accuracy = correct predictions / all predictions, over class ids."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted class ids.
    references: true class ids.
    normalize: True returns the fraction correct, False the count.
Returns:
    accuracy: a float.
"""


class Accuracy(evaluate.Metric):
    """Accuracy over integer class ids."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, normalize=True):
        return {"accuracy": float(accuracy_score(np.asarray(references), np.asarray(predictions), normalize=normalize))}
