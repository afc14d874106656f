"""Names shared by every layer: file names of the on-disk format and the enums users write in configs.

Keeping them in one module is what lets a folder saved by one part (the trainer) be read by another (``Model.load``)
and by Hezar itself, whose file names these are.
"""

from __future__ import annotations

from enum import Enum

# Model folder (Hezar format).
MODEL_CONFIG_FILE = "model_config.yaml"
MODEL_FILE = "model.pt"
MODEL_SAFETENSORS_FILE = "model.safetensors"
PREPROCESSOR_SUBFOLDER = "preprocessor"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.yaml"
IMAGE_PROCESSOR_CONFIG_FILE = "image_processor_config.yaml"
FEATURE_EXTRACTOR_CONFIG_FILE = "feature_extractor_config.yaml"
GENERATION_CONFIG_FILE = "generation_config.yaml"
DATASET_CONFIG_FILE = "dataset_config.yaml"

# Trainer output.
TRAINER_SUBFOLDER = "train"
TRAINER_CONFIG_FILE = "train_config.yaml"
TRAINER_STATE_FILE = "trainer_state.yaml"
TRAINER_CSV_LOG_FILE = "training_logs.csv"
ACCELERATE_SUBFOLDER = "accelerate"
# Written last into a checkpoint folder; a folder without it is an interrupted save and is never trusted.
CHECKPOINT_COMPLETE_MARKER = "COMPLETE"
CHECKPOINT_STEP_DIGITS = 8

TQDM_BAR_FORMAT = "{desc:<16}{percentage:3.0f}%|{bar:20}{r_bar}"


class StrEnum(str, Enum):
    """A ``str`` enum whose members compare equal to their values (``TaskType.X == "x"``)."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class TaskType(StrEnum):
    TEXT_CLASSIFICATION = "text_classification"
    SEQUENCE_LABELING = "sequence_labeling"
    TEXT_GENERATION = "text_generation"
    IMAGE2TEXT = "image2text"
    SPEECH_RECOGNITION = "speech_recognition"
    MASK_FILLING = "mask_filling"


class ConfigType(StrEnum):
    BASE = "base"
    MODEL = "model"
    PREPROCESSOR = "preprocessor"
    DATASET = "dataset"
    TRAINER = "trainer"
    METRIC = "metric"


class OptimizerType(StrEnum):
    ADAM = "adam"
    ADAMW = "adamw"
    SGD = "sgd"


class LRSchedulerType(StrEnum):
    CONSTANT = "constant"
    LINEAR = "linear"
    COSINE = "cosine"
    POLYNOMIAL = "polynomial"


class PrecisionType(StrEnum):
    NO = "no"
    FP16 = "fp16"
    BF16 = "bf16"


class NanPolicy(StrEnum):
    RAISE = "raise"
    SKIP_STEP = "skip_step"
