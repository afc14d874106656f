"""Whisper (pure torch, Hezar/🤗 ``WhisperForConditionalGeneration`` parameter names) for speech recognition."""

from .whisper_speech_recognition import WhisperSpeechRecognition, WhisperSpeechRecognitionConfig

__all__ = ["WhisperSpeechRecognition", "WhisperSpeechRecognitionConfig"]
