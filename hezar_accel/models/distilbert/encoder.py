"""A pure-torch DistilBERT encoder whose parameter names are exactly those of 🤗 ``DistilBertModel``.

``embeddings`` (word + position, no token types: BERT's embeddings module) and ``transformer.layer.N`` with
``attention.{q,k,v,out}_lin``, ``sa_layer_norm``, ``ffn.lin1/lin2`` and ``output_layer_norm``. The attention math is
BERT's (:func:`~hezar_accel.models.bert.encoder.multi_head_attention`); unlike BERT there is no dropout after the
attention output projection.
"""

from __future__ import annotations

import torch
from torch import nn

from ..bert.encoder import ACTIVATIONS, BertEmbeddings, attention_bias, init_bert_weights, multi_head_attention
from .common import DISTILBERT_LAYER_NORM_EPS

__all__ = ["DistilBertEncoder"]


class DistilBertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_heads = config.n_heads
        self.q_lin = nn.Linear(config.dim, config.dim)
        self.k_lin = nn.Linear(config.dim, config.dim)
        self.v_lin = nn.Linear(config.dim, config.dim)
        self.out_lin = nn.Linear(config.dim, config.dim)
        self.dropout_prob = config.attention_dropout

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        context = multi_head_attention(self.q_lin(hidden_states), self.k_lin(hidden_states),
                                       self.v_lin(hidden_states), self.n_heads, bias,
                                       self.dropout_prob if self.training else 0.0)
        return self.out_lin(context)


class FFN(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.lin1 = nn.Linear(config.dim, config.hidden_dim)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim)
        self.activation = ACTIVATIONS[config.activation]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.lin2(self.activation(self.lin1(hidden_states))))


class TransformerBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = DistilBertSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=DISTILBERT_LAYER_NORM_EPS)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=DISTILBERT_LAYER_NORM_EPS)

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        attended = self.sa_layer_norm(self.attention(hidden_states, bias) + hidden_states)
        return self.output_layer_norm(self.ffn(attended) + attended)


class Transformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layer:
            hidden_states = layer(hidden_states, bias)
        return hidden_states


class DistilBertEncoder(nn.Module):
    """DistilBERT: embeddings and a stack of transformer blocks, with 🤗 ``DistilBertModel`` parameter names.

    Args:
        config: a config with the DistilBERT fields (``DistilBertEncoderConfig``); read, never changed.

    Raises:
        KeyError: ``activation`` is not one of ``ACTIVATIONS`` (configs validate this first).
    """

    def __init__(self, config):
        super().__init__()
        self.embeddings = BertEmbeddings(config.vocab_size, config.dim, config.max_position_embeddings,
                                         config.pad_token_id, DISTILBERT_LAYER_NORM_EPS, config.dropout)
        self.transformer = Transformer(config)
        self.apply(lambda m: init_bert_weights(m, config.initializer_range))

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode a batch of token ids.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 for real tokens and 0 for padding; None attends everywhere.

        Returns:
            The ``(batch, seq_len, dim)`` hidden states of the last layer.

        Raises:
            ValueError: the input is longer than ``max_position_embeddings``.
        """
        hidden_states = self.embeddings(token_ids)
        bias = None if attention_mask is None else attention_bias(attention_mask, hidden_states.dtype)
        return self.transformer(hidden_states, bias)
