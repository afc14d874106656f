"""BERT models (pure torch, 🤗 ``BertModel`` parameter names): text classification, sequence labeling, mask filling."""

from .encoder import BertEncoder
from .mask_filling import BertMaskFilling, BertMaskFillingConfig
from .sequence_labeling import BertSequenceLabeling, BertSequenceLabelingConfig
from .text_classification import BertTextClassification, BertTextClassificationConfig

__all__ = [
    "BertEncoder",
    "BertTextClassification",
    "BertTextClassificationConfig",
    "BertSequenceLabeling",
    "BertSequenceLabelingConfig",
    "BertMaskFilling",
    "BertMaskFillingConfig",
]
