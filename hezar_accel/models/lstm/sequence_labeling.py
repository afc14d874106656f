"""A BiLSTM tagger over token embeddings and a character CNN: the classic small-data sequence labeler.

A BERT trained from scratch on a few thousand sentences tags worse than a most-frequent-tag lookup table (see
BENCHMARKS.md, "Sequence labeling against the lookup baseline"); a bidirectional LSTM over the same tokens, with each
word's characters beside its embedding, learns from that little data. It reads the same inputs as the BERT taggers
(``token_ids``, ``attention_mask``, ``word_chars`` from a WordPiece tokenizer and a sequence-labeling dataset with
``max_word_chars``), so a recipe switches between them by the model name alone.

Not a Hezar model family: Hezar cannot load its folders (nor can it load a BERT tagger with the character CNN on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ...configs import ModelConfig
from ...constants import TaskType
from ...registry import register_model
from ..labels import with_label_fields
from ..tasks.char_cnn import CharCNN, CharCNNConfig, drop_words
from ..tasks.sequence_labeling import SequenceLabelingModel

__all__ = ["BiLSTMSequenceLabelingConfig", "BiLSTMSequenceLabeling"]


@dataclass
class BiLSTMSequenceLabelingConfig(CharCNNConfig, ModelConfig):
    """Config of :class:`BiLSTMSequenceLabeling`.

    Args:
        id2label: tag id -> tag (from the dataset; the recipe fills it in).
        num_labels: number of tags; None = ``len(id2label)``.
        vocab_size: token vocabulary size (the tokenizer's; the recipe fills it in).
        pad_token_id: the tokenizer's padding id; its embedding row is zero and never trained.
        embedding_dim: size of a token's embedding.
        hidden_size: LSTM units per direction (the tagger reads ``2 * hidden_size`` per token).
        num_layers: stacked BiLSTM layers.
        dropout: dropout on the embeddings, between LSTM layers and before the classifier; 0 = off.
        char_cnn_filters ... word_dropout: the character CNN and word dropout (see
            :class:`~hezar_accel.models.tasks.char_cnn.CharCNNConfig`); the CNN is optional here too, but this model is
            meant to run with it.
    """

    name: str = "bilstm_sequence_labeling"
    task: str = TaskType.SEQUENCE_LABELING.value
    id2label: dict | None = None
    num_labels: int | None = None
    vocab_size: int | None = None
    pad_token_id: int = 0
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.3

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.vocab_size is None:
            problems.append("vocab_size: required (the tokenizer's vocab_size; a recipe fills it in)")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                problems.append(f"{name}: {value} must be a positive integer")
        if isinstance(self.dropout, (int, float)) and not 0 <= self.dropout < 1:
            problems.append(f"dropout: {self.dropout} must be in [0, 1) (0 = off)")
        if not self.id2label and not self.num_labels:
            problems.append("id2label: required (tag id -> tag; take it from the dataset: train_dataset.config.id2label)")
        return problems

    def saved_dict(self) -> dict:
        """Always write ``num_labels`` (from ``id2label`` when unset), as the other taggers do."""
        return with_label_fields(super().saved_dict())


@register_model("bilstm_sequence_labeling", BiLSTMSequenceLabelingConfig)
class BiLSTMSequenceLabeling(SequenceLabelingModel):
    """Token embeddings (+ character CNN features) -> BiLSTM -> a linear classifier on every token.

    Each sequence runs over its real tokens only (packed by the attention mask), so a sentence gets the same tags
    whatever it is batched with: evaluation does not depend on batch composition or padding. Packing reads the
    lengths on the host (one small copy per batch).

    Args:
        config: a :class:`BiLSTMSequenceLabelingConfig`; never mutated.
    """

    def __init__(self, config: BiLSTMSequenceLabelingConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.char_cnn = CharCNN(config) if config.uses_word_chars else None
        width = config.embedding_dim + (self.char_cnn.output_size if self.char_cnn is not None else 0)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(width, config.hidden_size, num_layers=config.num_layers, batch_first=True,
                            bidirectional=True, dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.classifier = nn.Linear(2 * config.hidden_size, self.num_labels)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                word_chars: torch.Tensor | None = None, **kwargs) -> dict[str, Any]:
        """Tag every token of a batch.

        Args:
            token_ids: ``(batch, seq_len)`` token ids, padded on the right.
            attention_mask: ``(batch, seq_len)``, 1 on real tokens; None = no padding.
            word_chars: ``(batch, seq_len, max_word_chars)`` character codes of each token's word; required with the
                character CNN, ignored without it.
            **kwargs: ``word_ids``/``words`` (from ``preprocess``) pass through to the output; the rest (``labels``,
                ``token_type_ids``) is ignored.

        Returns:
            ``{"logits": (batch, seq_len, num_labels)}`` (zeros past each sequence's end) plus ``word_ids``/``words``.

        Raises:
            ValueError: the character CNN is on and ``word_chars`` is missing or mis-shaped.
        """
        embedded = self.embeddings(drop_words(token_ids, self.config.word_dropout, self.config.pad_token_id,
                                              self.training))
        if self.char_cnn is not None:
            embedded = torch.cat([embedded, self.char_cnn(self.checked_word_chars(word_chars, token_ids))], dim=-1)
        embedded = self.dropout(embedded)
        seq_len = token_ids.shape[1]
        if attention_mask is None:
            lengths = torch.full((token_ids.shape[0],), seq_len, dtype=torch.long)
        else:
            lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=seq_len)
        return self.tag_outputs(self.classifier(self.dropout(output)), kwargs)
