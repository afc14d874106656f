"""F1 (harmonic mean of precision and recall) over class ids, with scikit-learn.

A local 🤗 evaluate module, no Hub access; inputs, options and their checks are shared with precision and recall
(``hezar_accel.metrics.scoring.AveragedClassIdMetric``)."""

from sklearn.metrics import f1_score

from hezar_accel.metrics import scoring


class F1(scoring.AveragedClassIdMetric):
    """F1 over integer class ids."""

    OUTPUT = "f1"
    SCORE = staticmethod(f1_score)
    DESCRIPTION = "F1 = harmonic mean of precision and recall, averaged over classes as asked."
