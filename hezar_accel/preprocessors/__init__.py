"""Preprocessors: tokenizers (over 🤗 tokenizers), image processors and audio feature extractors."""

from .preprocessor import Preprocessor, PreprocessorsContainer
from .tokenizers import Tokenizer, TokenizerConfig, WordPieceConfig, WordPieceTokenizer

__all__ = ["Preprocessor", "PreprocessorsContainer"]
__all__ += ["Tokenizer", "TokenizerConfig", "WordPieceTokenizer", "WordPieceConfig"]
from .audio_feature_extractor import AudioFeatureExtractor, AudioFeatureExtractorConfig

__all__ += ["AudioFeatureExtractor", "AudioFeatureExtractorConfig"]
from .image_processor import ImageProcessor, ImageProcessorConfig

__all__ += ["ImageProcessor", "ImageProcessorConfig"]
from .tokenizers import BPEConfig, BPETokenizer

__all__ += ["BPETokenizer", "BPEConfig"]
from .tokenizers import SentencePieceUnigramConfig, SentencePieceUnigramTokenizer, WhisperBPEConfig, WhisperBPETokenizer

__all__ += ["SentencePieceUnigramTokenizer", "SentencePieceUnigramConfig", "WhisperBPETokenizer", "WhisperBPEConfig"]
from .whisper_feature_extractor import WhisperFeatureExtractor, WhisperFeatureExtractorConfig

__all__ += ["WhisperFeatureExtractor", "WhisperFeatureExtractorConfig"]
