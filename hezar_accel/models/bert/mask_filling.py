"""BERT masked-LM (mask filling), weight- and config-compatible with Hezar's ``BertMaskFilling``.

Hezar wraps 🤗 ``BertForMaskedLM`` as ``self.bert_mask_filling``, so the keys are ``bert_mask_filling.bert.*`` (a
``BertModel`` without pooler) and ``bert_mask_filling.cls.predictions.*`` (the LM head, its decoder tied to the word
embeddings and its bias to ``predictions.bias``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..tasks.mask_filling import MaskFillingModel
from .common import BertEncoderConfig
from .encoder import ACTIVATIONS, BertEncoder, init_bert_weights

__all__ = ["BertMaskFillingConfig", "BertMaskFilling", "tie_decoder"]


def tie_decoder(decoder: nn.Linear, word_embeddings: nn.Embedding, bias: nn.Parameter | None = None) -> None:
    """Share the output projection's weight with the input word table (and its bias with ``bias``), as 🤗's
    ``tie_weights`` does: one tensor, updated once per step, saved under both names."""
    decoder.weight = word_embeddings.weight
    if bias is not None:
        decoder.bias = bias


@dataclass
class BertMaskFillingConfig(BertEncoderConfig):
    """Config of :class:`BertMaskFilling`: Hezar's ``BertMaskFillingConfig`` fields and defaults (the BERT fields,
    see ``BertEncoderConfig``); ``classifier_dropout`` is kept for Hezar and unused."""

    name: str = "bert_mask_filling"
    task: str = TaskType.MASK_FILLING.value


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACTIVATIONS[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)


class BertForMaskedLM(nn.Module):
    """🤗 ``BertForMaskedLM``'s module tree: ``bert`` (no pooler) and ``cls.predictions``."""

    def __init__(self, config: BertMaskFillingConfig):
        super().__init__()
        self.bert = BertEncoder(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.cls.apply(lambda m: init_bert_weights(m, config.initializer_range))
        predictions = self.cls.predictions
        tie_decoder(predictions.decoder, self.bert.embeddings.word_embeddings, predictions.bias)

    def forward(self, token_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        sequence_output, _ = self.bert(token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.cls.predictions(sequence_output)


@register_model("bert_mask_filling", BertMaskFillingConfig)
class BertMaskFilling(MaskFillingModel):
    """A BERT encoder with the masked-LM head: vocabulary logits at every position.

    Its encoder is stored under ``bert_mask_filling.bert.``; ``init_weights_from`` a folder of it into a
    ``bert_text_classification`` (encoder ``bert.``) loads the encoder (see ``Model.load_matching_weights``).

    Args:
        config: the model config; never mutated.
    """

    tokenizer_name = "wordpiece_tokenizer"
    encoder_prefix = "bert_mask_filling.bert."
    skip_keys_on_load = ["bert_mask_filling.bert.embeddings.position_ids", "model.embeddings.position_ids",
                         "bert.embeddings.position_ids"]

    def __init__(self, config: BertMaskFillingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.bert_mask_filling = BertForMaskedLM(config)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Score every vocabulary entry at every position.

        Args:
            token_ids: ``(batch, seq_len)`` token ids (masked ones included).
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            token_type_ids: ``(batch, seq_len)`` segment ids.
            **kwargs: ignored (e.g. ``labels`` from a collated batch).

        Returns:
            ``{"logits": (batch, seq_len, vocab_size), "token_ids": token_ids}``.
        """
        logits = self.bert_mask_filling(token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.fill_outputs(logits, token_ids)
