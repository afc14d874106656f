"""Tokenizers over 🤗 tokenizers, saved in Hezar's format (``tokenizer.json`` + ``tokenizer_config.yaml``)."""

from .tokenizer import Tokenizer, TokenizerConfig
from .wordpiece import WordPieceConfig, WordPieceTokenizer

__all__ = ["Tokenizer", "TokenizerConfig", "WordPieceTokenizer", "WordPieceConfig"]
from .bpe import BPEConfig, BPETokenizer, encode_prompts

__all__ += ["BPETokenizer", "BPEConfig", "encode_prompts"]
from .sentencepiece_unigram import SentencePieceUnigramConfig, SentencePieceUnigramTokenizer
from .whisper_bpe import WhisperBPEConfig, WhisperBPETokenizer

__all__ += ["SentencePieceUnigramTokenizer", "SentencePieceUnigramConfig", "WhisperBPETokenizer", "WhisperBPEConfig"]
