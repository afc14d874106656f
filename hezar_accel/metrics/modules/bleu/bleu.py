"""Corpus BLEU with `sacrebleu` (a local 🤗 evaluate module, no Hub access).

Corpus BLEU pools n-gram counts over every sentence before taking the geometric mean, so it is not the mean of
sentence BLEUs. References may be one string per prediction or a list of strings (the same number for every
prediction, as sacrebleu needs full reference streams).
"""

import datasets
from sacrebleu.metrics import BLEU

from hezar_accel.metrics import scoring


class Bleu(scoring.LocalMetric):
    """sacrebleu corpus BLEU."""

    DESCRIPTION = "Corpus-level BLEU (0-100) computed by sacrebleu."
    INPUTS = """
Args:
    predictions: hypothesis strings.
    references: a reference string, or a list of reference strings, per prediction.
    tokenize: sacrebleu tokenizer: 13a (default), intl, char, none, flores101, flores200 ...
    lowercase: compare lowercased text.
    smooth_method: exp (default), floor, add-k or none.
Returns:
    bleu: a float in [0, 100].
"""
    FEATURES = [
        datasets.Features({"predictions": datasets.Value("string"),
                           "references": datasets.Sequence(datasets.Value("string"))}),
        scoring.STRING_PAIRS,
    ]

    def _compute(self, predictions, references, tokenize="13a", lowercase=False, smooth_method="exp"):
        refs = [[r] if isinstance(r, str) else list(r) for r in references]
        counts = {len(r) for r in refs}
        if len(counts) > 1:
            raise ValueError(f"bleu: every prediction needs the same number of references, got counts {sorted(counts)}")
        streams = [list(stream) for stream in zip(*refs)] if refs else [[]]
        scorer = BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method)
        return {"bleu": float(scorer.corpus_score(list(predictions), streams).score)}
