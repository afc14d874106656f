"""The characters of each token's word, as model input for character-aware taggers (``word_chars``).

A sub-word tokenizer splits an unseen word into pieces whose embeddings say little about it; its characters say
more (Persian marks plurals, verb tense and person, comparatives with affixes: ``ها``, ``می``, ``ترین``). Both the
dataset (training batches) and the model's ``preprocess`` (``predict``) build this input with the function below,
so the two always agree.

The values are Unicode code points (0 = padding): no character vocabulary to train, save or keep in step; the
model hashes them into its own embedding table.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["word_char_codes", "token_word_chars"]


def word_char_codes(word: str, max_chars: int) -> list[int]:
    """The code points of ``word``, exactly ``max_chars`` of them (zero-padded).

    A longer word keeps its first ``max_chars // 2`` and its last ``max_chars - max_chars // 2`` characters:
    prefixes and suffixes are where the morphology is.

    Args:
        word: one word. max_chars: the row length (>= 1).

    Returns:
        ``max_chars`` ints.
    """
    if len(word) > max_chars:
        head = max_chars // 2
        word = word[:head] + word[len(word) - (max_chars - head):]
    codes = [ord(ch) for ch in word]
    return codes + [0] * (max_chars - len(codes))


def token_word_chars(words: Sequence[str], word_ids: Sequence[int | None], max_chars: int) -> list[list[int]]:
    """One row of character codes per token: its word's (every sub-token of a word gets the same row), zeros for
    special tokens and padding (``word_id`` None).

    Args:
        words: the sentence's words. word_ids: per token, the index of its word or None (the tokenizer's
            ``word_ids``). max_chars: the row length.

    Returns:
        ``len(word_ids)`` rows of ``max_chars`` ints.
    """
    rows, cache = [], {}
    for word_id in word_ids:
        if word_id is None:
            rows.append([0] * max_chars)
            continue
        if word_id not in cache:
            cache[word_id] = word_char_codes(words[word_id], max_chars)
        rows.append(cache[word_id])
    return rows
