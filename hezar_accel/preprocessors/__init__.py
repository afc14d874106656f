"""Preprocessors: tokenizers (over 🤗 tokenizers), image processors and audio feature extractors."""

from .preprocessor import Preprocessor, PreprocessorsContainer
from .tokenizers import Tokenizer, TokenizerConfig, WordPieceConfig, WordPieceTokenizer

__all__ = ["Preprocessor", "PreprocessorsContainer"]
__all__ += ["Tokenizer", "TokenizerConfig", "WordPieceTokenizer", "WordPieceConfig"]
