"""BERT models (pure torch, 🤗 ``BertModel`` parameter names): text classification and sequence labeling."""

from .encoder import BertEncoder
from .sequence_labeling import BertSequenceLabeling, BertSequenceLabelingConfig
from .text_classification import BertTextClassification, BertTextClassificationConfig

__all__ = [
    "BertEncoder",
    "BertTextClassification",
    "BertTextClassificationConfig",
    "BertSequenceLabeling",
    "BertSequenceLabelingConfig",
]
