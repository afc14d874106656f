"""Corpus-level CER (character error rate) with `jiwer` (a local 🤗 evaluate module, no Hub access).

Corpus-level means total edits over all pairs divided by the total reference length, not the mean of per-sentence
rates: a long sentence weighs more than a short one, and the result does not depend on how the data was batched.
"""

import datasets
import evaluate
import jiwer

_DESCRIPTION = "CER = (substitutions + deletions + insertions) / reference characters, summed over the corpus."
_KWARGS_DESCRIPTION = """
Args:
    predictions: hypothesis strings.
    references: reference strings.
Returns:
    cer: a float (0 is perfect; can exceed 1 with many insertions).
"""


def _length(text):
    return len(text.strip())


class CER(evaluate.Metric):
    """Corpus-level character error rate."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        edits, ref_length = 0, 0
        scored_refs, scored_preds = [], []
        for pred, ref in zip(predictions, references):
            if _length(ref) == 0:
                # Older jiwer versions reject empty references; an empty reference makes every unit an insertion.
                edits += _length(pred)
            else:
                scored_refs.append(ref)
                scored_preds.append(pred)
        if scored_refs:
            out = jiwer.process_characters(scored_refs, scored_preds)
            edits += out.substitutions + out.deletions + out.insertions
            ref_length += out.substitutions + out.deletions + out.hits
        if ref_length == 0:
            return {"cer": 0.0 if edits == 0 else float("inf")}
        return {"cer": edits / ref_length}
