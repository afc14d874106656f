"""Precision (true positives / predicted positives) over class ids, with scikit-learn.

A local 🤗 evaluate module, no Hub access; inputs, options and their checks are shared with recall and F1
(``hezar_accel.metrics.scoring.AveragedClassIdMetric``)."""

from sklearn.metrics import precision_score

from hezar_accel.metrics import scoring


class Precision(scoring.AveragedClassIdMetric):
    """Precision over integer class ids."""

    OUTPUT = "precision"
    SCORE = staticmethod(precision_score)
    DESCRIPTION = "Precision = true positives / predicted positives, averaged over classes as asked."
