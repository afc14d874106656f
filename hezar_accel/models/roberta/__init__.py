"""RoBERTa models (pure torch, 🤗 ``RobertaModel`` parameter names): text classification, sequence labeling, mask
filling, and the causal-LM decoder of the image-to-text models."""

from .decoder import RobertaDecoderConfig, RobertaForCausalLM
from .encoder import RobertaEncoder
from .mask_filling import RobertaMaskFilling, RobertaMaskFillingConfig
from .sequence_labeling import RobertaSequenceLabeling, RobertaSequenceLabelingConfig
from .text_classification import RobertaTextClassification, RobertaTextClassificationConfig

__all__ = [
    "RobertaEncoder",
    "RobertaDecoderConfig",
    "RobertaForCausalLM",
    "RobertaTextClassification",
    "RobertaTextClassificationConfig",
    "RobertaSequenceLabeling",
    "RobertaSequenceLabelingConfig",
    "RobertaMaskFilling",
    "RobertaMaskFillingConfig",
]
