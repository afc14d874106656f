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
from .ocr import OCRDataset, OCRDatasetConfig

__all__ += ["OCRDataset", "OCRDatasetConfig"]
from .speech_recognition import SpeechRecognitionDataset, SpeechRecognitionDatasetConfig

__all__ += ["SpeechRecognitionDataset", "SpeechRecognitionDatasetConfig"]
from .sequence_labeling import SequenceLabelingDataset, SequenceLabelingDatasetConfig, align_tags

__all__ += ["SequenceLabelingDataset", "SequenceLabelingDatasetConfig", "align_tags"]
from .text_generation import TextGenerationCollator, TextGenerationDataset, TextGenerationDatasetConfig

__all__ += ["TextGenerationDataset", "TextGenerationDatasetConfig", "TextGenerationCollator"]
from .mask_filling import MaskFillingDataset, MaskFillingDatasetConfig
from .masking import MaskedLMCollator, mask_tokens

__all__ += ["MaskFillingDataset", "MaskFillingDatasetConfig", "MaskedLMCollator", "mask_tokens"]
from .audio_augmentation import AudioAugmentationConfig
from .image_augmentation import ImageAugmentationConfig

__all__ += ["AudioAugmentationConfig", "ImageAugmentationConfig"]
