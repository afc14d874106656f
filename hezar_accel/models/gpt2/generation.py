"""Decoding for decoder-only models: left alignment of prompts, greedy / sampled token choice, the decode loop."""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["left_align", "choose_next_tokens", "decode"]

# step(input_ids, attention_mask, past) -> (logits of the last position (batch, vocab), new past)
StepFn = Callable[[torch.Tensor, torch.Tensor, object], tuple[torch.Tensor, object]]


def left_align(token_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's padding to the left, keeping the real tokens' order (a no-op on left-padded batches).

    New tokens are appended on the right, so a right-padded prompt would leave padding between the prompt and its
    continuation; left alignment makes every row's last position its last real token.

    Returns:
        ``(token_ids, attention_mask)`` with the same shapes.
    """
    order = torch.sort(attention_mask.long(), dim=1, stable=True).indices
    return token_ids.gather(1, order), attention_mask.gather(1, order)


def choose_next_tokens(logits: torch.Tensor, do_sample: bool = False, temperature: float = 1.0,
                       top_k: int | None = None, top_p: float | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick one token per row from last-position logits ``(batch, vocab)``.

    Args:
        do_sample: sample from the (filtered) distribution; False = greedy argmax (the other options are unused).
        temperature: divide logits by this before sampling (< 1 sharper, > 1 flatter).
        top_k: keep only the k most likely tokens (None/0 = off).
        top_p: keep the smallest set of most likely tokens whose probability reaches p (None/1.0 = off).
        generator: RNG for sampling (None = torch's global RNG, so ``torch.manual_seed`` makes it reproducible).

    Returns:
        ``(batch,)`` token ids.
    """
    if not do_sample:
        return logits.argmax(-1)
    logits = logits.float() / max(float(temperature), 1e-6)
    if top_k:
        kth = torch.topk(logits, min(int(top_k), logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, indices = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the tokens before it already reach top_p; the most likely token always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(1, indices, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)


def decode(step: StepFn, token_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
           choose: Callable[[torch.Tensor], torch.Tensor], eos_token_id: int | None, pad_token_id: int,
           use_cache: bool = True) -> torch.Tensor:
    """Generate up to ``max_new_tokens`` after left-aligned prompts; rows stop after their EOS.

    Args:
        step: runs the model on new input ids (all ids when ``use_cache`` is False) with the full attention mask and
            the cache, returning the last position's logits and the new cache.
        token_ids / attention_mask: left-aligned prompts ``(batch, prompt_length)``.
        choose: logits ``(batch, vocab)`` -> ``(batch,)`` ids.
        eos_token_id: stop a row after it emits this id (None = never stop early).
        pad_token_id: written after a row's EOS.
        use_cache: reuse keys/values of earlier positions (one new token per step) instead of re-running all tokens.

    Returns:
        ``(batch, generated_length)`` ids: the continuation only, EOS included, padded with ``pad_token_id``; the
        loop ends when every row has stopped, so ``generated_length`` may be below ``max_new_tokens``.
    """
    batch = token_ids.shape[0]
    finished = torch.zeros(batch, dtype=torch.bool, device=token_ids.device)
    ones = torch.ones(batch, 1, dtype=attention_mask.dtype, device=attention_mask.device)
    generated, inputs, past = [], token_ids, None
    for _ in range(max_new_tokens):
        logits, past = step(inputs, attention_mask, past if use_cache else None)
        next_ids = torch.where(finished, torch.full_like(finished, pad_token_id, dtype=torch.long), choose(logits))
        generated.append(next_ids)
        if eos_token_id is not None:
            finished |= next_ids == eos_token_id
            if bool(finished.all()):
                break
        attention_mask = torch.cat([attention_mask, ones], dim=1)
        token_ids = torch.cat([token_ids, next_ids[:, None]], dim=1)
        inputs = next_ids[:, None] if use_cache else token_ids
    if not generated:
        return token_ids.new_zeros(batch, 0)
    return torch.stack(generated, dim=1)
