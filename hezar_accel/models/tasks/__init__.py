"""Task behaviour shared across encoder families: losses, ``preprocess`` and ``post_process`` per task."""

from .mask_filling import MaskFillingModel
from .sequence_labeling import SequenceLabelingModel
from .text_classification import TextClassificationModel
from .tokenizer_lookup import find_tokenizer

__all__ = ["TextClassificationModel", "SequenceLabelingModel", "MaskFillingModel", "find_tokenizer"]
