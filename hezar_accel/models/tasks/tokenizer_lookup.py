"""Find the tokenizer a model's ``preprocess``/``post_process`` need among what is attached as its preprocessor."""

from __future__ import annotations

from typing import Any

__all__ = ["find_tokenizer"]


def find_tokenizer(preprocessor: Any, name: str = "wordpiece_tokenizer"):
    """Return the tokenizer among a model's preprocessor(s).

    Args:
        preprocessor: a ``Tokenizer``, or a ``PreprocessorsContainer`` (name -> preprocessor) holding one.
        name: the registry name to prefer inside a container.

    Returns:
        The tokenizer.

    Raises:
        ValueError: no preprocessor is attached, or the container holds no tokenizer.
    """
    from ...preprocessors.tokenizers import Tokenizer

    if isinstance(preprocessor, Tokenizer):
        return preprocessor
    if isinstance(preprocessor, dict):
        if isinstance(preprocessor.get(name), Tokenizer):
            return preprocessor[name]
        for value in preprocessor.values():
            if isinstance(value, Tokenizer):
                return value
    raise ValueError(
        "This model needs a tokenizer for preprocess()/predict(), but its preprocessor is "
        f"{type(preprocessor).__name__}. "
        "Attach one: `model.preprocessor = WordPieceTokenizer.load(path)` (or load a model folder with preprocessor/)."
    )
