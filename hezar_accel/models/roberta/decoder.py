"""RoBERTa as the decoder of an encoder-decoder model: 🤗 ``RobertaForCausalLM`` with ``is_decoder`` and
``add_cross_attention``, in pure torch and under 🤗's parameter names.

The body is :class:`~hezar_accel.models.roberta.encoder.RobertaEncoder`'s (embeddings, BERT layers) with each layer's
``crossattention`` built (``roberta.encoder.layer.<i>.crossattention.self.query`` ...) and run through
:meth:`~hezar_accel.models.bert.encoder.BertLayer.decode`: causal self-attention with a key/value cache, then
attention over the encoder's states. The head is the masked LM's (``lm_head``, tied to the word embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...configs import ConfigBlock
from ..bert.encoder import KeyValues, attention_bias
from .common import RobertaEncoderConfig
from .encoder import RobertaEncoder
from .mask_filling import RobertaForMaskedLM

__all__ = ["RobertaDecoderConfig", "RobertaDecoder", "RobertaForCausalLM", "causal_bias"]

# Per layer: (self-attention keys/values, cross-attention keys/values).
DecoderCache = tuple[tuple[KeyValues, KeyValues], ...]


@dataclass
class RobertaDecoderConfig(ConfigBlock, RobertaEncoderConfig):
    """A decoder block (Hezar's ``decoder:`` mapping): 🤗 ``RobertaConfig``'s fields with 🤗's defaults, because
    Hezar passes the mapping to ``RobertaConfig`` as it is, so a key the file leaves out takes 🤗's default.

    Args:
        vocab_size: 50265 (🤗's default; Hezar's own image-to-text defaults write 42000).
        max_position_embeddings: rows of the position table; positions start after ``pad_token_id``, so a
            sequence (decoder start token included) has at most ``max_position_embeddings - pad_token_id - 1``
            tokens.
        type_vocab_size: 2 (🤗's default; every token uses row 0).
        is_decoder, add_cross_attention: must both be true for an image-to-text decoder: 🤗's defaults (false)
            build an encoder that never sees the image. The enclosing config checks them.
        tie_word_embeddings: the LM head's weight is the word table (only true is implemented).
        (Other fields: see ``RobertaEncoderConfig``; ``use_cache`` is the default of ``generate(use_cache=...)``.)
    """

    vocab_size: int = 50265
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    is_decoder: bool = False
    add_cross_attention: bool = False
    tie_word_embeddings: bool = True


def causal_bias(query_length: int, past_length: int, attention_mask: torch.Tensor | None, dtype: torch.dtype,
                device: torch.device) -> torch.Tensor | None:
    """The additive self-attention bias of ``query_length`` new decoder positions after ``past_length`` cached ones.

    Position ``past_length + i`` sees keys ``0 .. past_length + i``; with ``attention_mask`` ``(batch, past + new)``,
    padded keys are hidden too. None when nothing is hidden (one new token, no mask): attention then runs unmasked.
    """
    if attention_mask is None and query_length == 1:  # one new position sees every key
        return None
    keys = past_length + query_length
    allowed = torch.ones(query_length, keys, dtype=torch.bool, device=device).tril(diagonal=past_length)
    low = torch.finfo(dtype).min
    bias = torch.zeros(query_length, keys, dtype=dtype, device=device).masked_fill(~allowed, low)[None, None]
    if attention_mask is not None:
        # Clamped: two minima add up to -inf, and a row of -inf turns softmax into NaN.
        bias = (bias + attention_bias(attention_mask, dtype)).clamp(min=low)
    return bias


class RobertaDecoder(RobertaEncoder):
    """🤗 ``RobertaModel(add_pooling_layer=False)`` configured as a decoder with cross-attention.

    Args:
        config: a :class:`RobertaDecoderConfig`; read, never changed.
    """

    cross_attention = True

    def decode(self, token_ids: torch.Tensor, encoder_states: torch.Tensor,
               attention_mask: torch.Tensor | None = None,
               past: DecoderCache | None = None) -> tuple[torch.Tensor, DecoderCache]:
        """Run the decoder on new token ids after the cached ones.

        Args:
            token_ids: ``(batch, new)`` decoder ids.
            encoder_states: ``(batch, source, hidden_size)`` (already projected to the decoder's width).
            attention_mask: ``(batch, past + new)``, 1 on real decoder tokens; None = all real (as 🤗's generate).
            past: the cache returned by the previous call, or None.

        Returns:
            ``(states (batch, new, hidden_size), cache)``.

        Raises:
            ValueError: past + new tokens exceed the position table.
        """
        past_length = 0 if past is None else past[0][0][0].shape[1]
        hidden = self.embeddings(token_ids, past_length=past_length)
        bias = causal_bias(token_ids.shape[1], past_length, attention_mask, hidden.dtype, hidden.device)
        presents = []
        for index, layer in enumerate(self.encoder.layer):
            hidden, cache = layer.decode(hidden, bias, encoder_states, past[index] if past is not None else None)
            presents.append(cache)
        return hidden, tuple(presents)


class RobertaForCausalLM(RobertaForMaskedLM):
    """🤗 ``RobertaForCausalLM``'s module tree (``roberta`` + ``lm_head``) with a decoder body.

    Args:
        config: a :class:`RobertaDecoderConfig`.
    """

    body_class = RobertaDecoder

    def forward(self, token_ids: torch.Tensor, encoder_states: torch.Tensor,
                attention_mask: torch.Tensor | None = None,
                past: DecoderCache | None = None) -> tuple[torch.Tensor, DecoderCache]:
        """Vocabulary logits ``(batch, new, vocab_size)`` of the new positions and the updated cache (see
        :meth:`RobertaDecoder.decode`)."""
        states, presents = self.roberta.decode(token_ids, encoder_states, attention_mask=attention_mask, past=past)
        return self.lm_head(states), presents
