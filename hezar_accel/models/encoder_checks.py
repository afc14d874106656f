"""Checks every transformer encoder config runs: positive sizes, dropout probabilities, heads that divide the width,
a known activation and a padding id inside the vocabulary.

BERT/RoBERTa and DistilBERT name these fields differently (``hidden_size``/``dim``, ``num_attention_heads``/
``n_heads`` ...), so the checks take the field names and each config passes its own.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["encoder_problems"]


def _typed(config: Any, name: str, tp) -> bool:
    """Whether the field holds a ``tp`` (bools excluded): range checks only run on values that passed the type check.
    A config without the field (a vision encoder has no ``pad_token_id``) does not hold one."""
    value = getattr(config, name, None)
    return isinstance(value, tp) and not isinstance(value, bool)


def encoder_problems(config: Any, positive_ints: Iterable[str], probabilities: Iterable[str], width: str, heads: str,
                     activation: str, activations: Iterable[str]) -> list[str]:
    """Range problems of an encoder config, one ``field: value; fix`` line each (types are checked by ``Config``).

    Args:
        config: the config dataclass.
        positive_ints: fields that must be integers >= 1 (sizes, layer counts).
        probabilities: fields that must lie in [0, 1) (dropouts).
        width: the hidden-width field (``hidden_size`` / ``dim``); it must be a multiple of ``heads``.
        heads: the attention-head-count field.
        activation: the activation-name field; its value must be in ``activations``.
        activations: the supported activation names.

    Returns:
        The problems (empty when the config is valid); ``pad_token_id`` must also index ``vocab_size``.
    """
    problems = []
    for name in positive_ints:
        if _typed(config, name, int) and getattr(config, name) < 1:
            problems.append(f"{name}: {getattr(config, name)!r} must be a positive integer")
    for name in probabilities:
        if _typed(config, name, (int, float)) and not 0.0 <= getattr(config, name) < 1.0:
            problems.append(f"{name}: {getattr(config, name)!r} must be a probability in [0, 1)")
    size, count = getattr(config, width), getattr(config, heads)
    if _typed(config, width, int) and _typed(config, heads, int) and count > 0 and size % count:
        problems.append(f"{width}: {size} is not divisible by {heads}={count}; choose {width} = {heads} * head_dim")
    valid = list(activations)
    if isinstance(getattr(config, activation), str) and getattr(config, activation) not in valid:
        problems.append(f"{activation}: {getattr(config, activation)!r} is not supported; valid: {', '.join(valid)}")
    if _typed(config, "pad_token_id", int) and _typed(config, "vocab_size", int) \
            and not 0 <= config.pad_token_id < config.vocab_size:
        problems.append(f"pad_token_id: {config.pad_token_id} must be in [0, vocab_size={config.vocab_size})")
    return problems
