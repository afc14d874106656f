"""RoBERTa masked-LM (mask filling), weight- and config-compatible with Hezar's ``RobertaMaskFilling``.

Hezar wraps 🤗 ``RobertaForMaskedLM`` as ``self.roberta_mask_filling``: keys ``roberta_mask_filling.roberta.*`` (no
pooler) and ``roberta_mask_filling.lm_head.*`` (decoder tied to the word embeddings, its bias to ``lm_head.bias``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..bert.encoder import init_bert_weights
from ..bert.mask_filling import tie_decoder
from ..tasks.mask_filling import MaskFillingModel
from .common import RobertaEncoderConfig
from .encoder import RobertaEncoder

__all__ = ["RobertaMaskFillingConfig", "RobertaMaskFilling", "RobertaForMaskedLM", "RobertaLMHead"]


@dataclass
class RobertaMaskFillingConfig(RobertaEncoderConfig):
    """Config of :class:`RobertaMaskFilling`: Hezar's ``RobertaMaskFillingConfig`` fields and defaults (see
    ``RobertaEncoderConfig``); ``classifier_dropout`` is accepted and unused."""

    name: str = "roberta_mask_filling"
    task: str = TaskType.MASK_FILLING.value


class RobertaLMHead(nn.Module):
    """🤗 ``RobertaLMHead``: ``dense``, exact GELU (whatever ``hidden_act`` says, as in 🤗), ``layer_norm``,
    ``decoder``."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.layer_norm(F.gelu(self.dense(features))))


class RobertaForMaskedLM(nn.Module):
    """🤗 ``RobertaForMaskedLM``'s module tree: ``roberta`` and ``lm_head``, whose decoder is tied to the word
    embeddings. 🤗's ``RobertaForCausalLM`` has the same tree with a decoder body (``body_class``)."""

    body_class = RobertaEncoder

    def __init__(self, config: RobertaMaskFillingConfig):
        super().__init__()
        self.roberta = self.body_class(config)
        self.lm_head = RobertaLMHead(config)
        self.lm_head.apply(lambda m: init_bert_weights(m, config.initializer_range))
        tie_decoder(self.lm_head.decoder, self.roberta.embeddings.word_embeddings, self.lm_head.bias)

    def forward(self, token_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        sequence_output, _ = self.roberta(token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.lm_head(sequence_output)


@register_model("roberta_mask_filling", RobertaMaskFillingConfig)
class RobertaMaskFilling(MaskFillingModel):
    """A RoBERTa encoder with the masked-LM head: vocabulary logits at every position.

    Its encoder is stored under ``roberta_mask_filling.roberta.``; ``init_weights_from`` a folder of it loads the
    encoder of a ``roberta_text_classification``/``roberta_sequence_labeling`` (``roberta.``).

    Args:
        config: the model config; never mutated.
    """

    tokenizer_name = "bpe_tokenizer"
    encoder_prefix = "roberta_mask_filling.roberta."
    skip_keys_on_load = ["roberta_mask_filling.roberta.embeddings.position_ids", "model.embeddings.position_ids",
                         "roberta.embeddings.position_ids"]

    def __init__(self, config: RobertaMaskFillingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.roberta_mask_filling = RobertaForMaskedLM(config)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Score every vocabulary entry at every position.

        Args:
            token_ids: ``(batch, seq_len)`` token ids (masked ones included), padded with ``pad_token_id``.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            token_type_ids: ``(batch, seq_len)`` segment ids (all 0 for RoBERTa).
            **kwargs: ignored (e.g. ``labels`` from a collated batch).

        Returns:
            ``{"logits": (batch, seq_len, vocab_size), "token_ids": token_ids}``.
        """
        logits = self.roberta_mask_filling(token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.fill_outputs(logits, token_ids)
