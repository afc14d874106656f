"""DistilBERT for text classification, weight- and config-compatible with Hezar's ``DistilBertTextClassification``:
``distilbert.*`` (🤗 ``DistilBertModel`` names) + ``pre_classifier`` + ``classifier`` on the first token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..bert.encoder import init_bert_weights
from ..tasks.text_classification import TextClassificationModel
from .common import DistilBertTaskConfig
from .encoder import DistilBertEncoder

__all__ = ["DistilBertTextClassificationConfig", "DistilBertTextClassification"]


@dataclass
class DistilBertTextClassificationConfig(DistilBertTaskConfig):
    """Config of :class:`DistilBertTextClassification`: Hezar's fields and defaults (see ``DistilBertEncoderConfig``).

    Args:
        seq_classif_dropout: dropout before the classifier.
    """

    name: str = "distilbert_text_classification"
    task: str = TaskType.TEXT_CLASSIFICATION.value
    seq_classif_dropout: float = 0.2

    probability_fields: ClassVar[tuple[str, ...]] = (*DistilBertTaskConfig.probability_fields, "seq_classif_dropout")


@register_model("distilbert_text_classification", DistilBertTextClassificationConfig)
class DistilBertTextClassification(TextClassificationModel):
    """A DistilBERT encoder, then on the first ([CLS]) token: ``pre_classifier``, ReLU, dropout, ``classifier``.

    Args:
        config: the model config; never mutated.
    """

    encoder_prefix = "distilbert."

    def __init__(self, config: DistilBertTextClassificationConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.distilbert = DistilBertEncoder(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, self.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        for layer in (self.pre_classifier, self.classifier):
            init_bert_weights(layer, config.initializer_range)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **kwargs) -> dict[str, torch.Tensor]:
        """Classify a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            **kwargs: ignored (``token_type_ids``: DistilBERT has no segments; ``labels`` from a collated batch).

        Returns:
            ``{"logits": (batch, num_labels)}``.
        """
        first = self.distilbert(token_ids, attention_mask=attention_mask)[:, 0]
        return {"logits": self.classifier(self.dropout(F.relu(self.pre_classifier(first))))}
