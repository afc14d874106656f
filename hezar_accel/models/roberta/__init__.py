"""RoBERTa models (pure torch, 🤗 ``RobertaModel`` parameter names): text classification, sequence labeling, mask
filling."""

from .encoder import RobertaEncoder
from .mask_filling import RobertaMaskFilling, RobertaMaskFillingConfig
from .sequence_labeling import RobertaSequenceLabeling, RobertaSequenceLabelingConfig
from .text_classification import RobertaTextClassification, RobertaTextClassificationConfig

__all__ = [
    "RobertaEncoder",
    "RobertaTextClassification",
    "RobertaTextClassificationConfig",
    "RobertaSequenceLabeling",
    "RobertaSequenceLabelingConfig",
    "RobertaMaskFilling",
    "RobertaMaskFillingConfig",
]
