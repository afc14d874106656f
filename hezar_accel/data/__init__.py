"""Datasets over 🤗 ``datasets`` (one file per task), collators and samplers."""

from .collators import PaddingCollator
from .dataset import Dataset
from .samplers import EpochShuffleSampler, LengthGroupedSampler
from .text_classification import TextClassificationDataset, TextClassificationDatasetConfig

__all__ = [
    "Dataset",
    "PaddingCollator",
    "EpochShuffleSampler",
    "LengthGroupedSampler",
    "TextClassificationDataset",
    "TextClassificationDatasetConfig",
]
