"""T5 (pure torch, Hezar/🤗 ``T5ForConditionalGeneration`` parameter names) for text-to-text generation."""

from .t5_text_generation import T5TextGeneration, T5TextGenerationConfig

__all__ = ["T5TextGeneration", "T5TextGenerationConfig"]
