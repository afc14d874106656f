"""Entity-level precision/recall/F1 and token accuracy for tag sequences, with the `seqeval` package.

A local 🤗 evaluate module (no Hub access). Inputs are string tags (``B-PER``, ``I-PER``, ``O`` ...), one list per
sentence. Without a scheme, seqeval's default (CoNLL-style, lenient) entity extraction is used; with ``scheme``
(IOB2, IOBES ...) the strict mode is used, where an entity counts only if its tags are valid under that scheme.
"""

import datasets
import evaluate
import seqeval.scheme
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

_SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")
_DESCRIPTION = "Entity precision/recall/F1 (micro over entities) and token accuracy over tag sequences."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted tag sequences (lists of strings).
    references: reference tag sequences, same lengths as the predictions.
    scheme: None (lenient CoNLL matching) or one of IOB1, IOB2, IOE1, IOE2, IOBES, BILOU (strict matching).
    suffix: True when tags are written as PER-B instead of B-PER.
    zero_division: value used when there are no predicted/true entities (default 0).
Returns:
    precision, recall, f1, accuracy: floats.
"""


class Seqeval(evaluate.Metric):
    """seqeval over string tag sequences."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, scheme=None, suffix=False, zero_division=0):
        for i, (pred, ref) in enumerate(zip(predictions, references)):
            if len(pred) != len(ref):
                raise ValueError(f"seqeval: sentence {i} has {len(pred)} predicted tags but {len(ref)} reference tags")
        kwargs = {"suffix": suffix, "zero_division": zero_division}
        if scheme is not None:
            if scheme not in _SCHEMES:
                valid = ", ".join(_SCHEMES)
                raise ValueError(f"seqeval: scheme={scheme!r} is not supported; use None or one of {valid}")
            kwargs.update(mode="strict", scheme=getattr(seqeval.scheme, scheme))
        return {
            "precision": float(precision_score(references, predictions, **kwargs)),
            "recall": float(recall_score(references, predictions, **kwargs)),
            "f1": float(f1_score(references, predictions, **kwargs)),
            "accuracy": float(accuracy_score(references, predictions)),
        }
