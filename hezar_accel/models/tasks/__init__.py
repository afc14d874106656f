"""Task behaviour shared across encoder families: losses, ``preprocess`` and ``post_process`` per task."""

from .sequence_labeling import SequenceLabelingModel
from .text_classification import TextClassificationModel
from .tokenizer_lookup import find_tokenizer

__all__ = ["TextClassificationModel", "SequenceLabelingModel", "find_tokenizer"]
