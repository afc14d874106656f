"""Recall (true positives / actual positives) over class ids, with scikit-learn.

A local 🤗 evaluate module, no Hub access; inputs, options and their checks are shared with precision and F1
(``hezar_accel.metrics.scoring.AveragedClassIdMetric``)."""

from sklearn.metrics import recall_score

from hezar_accel.metrics import scoring


class Recall(scoring.AveragedClassIdMetric):
    """Recall over integer class ids."""

    OUTPUT = "recall"
    SCORE = staticmethod(recall_score)
    DESCRIPTION = "Recall = true positives / actual positives, averaged over classes as asked."
