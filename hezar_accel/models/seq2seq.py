"""What encoder-decoder models (T5, Whisper) share: teacher forcing, the token-mean loss and the decoding glue.

Training is teacher forcing: the decoder reads ``labels`` shifted one position right behind the decoder start token
(-100 padding becomes the pad id) and is scored on ``labels`` itself, so ``logits[:, t]`` predicts ``labels[:, t]``.
Generation encodes once and runs the shared search of :mod:`hezar_accel.models.generation` over the decoder.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .generation import LogitsRule, beam_search, choose_next_tokens, decode
from .model import Model

__all__ = ["IGNORE_INDEX", "shift_right", "generation_problems", "EncoderDecoderModel"]

IGNORE_INDEX = -100


def shift_right(labels: torch.Tensor, decoder_start_token_id: int, pad_token_id: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: ``[start, labels[:, :-1]]`` with -100 replaced by ``pad_token_id``.

    Raises:
        ValueError: ``decoder_start_token_id`` or ``pad_token_id`` is None (set them in the model config).
    """
    if decoder_start_token_id is None or pad_token_id is None:
        raise ValueError(f"Teacher forcing needs decoder_start_token_id and pad_token_id in the model config, got "
                         f"{decoder_start_token_id} and {pad_token_id}.")
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_token_id)


def generation_problems(config) -> list[str]:
    """Problems with the beam settings every encoder-decoder config has (``num_beams``, ``early_stopping``)."""
    problems = []
    if config.num_beams < 1:
        problems.append(f"num_beams: {config.num_beams} must be >= 1 (1 = greedy decoding)")
    if config.early_stopping not in (True, False, "never"):
        problems.append(f"early_stopping: {config.early_stopping!r}; use true, false or 'never'")
    return problems


class EncoderDecoderModel(Model):
    """Base of encoder-decoder models: token-mean cross-entropy and ``search`` over the decoder.

    Subclasses implement ``encode(...) -> (encoder_states, encoder_mask or None)`` and
    ``decoder_step(decoder_ids, encoder_states, encoder_mask, past) -> (logits (rows, new, vocab), past)``, where
    ``past`` is their key/value cache (nested tuples of tensors whose dim 0 is the row, or None on the first call).
    """

    is_generative = True
    loss_reduction = "token_mean"
    # Label ids besides -100 the loss ignores (T5 ignores its pad id, as Hezar's T5 does).
    ignored_label_ids: tuple[int, ...] = ()

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean cross-entropy over the label tokens (-100 and ``ignored_label_ids`` left out), in float32.

        ``logits[:, t]`` scores ``labels[:, t]`` (the decoder read the labels shifted right).
        """
        for token in self.ignored_label_ids:
            labels = labels.masked_fill(labels == token, IGNORE_INDEX)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                               ignore_index=IGNORE_INDEX)

    def encode(self, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover - per model
        raise NotImplementedError

    def decoder_step(self, decoder_ids, encoder_states, encoder_mask, past) -> tuple[torch.Tensor, Any]:  # pragma: no cover
        raise NotImplementedError

    def search(self, encoder_states: torch.Tensor, encoder_mask: torch.Tensor | None, decoder_prompt: torch.Tensor,
               max_new_tokens: int, eos_token_id: int | None, pad_token_id: int | None, num_beams: int = 1,
               length_penalty: float = 1.0, early_stopping: bool | str = False, rule: LogitsRule | None = None,
               use_cache: bool = True) -> torch.Tensor:
        """Greedy decoding (``num_beams`` 1) or beam search behind ``decoder_prompt``, one encoding per sample.

        Args:
            encoder_states / encoder_mask: ``encode``'s outputs for the batch.
            decoder_prompt: ``(batch, prompt_length)`` forced first decoder tokens (the start token, Whisper's
                language/task tokens).
            max_new_tokens: most tokens generated after the prompt.
            eos_token_id / pad_token_id: end of a hypothesis / what follows it.
            num_beams, length_penalty, early_stopping: beam search settings (see :func:`beam_search`).
            rule: forbidden tokens per step (:func:`token_rules`).
            use_cache: reuse the decoder's keys/values between steps.

        Returns:
            ``(batch, generated_length)`` continuation ids (prompt excluded), EOS included.
        """
        if num_beams > 1:
            encoder_states = encoder_states.repeat_interleave(num_beams, 0)
            encoder_mask = encoder_mask.repeat_interleave(num_beams, 0) if encoder_mask is not None else None

        def step(inputs, mask, past):
            logits, past = self.decoder_step(inputs, encoder_states, encoder_mask, past)
            return logits[:, -1], past

        mask = torch.ones_like(decoder_prompt)
        if num_beams > 1:
            return beam_search(step, decoder_prompt, mask, max_new_tokens, num_beams, eos_token_id, pad_token_id,
                               length_penalty=length_penalty, early_stopping=early_stopping, rule=rule,
                               use_cache=use_cache)
        pad = pad_token_id if pad_token_id is not None else (eos_token_id if eos_token_id is not None else 0)
        return decode(step, decoder_prompt, mask, max_new_tokens, choose_next_tokens, eos_token_id, pad,
                      use_cache=use_cache, rule=rule)
