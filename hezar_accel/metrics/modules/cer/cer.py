"""Corpus-level CER (character error rate) with `jiwer` (a local 🤗 evaluate module, no Hub access).

Scored as WER is, over characters instead of words (``hezar_accel.metrics.scoring.EditRateMetric``).
"""

import jiwer

from hezar_accel.metrics import scoring


class CER(scoring.EditRateMetric):
    """Corpus-level character error rate."""

    OUTPUT = "cer"
    UNIT = "characters"
    ALIGN = staticmethod(jiwer.process_characters)
