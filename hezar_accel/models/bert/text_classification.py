"""BERT for text (and sentence-pair) classification, weight- and config-compatible with Hezar's
``BertTextClassification``: ``bert.*`` (🤗 ``BertModel`` names) + ``classifier.weight/bias``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..tasks.text_classification import TextClassificationModel
from .common import POSITION_IDS_KEYS, BertTaskConfig
from .encoder import BertEncoder, init_bert_weights

__all__ = ["BertTextClassificationConfig", "BertTextClassification"]


@dataclass
class BertTextClassificationConfig(BertTaskConfig):
    """Config of :class:`BertTextClassification`: Hezar's fields and defaults (see ``BertTaskConfig``)."""

    name: str = "bert_text_classification"
    task: str = TaskType.TEXT_CLASSIFICATION.value


@register_model("bert_text_classification", BertTextClassificationConfig)
class BertTextClassification(TextClassificationModel):
    """A BERT encoder with a linear classifier on the pooled [CLS] output.

    Args:
        config: the model config; never mutated (the label count comes from ``resolve_num_labels``).
    """

    skip_keys_on_load = POSITION_IDS_KEYS
    encoder_prefix = "bert."

    def __init__(self, config: BertTextClassificationConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.bert = BertEncoder(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)
        init_bert_weights(self.classifier, config.initializer_range)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Classify a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            token_type_ids: ``(batch, seq_len)`` segment ids for sentence pairs.
            **kwargs: ignored (e.g. ``labels`` from a collated batch).

        Returns:
            ``{"logits": (batch, num_labels)}``.
        """
        _, pooled = self.bert(token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return {"logits": self.classifier(self.dropout(pooled))}
