"""BERT for sequence labeling (NER, POS), weight- and config-compatible with Hezar's ``BertSequenceLabeling``:
``bert.*`` (🤗 ``BertModel`` names, pooler included) + ``classifier.weight/bias``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..model import Model
from .common import POSITION_IDS_KEYS, BertTaskConfig, find_tokenizer, label_name, resolve_num_labels
from .encoder import BertEncoder, init_bert_weights

__all__ = ["BertSequenceLabelingConfig", "BertSequenceLabeling"]

IGNORE_INDEX = -100


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
        data = super().saved_dict()
        if data.get("num_labels") is None and self.id2label:
            data["num_labels"] = len(self.id2label)
        return data


@register_model("bert_sequence_labeling", BertSequenceLabelingConfig)
class BertSequenceLabeling(Model):
    """A BERT encoder with a linear classifier on every token.

    The pooler is kept (Hezar's checkpoints have it) but frozen: its output is unused, and a trainable parameter that
    gets no gradient would make DDP fail at the first step.

    Args:
        config: the model config; never mutated.
    """

    loss_reduction = "token_mean"

    tokenizer_name = "wordpiece_tokenizer"
    skip_keys_on_load = POSITION_IDS_KEYS

    def __init__(self, config: BertSequenceLabelingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.num_labels = resolve_num_labels(config)
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
        outputs = {"logits": self.classifier(self.dropout(sequence_output))}
        outputs.update({k: kwargs[k] for k in ("word_ids", "words") if k in kwargs})
        return outputs

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean token cross-entropy; positions labelled -100 (special tokens, padding, later sub-tokens) are ignored."""
        return F.cross_entropy(logits.reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=IGNORE_INDEX)

    def preprocess(self, inputs: str | list[str] | list[list[str]], **kwargs) -> dict[str, Any]:
        """Tokenize words for tagging.

        Args:
            inputs: a raw string (split on whitespace), a list of raw strings (when any contains whitespace), a list of
                words (one sentence), or a list of word lists (a batch).
            **kwargs: passed to the tokenizer (e.g. ``max_length``).

        Returns:
            Tensors ``token_ids``, ``attention_mask``, ``token_type_ids`` on the model's device, plus ``word_ids`` (per
            token: the word index or None) and ``words`` (the word lists) for ``post_process``.

        Raises:
            ValueError: no tokenizer is attached to the model.
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        words = _as_word_lists(inputs)
        options = {"padding": "longest", **kwargs}
        batch = tokenizer(words, is_split_into_words=True, return_word_ids=True, return_tensors="pt",
                          device=self.device, **options)
        batch["words"] = words
        return batch

    def post_process(self, model_outputs: dict, **kwargs) -> list[list[dict]]:
        """Label each input word with the prediction of its first sub-token.

        Args:
            model_outputs: ``forward`` output holding ``logits``, ``word_ids`` and ``words``.

        Returns:
            Per input, a list of ``{"token": word, "label": tag, "score": float}``. Words cut off by truncation are left
            out.
        """
        probs = model_outputs["logits"].float().softmax(-1).cpu()
        scores, indices = probs.max(-1)
        results = []
        for row, (word_ids, words) in enumerate(zip(model_outputs["word_ids"], model_outputs["words"])):
            first_token = {}
            for position, word_id in enumerate(word_ids):
                if word_id is not None and word_id not in first_token:
                    first_token[word_id] = position
            results.append([
                {"token": words[w], "label": label_name(self.config, int(indices[row, p])),
                 "score": float(scores[row, p])}
                for w, p in sorted(first_token.items())
            ])
        return results


def _as_word_lists(inputs: str | list) -> list[list[str]]:
    if isinstance(inputs, str):
        return [inputs.split()]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError(f"Expected a string, a list of words or a list of word lists, got {inputs!r}")
    if all(isinstance(x, str) for x in inputs):
        if any(len(x.split()) != 1 for x in inputs):
            return [x.split() for x in inputs]
        return [list(inputs)]
    return [list(x) if not isinstance(x, str) else x.split() for x in inputs]
