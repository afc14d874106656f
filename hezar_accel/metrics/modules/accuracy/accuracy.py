"""Accuracy: the fraction of predictions equal to their reference (a local 🤗 evaluate module, no Hub access)."""

from sklearn.metrics import accuracy_score

from hezar_accel.metrics import scoring


class Accuracy(scoring.ClassIdMetric):
    """Accuracy over integer class ids."""

    OUTPUT = "accuracy"
    SCORE = staticmethod(accuracy_score)
    DESCRIPTION = "Accuracy = correct predictions / all predictions, over class ids."
    INPUTS = """
Args:
    predictions: predicted class ids.
    references: true class ids.
    normalize: True returns the fraction correct, False the count.
Returns:
    accuracy: a float.
"""

    def _compute(self, predictions, references, normalize=True):
        return self._score(predictions, references, normalize=normalize)
