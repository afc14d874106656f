"""DistilBERT masked-LM (mask filling), weight- and config-compatible with Hezar's ``DistilBertMaskFilling``.

Hezar wraps 🤗 ``DistilBertForMaskedLM`` as ``self.distilbert_mask_filling``: keys
``distilbert_mask_filling.distilbert.*`` and ``distilbert_mask_filling.vocab_{transform,layer_norm,projector}.*``
(the projector's weight tied to the word embeddings; its bias is its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..bert.encoder import ACTIVATIONS, init_bert_weights
from ..bert.mask_filling import tie_decoder
from ..tasks.mask_filling import MaskFillingModel
from .common import DISTILBERT_LAYER_NORM_EPS, DistilBertEncoderConfig
from .encoder import DistilBertEncoder

__all__ = ["DistilBertMaskFillingConfig", "DistilBertMaskFilling"]


@dataclass
class DistilBertMaskFillingConfig(DistilBertEncoderConfig):
    """Config of :class:`DistilBertMaskFilling`: Hezar's fields and defaults (see ``DistilBertEncoderConfig``)."""

    name: str = "distilbert_mask_filling"
    task: str = TaskType.MASK_FILLING.value


class DistilBertForMaskedLM(nn.Module):
    """🤗 ``DistilBertForMaskedLM``'s module tree: ``distilbert``, ``vocab_transform``, ``vocab_layer_norm``,
    ``vocab_projector``."""

    def __init__(self, config: DistilBertMaskFillingConfig):
        super().__init__()
        self.activation = ACTIVATIONS[config.activation]
        self.distilbert = DistilBertEncoder(config)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=DISTILBERT_LAYER_NORM_EPS)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)
        for layer in (self.vocab_transform, self.vocab_layer_norm, self.vocab_projector):
            init_bert_weights(layer, config.initializer_range)
        tie_decoder(self.vocab_projector, self.distilbert.embeddings.word_embeddings)

    def forward(self, token_ids, attention_mask=None) -> torch.Tensor:
        hidden_states = self.distilbert(token_ids, attention_mask=attention_mask)
        return self.vocab_projector(self.vocab_layer_norm(self.activation(self.vocab_transform(hidden_states))))


@register_model("distilbert_mask_filling", DistilBertMaskFillingConfig)
class DistilBertMaskFilling(MaskFillingModel):
    """A DistilBERT encoder with the masked-LM head: vocabulary logits at every position.

    Its encoder is stored under ``distilbert_mask_filling.distilbert.``; ``init_weights_from`` a folder of it loads
    the encoder of a ``distilbert_text_classification``/``distilbert_sequence_labeling`` (``distilbert.``).

    Args:
        config: the model config; never mutated.
    """

    tokenizer_name = "wordpiece_tokenizer"
    encoder_prefix = "distilbert_mask_filling.distilbert."

    def __init__(self, config: DistilBertMaskFillingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.distilbert_mask_filling = DistilBertForMaskedLM(config)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **kwargs) -> dict[str, torch.Tensor]:
        """Score every vocabulary entry at every position.

        Args:
            token_ids: ``(batch, seq_len)`` token ids (masked ones included).
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            **kwargs: ignored (``token_type_ids``: DistilBERT has no segments; ``labels`` from a collated batch).

        Returns:
            ``{"logits": (batch, seq_len, vocab_size), "token_ids": token_ids}``.
        """
        logits = self.distilbert_mask_filling(token_ids, attention_mask=attention_mask)
        return self.fill_outputs(logits, token_ids)
