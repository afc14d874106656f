"""Preprocessors: tokenizers (over 🤗 tokenizers), image processors and audio feature extractors."""

from .preprocessor import Preprocessor, PreprocessorsContainer

__all__ = ["Preprocessor", "PreprocessorsContainer"]
