"""GPT-2 (pure torch, Hezar/🤗 ``GPT2LMHeadModel`` parameter names) for text generation."""

from .gpt2_text_generation import GPT2TextGeneration, GPT2TextGenerationConfig

__all__ = ["GPT2TextGeneration", "GPT2TextGenerationConfig"]
