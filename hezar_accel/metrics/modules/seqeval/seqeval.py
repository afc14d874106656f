"""Entity-level precision/recall/F1 and token accuracy for tag sequences, with the `seqeval` package.

A local 🤗 evaluate module (no Hub access). Inputs are string tags (``B-PER``, ``I-PER``, ``O`` ...), one list per
sentence. Without a scheme, seqeval's default (CoNLL-style, lenient) entity extraction is used; with ``scheme``
(IOB2, IOBES ...) the strict mode is used, where an entity counts only if its tags are valid under that scheme.
"""

import datasets
import evaluate
import seqeval.scheme
from seqeval.metrics import accuracy_score
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support
from seqeval.metrics.v1 import precision_recall_fscore_support as strict_precision_recall_fscore_support

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
        kwargs = {"average": "micro", "suffix": suffix, "zero_division": zero_division}
        # One pass over the entities for all three scores (seqeval's precision_score/recall_score/f1_score would each
        # extract them again); the same functions and micro average those three call.
        if scheme is None:
            precision, recall, f1, _ = precision_recall_fscore_support(references, predictions, **kwargs)
        elif scheme not in _SCHEMES:
            valid = ", ".join(_SCHEMES)
            raise ValueError(f"seqeval: scheme={scheme!r} is not supported; use None or one of {valid}")
        else:
            precision, recall, f1, _ = strict_precision_recall_fscore_support(
                references, predictions, scheme=getattr(seqeval.scheme, scheme), **kwargs)
        return {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "accuracy": float(accuracy_score(references, predictions)),
        }
