"""ROUGE-1/2/L F-measure with `rouge-score`, tokenized so Persian and Arabic text is kept.

A local 🤗 evaluate module (no Hub access). rouge-score's default tokenizer keeps only ``[a-z0-9]`` and so scores any
Persian text as empty; this module passes its own tokenizer, which keeps every Unicode letter and digit. Scores are
the mean of per-pair F-measures over the whole corpus (computed once, so batching does not change them).
"""

import re
import unicodedata

from rouge_score import rouge_scorer

from hezar_accel.metrics import scoring

_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_TOKEN = re.compile(r"[^\W_]+")


class UnicodeWordTokenizer:
    """Lowercased runs of Unicode letters and digits; combining marks and tatweel are dropped first.

    Dropping the marks keeps a word with optional diacritics (e.g. ``کِتاب``) one token equal to its plain spelling.
    """

    def tokenize(self, text):
        text = "".join(c for c in text if unicodedata.category(c) != "Mn" and c != "\u0640")
        return _TOKEN.findall(text.lower())


class Rouge(scoring.LocalMetric):
    """ROUGE with a Unicode-aware tokenizer."""

    DESCRIPTION = "ROUGE-1, ROUGE-2 and ROUGE-L F-measure, averaged over prediction/reference pairs."
    INPUTS = """
Args:
    predictions: hypothesis strings.
    references: reference strings.
Returns:
    rouge1, rouge2, rougeL: floats in [0, 1].
"""

    def _compute(self, predictions, references):
        scorer = rouge_scorer.RougeScorer(list(_ROUGE_TYPES), use_stemmer=False, tokenizer=UnicodeWordTokenizer())
        totals = dict.fromkeys(_ROUGE_TYPES, 0.0)
        for pred, ref in zip(predictions, references):
            scores = scorer.score(ref, pred)
            for key in _ROUGE_TYPES:
                totals[key] += scores[key].fmeasure
        n = max(len(predictions), 1)
        return {key: totals[key] / n for key in _ROUGE_TYPES}
