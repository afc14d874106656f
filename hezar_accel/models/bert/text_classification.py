"""BERT for text (and sentence-pair) classification, weight- and config-compatible with Hezar's
``BertTextClassification``: ``bert.*`` (🤗 ``BertModel`` names) + ``classifier.weight/bias``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..model import Model
from .common import POSITION_IDS_KEYS, BertTaskConfig, find_tokenizer, label_name, resolve_num_labels
from .encoder import BertEncoder, init_bert_weights

__all__ = ["BertTextClassificationConfig", "BertTextClassification"]

@dataclass
class BertTextClassificationConfig(BertTaskConfig):
    """Config of :class:`BertTextClassification`: Hezar's fields and defaults (see ``BertTaskConfig``)."""

    name: str = "bert_text_classification"
    task: str = TaskType.TEXT_CLASSIFICATION.value


@register_model("bert_text_classification", BertTextClassificationConfig)
class BertTextClassification(Model):
    """A BERT encoder with a linear classifier on the pooled [CLS] output.

    Args:
        config: the model config; never mutated (the label count comes from ``resolve_num_labels``).
    """

    tokenizer_name = "wordpiece_tokenizer"
    skip_keys_on_load = POSITION_IDS_KEYS

    def __init__(self, config: BertTextClassificationConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.num_labels = resolve_num_labels(config)
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

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean cross-entropy of ``(batch, num_labels)`` logits against ``(batch,)`` class indices."""
        return F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))

    def preprocess(self, inputs: str | list[str] | list[tuple[str, str]], **kwargs) -> dict[str, torch.Tensor]:
        """Tokenize raw texts (or ``(text, text_pair)`` tuples) into padded tensors on the model's device.

        Args:
            inputs: one text, a list of texts, or a list of text pairs.
            **kwargs: passed to the tokenizer (e.g. ``max_length``).

        Returns:
            ``token_ids``, ``attention_mask`` and ``token_type_ids`` tensors.

        Raises:
            ValueError: no tokenizer is attached to the model.
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        if isinstance(inputs, (str, tuple)):
            inputs = [inputs]
        options = {"padding": "longest", **kwargs}
        return tokenizer(inputs, return_tensors="pt", device=self.device, **options)

    def post_process(self, model_outputs: dict, return_all_scores: bool = False, **kwargs) -> list:
        """Turn logits into Hezar-style predictions.

        Args:
            model_outputs: the ``forward`` output.
            return_all_scores: give every label's probability instead of only the best one.

        Returns:
            One entry per input: ``{"label": ..., "score": float}``, or with ``return_all_scores`` a list of such dicts
            (one per label, in class-index order).
        """
        probs = model_outputs["logits"].float().softmax(-1).cpu()
        if return_all_scores:
            return [
                [{"label": label_name(self.config, i), "score": float(p)} for i, p in enumerate(row.tolist())]
                for row in probs
            ]
        scores, indices = probs.max(-1)
        return [
            {"label": label_name(self.config, int(i)), "score": float(s)}
            for s, i in zip(scores.tolist(), indices.tolist())
        ]
