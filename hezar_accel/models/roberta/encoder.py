"""RoBERTa's encoder: BERT's layers under 🤗 ``RobertaModel`` names, with fairseq position numbering, no pooler.

The math differs from BERT's in the positions only: a token's position id is ``pad_token_id + 1 + its index among
the row's non-padding tokens`` and padding gets ``pad_token_id`` (whose row is zero and never trained). Everything
else is :class:`~hezar_accel.models.bert.encoder.BertEncoder`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..bert.encoder import BertEmbeddings, BertEncoder, init_bert_weights

__all__ = ["RobertaEmbeddings", "RobertaEncoder", "RobertaClassificationHead", "RobertaWithHead"]


class RobertaEmbeddings(BertEmbeddings):
    """BERT's embeddings with RoBERTa's positions (see the module docstring); arguments as ``BertEmbeddings``."""

    def __init__(self, vocab_size: int, hidden_size: int, max_position_embeddings: int, pad_token_id: int,
                 layer_norm_eps: float, dropout: float, type_vocab_size: int = 0):
        super().__init__(vocab_size, hidden_size, max_position_embeddings, pad_token_id, layer_norm_eps, dropout,
                         type_vocab_size=type_vocab_size)
        # Rebuilt with a padding row, and registered last as 🤗 does: a state dict lists keys in registration order.
        del self.position_embeddings
        self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size, padding_idx=pad_token_id)
        self.padding_idx = pad_token_id
        self.position_offset = pad_token_id + 1

    def default_position_ids(self, token_ids: torch.Tensor, past_length: int = 0) -> torch.Tensor:
        """``pad_token_id + past_length + cumulative count of real tokens`` on real tokens, ``pad_token_id`` on
        padding. Like 🤗, a cached decoder step counts every earlier token (padding ids included) in
        ``past_length``, so a padding id among earlier tokens (e.g. a decoder start token equal to the padding id)
        shifts cached positions by one against a full recompute; generation with and without cache then differ
        exactly as in 🤗."""
        real = token_ids.ne(self.padding_idx).int()
        return ((torch.cumsum(real, dim=1).type_as(real) + past_length) * real).long() + self.padding_idx


class RobertaEncoder(BertEncoder):
    """🤗 ``RobertaModel(add_pooling_layer=False)``, as every Hezar RoBERTa model builds it.

    Args:
        config: a RoBERTa config (``RobertaEncoderConfig`` fields); read, never changed.
    """

    embeddings_class = RobertaEmbeddings

    def __init__(self, config):
        super().__init__(config, add_pooling_layer=False)


class RobertaClassificationHead(nn.Module):
    """Hezar's ``RobertaClassificationHead``: dropout, ``dense``, tanh, dropout, ``out_proj``.

    Args:
        config: gives ``hidden_size`` and the dropout (``classifier_dropout``, else ``hidden_dropout_prob``).
        num_labels: output classes.
        first_token_only: classify the ``<s>`` position (text classification) or every position (Hezar's RoBERTa
            sequence labeling applies the same head to all tokens).
    """

    def __init__(self, config, num_labels: int, first_token_only: bool):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(config.hidden_size, num_labels)
        self.first_token_only = first_token_only

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features[:, 0] if self.first_token_only else features
        x = self.dropout(torch.tanh(self.dense(self.dropout(x))))
        return self.out_proj(x)


class RobertaWithHead:
    """What Hezar's RoBERTa classifier and tagger share (a mixin before their task base): ``roberta`` + ``classifier``
    (a :class:`RobertaClassificationHead`), the tokenizer they use and the keys older saves carry."""

    tokenizer_name = "bpe_tokenizer"
    # Keys older transformers/Hezar saves carry for a buffer that is not persistent here (Hezar skips the same ones).
    skip_keys_on_load = ["model.embeddings.position_ids", "roberta.embeddings.position_ids"]
    encoder_prefix = "roberta."

    def build_roberta(self, config, first_token_only: bool) -> None:
        """Create ``self.roberta`` and ``self.classifier`` (``self.num_labels`` must be set)."""
        self.roberta = RobertaEncoder(config)
        self.classifier = RobertaClassificationHead(config, self.num_labels, first_token_only=first_token_only)
        self.classifier.apply(lambda m: init_bert_weights(m, config.initializer_range))

    def classify(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 token_type_ids: torch.Tensor | None) -> torch.Tensor:
        """The head's logits over the encoded batch."""
        sequence_output, _ = self.roberta(token_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.classifier(sequence_output)
