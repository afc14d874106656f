"""BERT for sequence labeling (NER, POS), weight- and config-compatible with Hezar's ``BertSequenceLabeling``:
``bert.*`` (🤗 ``BertModel`` names, pooler included) + ``classifier.weight/bias``.

Optional and off by default: a character CNN over each token's word (``char_cnn_filters``). Its features enter twice:
projected and added to the token embeddings, so the layers put a word's shape in context (an unseen word after a
preposition, before a verb), and concatenated to the encoder output, so the classifier reads them directly. With it
on, the folder has ``char_cnn.*`` and ``char_projection.*`` tensors and a wider classifier, and is no longer one Hezar
can load (Hezar has no such modules); with it off, nothing changes. ``word_dropout`` (off by default) hides random
tokens' ids in training, so the tagger learns to rely on characters and context, as for unseen words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...constants import TaskType
from ...registry import register_model
from ..labels import with_label_fields
from ..tasks.char_cnn import CharCNN, CharCNNConfig, drop_words
from ..tasks.sequence_labeling import SequenceLabelingModel
from .common import POSITION_IDS_KEYS, BertTaskConfig
from .encoder import BertEncoder, init_bert_weights

__all__ = ["BertSequenceLabelingConfig", "BertSequenceLabeling"]


@dataclass
class BertSequenceLabelingConfig(CharCNNConfig, BertTaskConfig):
    """Config of :class:`BertSequenceLabeling`: Hezar's fields and defaults (see ``BertTaskConfig``), plus the
    optional character CNN (:class:`~hezar_accel.models.tasks.char_cnn.CharCNNConfig`, off by default).

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
        # Built before the classifier, so that with the option off the RNG draws (and the initial weights) are the
        # ones the model always had.
        self.char_cnn = CharCNN(config) if config.uses_word_chars else None
        self.char_projection = None
        if self.char_cnn is not None:
            self.char_projection = nn.Linear(self.char_cnn.output_size, config.hidden_size)
            init_bert_weights(self.char_projection, config.initializer_range)  # small: the encoder starts as without
        width = config.hidden_size + (self.char_cnn.output_size if self.char_cnn is not None else 0)
        self.classifier = nn.Linear(width, self.num_labels)
        init_bert_weights(self.classifier, config.initializer_range)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, word_chars: torch.Tensor | None = None,
                **kwargs) -> dict[str, Any]:
        """Tag every token of a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens.
            token_type_ids: ``(batch, seq_len)`` segment ids.
            word_chars: ``(batch, seq_len, max_word_chars)`` character codes of each token's word; required with
                the character CNN, ignored without it.
            **kwargs: ``word_ids`` and ``words`` (from ``preprocess``) are passed through to the output for
                ``post_process``; anything else (e.g. ``labels``) is ignored.

        Returns:
            ``{"logits": (batch, seq_len, num_labels)}`` plus ``word_ids``/``words`` when given.

        Raises:
            ValueError: the character CNN is on and ``word_chars`` is missing or shaped unlike ``token_ids``.
        """
        chars = None
        if self.char_cnn is not None:
            chars = self.char_cnn(self.checked_word_chars(word_chars, token_ids))
        embedded_ids = drop_words(token_ids, self.config.word_dropout, self.config.pad_token_id, self.training)
        sequence_output, _ = self.bert(embedded_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                       extra_embeddings=self.char_projection(chars) if chars is not None else None)
        features = sequence_output if chars is None else torch.cat([sequence_output, chars], dim=-1)
        return self.tag_outputs(self.classifier(self.dropout(features)), kwargs)
