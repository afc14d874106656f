"""Decoding for decoder-only models: left alignment of prompts; the token choice and the decode loop are the shared
ones of ``hezar_accel.models.generation`` (re-exported here for existing imports)."""

from __future__ import annotations

import torch

from ..generation import StepFn, choose_next_tokens, decode

__all__ = ["left_align", "choose_next_tokens", "decode", "StepFn"]


def left_align(token_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's padding to the left, keeping the real tokens' order (a no-op on left-padded batches).

    New tokens are appended on the right, so a right-padded prompt would leave padding between the prompt and its
    continuation; left alignment makes every row's last position its last real token.

    Returns:
        ``(token_ids, attention_mask)`` with the same shapes.
    """
    order = torch.sort(attention_mask.long(), dim=1, stable=True).indices
    return token_ids.gather(1, order), attention_mask.gather(1, order)
