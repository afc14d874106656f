"""Corpus-level WER (word error rate) with `jiwer` (a local 🤗 evaluate module, no Hub access).

Scored as CER is, over words instead of characters (``hezar_accel.metrics.scoring.EditRateMetric``).
"""

import jiwer

from hezar_accel.metrics import scoring


class WER(scoring.EditRateMetric):
    """Corpus-level word error rate."""

    OUTPUT = "wer"
    UNIT = "words"
    ALIGN = staticmethod(jiwer.process_words)
