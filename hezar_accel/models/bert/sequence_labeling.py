"""BERT for sequence labeling (NER, POS), weight- and config-compatible with Hezar's ``BertSequenceLabeling``:
``bert.*`` (🤗 ``BertModel`` names, pooler included) + ``classifier.weight/bias``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..labels import with_label_fields
from ..tasks.sequence_labeling import SequenceLabelingModel
from .common import POSITION_IDS_KEYS, BertTaskConfig
from .encoder import BertEncoder, init_bert_weights

__all__ = ["BertSequenceLabelingConfig", "BertSequenceLabeling"]


@dataclass
class BertSequenceLabelingConfig(BertTaskConfig):
    """Config of :class:`BertSequenceLabeling`: Hezar's fields and defaults (see ``BertTaskConfig``).

    Args:
        prediction_skip_tokens: Hezar's list of tokens left out of predictions; kept so Hezar configs load. Predictions
            here are per input word, so special tokens never appear in them anyway.
    """

    name: str = "bert_sequence_labeling"
    task: str = TaskType.SEQUENCE_LABELING.value
    prediction_skip_tokens: list = field(default_factory=lambda: ["[SEP]", "[CLS]"])

    def saved_dict(self) -> dict:
        """Always write ``num_labels`` (from ``id2label`` when unset): Hezar's BertSequenceLabelingConfig requires it."""
        return with_label_fields(super().saved_dict())


@register_model("bert_sequence_labeling", BertSequenceLabelingConfig)
class BertSequenceLabeling(SequenceLabelingModel):
    """A BERT encoder with a linear classifier on every token.

    The pooler is kept (Hezar's checkpoints have it) but frozen: its output is unused, and a trainable parameter that
    gets no gradient would make DDP fail at the first step.

    Args:
        config: the model config; never mutated.
    """

    skip_keys_on_load = POSITION_IDS_KEYS
    encoder_prefix = "bert."

    def __init__(self, config: BertSequenceLabelingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.bert = BertEncoder(config)
        self.bert.pooler.requires_grad_(False)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)
        init_bert_weights(self.classifier, config.initializer_range)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **kwargs) -> dict[str, Any]:
        """Tag every token of a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            token_type_ids: ``(batch, seq_len)`` segment ids.
            **kwargs: ``word_ids`` and ``words`` (from ``preprocess``) are passed through to the output for
                ``post_process``; anything else (e.g. ``labels``) is ignored.

        Returns:
            ``{"logits": (batch, seq_len, num_labels)}`` plus ``word_ids``/``words`` when given.
        """
        sequence_output, _ = self.bert(token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.tag_outputs(self.classifier(self.dropout(sequence_output)), kwargs)
