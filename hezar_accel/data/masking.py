"""Masked-LM masking as a pure function, and the collator that applies it to a batch.

A sample's mask depends only on its ``masking_key`` = ``(seed, epoch, row)`` (``MaskFillingDataset`` adds it): never on
the global RNG, the batch it lands in, the number of processes or dataloader workers. So a resumed run masks every
sample exactly as the interrupted run would have (DESIGN promise 5), an evaluation set (always epoch 0) is masked the
same way at every evaluation, and 2 processes mask like 1 (promise 4).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from ..errors import DataError
from .collators import PaddingCollator

__all__ = ["mask_tokens", "MaskedLMCollator", "IGNORE_INDEX", "MASKING_KEY"]

IGNORE_INDEX = -100
# The sample field carrying (seed, epoch, row); consumed by the collator, never passed to the model.
MASKING_KEY = "masking_key"


def mask_tokens(token_ids: np.ndarray, key: Sequence[int], special_ids: np.ndarray, mask_token_id: int,
                replacement_ids: np.ndarray, mlm_probability: float = 0.15, mask_replace_prob: float = 0.8,
                random_replace_prob: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Choose and corrupt the positions a masked LM learns to predict, BERT style.

    ``max(1, round(mlm_probability * n))`` of the ``n`` maskable positions (tokens whose id is not special; padding is
    added later and never seen here) are chosen, as in BERT's own data generator: a fixed share, and at least one, so
    no text contributes an empty (NaN) loss. Of the chosen positions a ``mask_replace_prob`` share becomes the mask
    token, a ``random_replace_prob`` share a random non-special token, and the rest keep their token.

    Args:
        token_ids: one sample's ``(seq_len,)`` ids, special tokens included.
        key: non-negative integers, e.g. ``(seed, epoch, row)``; the result is a function of them and the ids only.
        special_ids: ids never chosen (``[CLS]``, ``[SEP]``, ``<s>``, the mask and pad tokens ...).
        mask_token_id: the mask token's id.
        replacement_ids: ids a random replacement draws from.
        mlm_probability, mask_replace_prob, random_replace_prob: the shares described above.

    Returns:
        ``(inputs, labels)``: the corrupted ids, and the original id at chosen positions with -100 elsewhere.
    """
    token_ids = np.asarray(token_ids, dtype=np.int64)
    inputs, labels = token_ids.copy(), np.full_like(token_ids, IGNORE_INDEX)
    candidates = np.flatnonzero(~np.isin(token_ids, special_ids))
    if not len(candidates):
        return inputs, labels
    rng = np.random.default_rng([int(k) for k in key])  # SeedSequence: a well-mixed stream per key
    chosen = np.sort(rng.choice(candidates, size=max(1, round(mlm_probability * len(candidates))), replace=False))
    labels[chosen] = token_ids[chosen]
    action = rng.random(len(chosen))
    inputs[chosen[action < mask_replace_prob]] = mask_token_id
    randomized = chosen[(action >= mask_replace_prob) & (action < mask_replace_prob + random_replace_prob)]
    inputs[randomized] = rng.choice(replacement_ids, size=len(randomized))
    return inputs, labels


class MaskedLMCollator:
    """Mask each sample by its ``masking_key`` (see :func:`mask_tokens`), then pad the batch to its longest sample.

    Output: ``token_ids`` (corrupted, padded with ``pad_token_id``), ``attention_mask`` (0 on padding) and ``labels``
    (-100 except at chosen positions, padding included). Picklable, so dataloader workers can run it.

    Args:
        pad_token_id, mask_token_id: the tokenizer's pad and mask ids.
        special_ids: ids never masked (pad and mask ids are added to them).
        vocab_size: random replacements draw from ``0..vocab_size-1`` minus ``special_ids``.
        mlm_probability, mask_replace_prob, random_replace_prob: see :func:`mask_tokens`.
        pad_to_multiple_of: round padded lengths up to a multiple of this; None = off.

    Raises:
        DataError: no id is left for random replacement while ``random_replace_prob`` > 0.
    """

    def __init__(self, pad_token_id: int, mask_token_id: int, special_ids: Iterable[int], vocab_size: int,
                 mlm_probability: float = 0.15, mask_replace_prob: float = 0.8, random_replace_prob: float = 0.1,
                 pad_to_multiple_of: int | None = None):
        self.mask_token_id = int(mask_token_id)
        self.special_ids = np.array(sorted({int(i) for i in special_ids} | {int(pad_token_id), self.mask_token_id}),
                                    dtype=np.int64)
        self.replacement_ids = np.setdiff1d(np.arange(int(vocab_size), dtype=np.int64), self.special_ids)
        if random_replace_prob > 0 and not len(self.replacement_ids):
            raise DataError(f"The vocabulary of {vocab_size} ids holds only special tokens, so no random replacement "
                            "can be drawn; use a trained tokenizer, or set random_replace_prob: 0.")
        self.probabilities = (float(mlm_probability), float(mask_replace_prob), float(random_replace_prob))
        self.padding = PaddingCollator({"token_ids": int(pad_token_id), "labels": IGNORE_INDEX, "attention_mask": 0},
                                       pad_to_multiple_of=pad_to_multiple_of)

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = []
        for sample in samples:
            if MASKING_KEY not in sample:
                raise DataError(f"MaskedLMCollator got a sample without `{MASKING_KEY}` (keys: {sorted(sample)}); "
                                "feed it samples of a MaskFillingDataset, whose rows carry (seed, epoch, row).")
            inputs, labels = mask_tokens(sample["token_ids"], sample[MASKING_KEY], self.special_ids,
                                         self.mask_token_id, self.replacement_ids, *self.probabilities)
            rows.append({"token_ids": inputs, "attention_mask": np.ones_like(inputs), "labels": labels})
        return self.padding(rows)
