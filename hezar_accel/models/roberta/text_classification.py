"""RoBERTa for text classification, weight- and config-compatible with Hezar's ``RobertaTextClassification``:
``roberta.*`` (🤗 ``RobertaModel`` names, no pooler) + ``classifier.dense``/``classifier.out_proj`` on ``<s>``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...constants import TaskType
from ...registry import register_model
from ..tasks.text_classification import TextClassificationModel
from .common import RobertaTaskConfig
from .encoder import RobertaWithHead

__all__ = ["RobertaTextClassificationConfig", "RobertaTextClassification"]


@dataclass
class RobertaTextClassificationConfig(RobertaTaskConfig):
    """Config of :class:`RobertaTextClassification`: Hezar's fields and defaults (see ``RobertaEncoderConfig``)."""

    name: str = "roberta_text_classification"
    task: str = TaskType.TEXT_CLASSIFICATION.value


@register_model("roberta_text_classification", RobertaTextClassificationConfig)
class RobertaTextClassification(RobertaWithHead, TextClassificationModel):
    """A RoBERTa encoder with Hezar's two-layer classification head on the first (``<s>``) token.

    Args:
        config: the model config; never mutated.
    """

    def __init__(self, config: RobertaTextClassificationConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.build_roberta(config, first_token_only=True)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Classify a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids, padded with ``pad_token_id`` (positions are derived from it).
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            token_type_ids: ``(batch, seq_len)`` segment ids (all 0 for RoBERTa).
            **kwargs: ignored (e.g. ``labels`` from a collated batch).

        Returns:
            ``{"logits": (batch, num_labels)}``.
        """
        return {"logits": self.classify(token_ids, attention_mask, token_type_ids)}
