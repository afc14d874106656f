"""RoBERTa for sequence labeling, weight- and config-compatible with Hezar's ``RobertaSequenceLabeling``:
``roberta.*`` + Hezar's two-layer head (``classifier.dense``/``classifier.out_proj``) on every token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...constants import TaskType
from ...registry import register_model
from ..labels import with_label_fields
from ..tasks.sequence_labeling import SequenceLabelingModel
from .common import RobertaTaskConfig
from .encoder import RobertaWithHead

__all__ = ["RobertaSequenceLabelingConfig", "RobertaSequenceLabeling"]


@dataclass
class RobertaSequenceLabelingConfig(RobertaTaskConfig):
    """Config of :class:`RobertaSequenceLabeling`: Hezar's fields and defaults (see ``RobertaEncoderConfig``).

    Args:
        prediction_skip_tokens: Hezar's list of tokens its ``post_process`` leaves out (Hezar's default
            ``("<s>", "</s>, <pad>")`` has a typo, mended here). Predictions here are per input word, so special
            tokens never appear in them anyway.
    """

    name: str = "roberta_sequence_labeling"
    task: str = TaskType.SEQUENCE_LABELING.value
    prediction_skip_tokens: list = field(default_factory=lambda: ["<s>", "</s>", "<pad>"])

    def saved_dict(self) -> dict:
        """Always write ``num_labels`` (from ``id2label`` when unset), as Hezar's BERT tagger needs it too."""
        return with_label_fields(super().saved_dict())


@register_model("roberta_sequence_labeling", RobertaSequenceLabelingConfig)
class RobertaSequenceLabeling(RobertaWithHead, SequenceLabelingModel):
    """A RoBERTa encoder with Hezar's classification head applied to every token.

    Args:
        config: the model config; never mutated.
    """

    def __init__(self, config: RobertaSequenceLabelingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.build_roberta(config, first_token_only=False)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **kwargs) -> dict[str, Any]:
        """Tag every token of a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids, padded with ``pad_token_id``.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            token_type_ids: ``(batch, seq_len)`` segment ids (all 0 for RoBERTa).
            **kwargs: ``word_ids``/``words`` from ``preprocess`` pass through for ``post_process``; others are ignored.

        Returns:
            ``{"logits": (batch, seq_len, num_labels)}`` plus ``word_ids``/``words`` when given.
        """
        return self.tag_outputs(self.classify(token_ids, attention_mask, token_type_ids), kwargs)
