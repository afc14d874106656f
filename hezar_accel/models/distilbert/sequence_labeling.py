"""DistilBERT for sequence labeling, weight- and config-compatible with Hezar's ``DistilBertSequenceLabeling``:
``distilbert.*`` + ``classifier`` on every token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..bert.encoder import init_bert_weights
from ..labels import with_label_fields
from ..tasks.sequence_labeling import SequenceLabelingModel
from .common import DistilBertTaskConfig
from .encoder import DistilBertEncoder

__all__ = ["DistilBertSequenceLabelingConfig", "DistilBertSequenceLabeling"]


@dataclass
class DistilBertSequenceLabelingConfig(DistilBertTaskConfig):
    """Config of :class:`DistilBertSequenceLabeling`: Hezar's fields and defaults (see ``DistilBertEncoderConfig``).

    Hezar's config has no ``hidden_dim``: Hezar always builds this model with 🤗's default feed-forward width 3072,
    so a folder saved here with another ``hidden_dim`` does not load in Hezar (docs/HEZAR_COMPAT.md).

    Args:
        hidden_dropout_prob: dropout before the classifier when ``classifier_dropout`` is None.
        classifier_dropout: dropout before the classifier; None = ``hidden_dropout_prob``.
        use_cache: kept for Hezar; no effect on an encoder.
        prediction_skip_tokens: Hezar's list of tokens its ``post_process`` leaves out; predictions here are per
            input word, so special tokens never appear in them anyway.
    """

    name: str = "distilbert_sequence_labeling"
    task: str = TaskType.SEQUENCE_LABELING.value
    hidden_dropout_prob: float = 0.1
    use_cache: bool = True
    classifier_dropout: float | None = None
    prediction_skip_tokens: list = field(default_factory=lambda: ["[SEP]", "[CLS]"])

    probability_fields: ClassVar[tuple[str, ...]] = (*DistilBertTaskConfig.probability_fields, "hidden_dropout_prob",
                                                     "classifier_dropout")

    def saved_dict(self) -> dict:
        """Always write both ``num_labels`` and ``id2label``: Hezar's DistilBertSequenceLabelingConfig requires both."""
        return with_label_fields(super().saved_dict(), id2label_too=True)


@register_model("distilbert_sequence_labeling", DistilBertSequenceLabelingConfig)
class DistilBertSequenceLabeling(SequenceLabelingModel):
    """A DistilBERT encoder with a linear classifier on every token.

    Args:
        config: the model config; never mutated.
    """

    encoder_prefix = "distilbert."

    def __init__(self, config: DistilBertSequenceLabelingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.distilbert = DistilBertEncoder(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.dim, self.num_labels)
        init_bert_weights(self.classifier, config.initializer_range)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **kwargs) -> dict[str, Any]:
        """Tag every token of a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            **kwargs: ``word_ids``/``words`` from ``preprocess`` pass through for ``post_process``; others (e.g.
                ``token_type_ids``, ``labels``) are ignored.

        Returns:
            ``{"logits": (batch, seq_len, num_labels)}`` plus ``word_ids``/``words`` when given.
        """
        hidden_states = self.distilbert(token_ids, attention_mask=attention_mask)
        return self.tag_outputs(self.classifier(self.dropout(hidden_states)), kwargs)
