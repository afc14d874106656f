"""Speech models (pure torch): a Conformer-CTC character recognizer."""

from .ctc_speech_recognition import CTCSpeechRecognition, CTCSpeechRecognitionConfig

__all__ = ["CTCSpeechRecognition", "CTCSpeechRecognitionConfig"]
