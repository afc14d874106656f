"""DistilBERT models (pure torch, 🤗 ``DistilBertModel`` parameter names): text classification, sequence labeling,
mask filling."""

from .encoder import DistilBertEncoder
from .mask_filling import DistilBertMaskFilling, DistilBertMaskFillingConfig
from .sequence_labeling import DistilBertSequenceLabeling, DistilBertSequenceLabelingConfig
from .text_classification import DistilBertTextClassification, DistilBertTextClassificationConfig

__all__ = [
    "DistilBertEncoder",
    "DistilBertTextClassification",
    "DistilBertTextClassificationConfig",
    "DistilBertSequenceLabeling",
    "DistilBertSequenceLabelingConfig",
    "DistilBertMaskFilling",
    "DistilBertMaskFillingConfig",
]
