"""Models: the Hezar-format ``Model`` base and pure-torch architectures (one file each)."""

from .model import LoadReport, Model
from .bert import (BertMaskFilling, BertMaskFillingConfig, BertSequenceLabeling, BertSequenceLabelingConfig,
                   BertTextClassification, BertTextClassificationConfig)

__all__ = ["Model", "LoadReport"]
__all__ += [
    "BertTextClassification", "BertTextClassificationConfig", "BertSequenceLabeling", "BertSequenceLabelingConfig",
    "BertMaskFilling", "BertMaskFillingConfig",
]
from .roberta import (RobertaMaskFilling, RobertaMaskFillingConfig, RobertaSequenceLabeling,
                      RobertaSequenceLabelingConfig, RobertaTextClassification, RobertaTextClassificationConfig)

__all__ += [
    "RobertaTextClassification", "RobertaTextClassificationConfig", "RobertaSequenceLabeling",
    "RobertaSequenceLabelingConfig", "RobertaMaskFilling", "RobertaMaskFillingConfig",
]
from .distilbert import (DistilBertMaskFilling, DistilBertMaskFillingConfig, DistilBertSequenceLabeling,
                         DistilBertSequenceLabelingConfig, DistilBertTextClassification,
                         DistilBertTextClassificationConfig)

__all__ += [
    "DistilBertTextClassification", "DistilBertTextClassificationConfig", "DistilBertSequenceLabeling",
    "DistilBertSequenceLabelingConfig", "DistilBertMaskFilling", "DistilBertMaskFillingConfig",
]
from .crnn import CRNNImage2Text, CRNNImage2TextConfig

__all__ += ["CRNNImage2Text", "CRNNImage2TextConfig"]
from .speech import CTCSpeechRecognition, CTCSpeechRecognitionConfig

__all__ += ["CTCSpeechRecognition", "CTCSpeechRecognitionConfig"]
from .gpt2 import GPT2TextGeneration, GPT2TextGenerationConfig

__all__ += ["GPT2TextGeneration", "GPT2TextGenerationConfig"]
from .t5 import T5TextGeneration, T5TextGenerationConfig

__all__ += ["T5TextGeneration", "T5TextGenerationConfig"]
from .whisper import WhisperSpeechRecognition, WhisperSpeechRecognitionConfig

__all__ += ["WhisperSpeechRecognition", "WhisperSpeechRecognitionConfig"]
from .vision_encoder_decoder import (TrOCRImage2Text, TrOCRImage2TextConfig, ViTRobertaImage2Text,
                                     ViTRobertaImage2TextConfig)

__all__ += ["ViTRobertaImage2Text", "ViTRobertaImage2TextConfig", "TrOCRImage2Text", "TrOCRImage2TextConfig"]
from .lstm import BiLSTMSequenceLabeling, BiLSTMSequenceLabelingConfig

__all__ += ["BiLSTMSequenceLabeling", "BiLSTMSequenceLabelingConfig"]
