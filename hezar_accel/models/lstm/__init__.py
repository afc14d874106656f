"""A BiLSTM tagger with a character CNN (not a Hezar family; see its module)."""

from .sequence_labeling import BiLSTMSequenceLabeling, BiLSTMSequenceLabelingConfig

__all__ = ["BiLSTMSequenceLabeling", "BiLSTMSequenceLabelingConfig"]
