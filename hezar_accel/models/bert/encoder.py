"""A pure-torch BERT encoder whose parameter names are exactly those of 🤗 transformers' ``BertModel``.

The module tree (``embeddings.word_embeddings``, ``encoder.layer.N.attention.self.query`` ... ``pooler.dense``) is what
makes a Hezar ``BertTextClassification`` state dict (``bert.<BertModel keys>``) load here unchanged, and weights trained
here load in Hezar. ``transformers`` itself is not needed.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BertEncoder", "ACTIVATIONS", "init_bert_weights"]


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": _gelu_new,
    "relu": F.relu,
    "tanh": torch.tanh,
}


def init_bert_weights(module: nn.Module, std: float) -> None:
    """Initialise one module like BERT: normal(0, std) weights, zero biases, LayerNorm 1/0, zero padding row.

    Args:
        module: a module visited by ``nn.Module.apply``.
        std: the config's ``initializer_range``.
    """
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # Non-persistent: recent Hezar/HF state dicts do not carry it (older ones have it; it is skipped on load).
        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings).unsqueeze(0), persistent=False
        )

    def forward(self, token_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> torch.Tensor:
        seq_len = token_ids.shape[1]
        if seq_len > self.position_ids.shape[1]:
            raise ValueError(
                f"Input length {seq_len} exceeds max_position_embeddings={self.position_ids.shape[1]}; "
                "tokenize with truncation and max_length <= max_position_embeddings."
            )
        if position_ids is None:
            position_ids = self.position_ids[:, :seq_len]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(token_ids)
        embeddings = (
            self.word_embeddings(token_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(position_ids)
        )
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        q = self._split_heads(self.query(hidden_states))
        k = self._split_heads(self.key(hidden_states))
        v = self._split_heads(self.value(hidden_states))
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attention_bias, dropout_p=self.dropout_prob if self.training else 0.0,
            scale=1.0 / math.sqrt(self.head_dim),
        )
        batch, _, seq_len, _ = context.shape
        return context.transpose(1, 2).reshape(batch, seq_len, self.num_heads * self.head_dim)


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(hidden_states, attention_bias), hidden_states)


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACTIVATIONS[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(hidden_states))


class BertOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        attended = self.attention(hidden_states, attention_bias)
        return self.output(self.intermediate(attended), attended)


class BertLayerStack(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_bias)
        return hidden_states


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


class BertEncoder(nn.Module):
    """BERT: embeddings, a stack of transformer layers and the [CLS] pooler, with 🤗 ``BertModel`` parameter names.

    Args:
        config: any object with the BERT fields (``vocab_size``, ``hidden_size``, ``num_hidden_layers``,
            ``num_attention_heads``, ``intermediate_size``, ``hidden_act``, ``hidden_dropout_prob``,
            ``attention_probs_dropout_prob``, ``max_position_embeddings``, ``type_vocab_size``, ``initializer_range``,
            ``layer_norm_eps``, ``pad_token_id``), e.g. a ``BertTextClassificationConfig``. It is read, never changed.

    Raises:
        KeyError: ``hidden_act`` is not one of ``ACTIVATIONS`` (configs validate this first).
    """

    def __init__(self, config):
        super().__init__()
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertLayerStack(config)
        self.pooler = BertPooler(config)
        self.apply(lambda m: init_bert_weights(m, config.initializer_range))

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch of token ids.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 for real tokens and 0 for padding; None attends everywhere.
            token_type_ids: ``(batch, seq_len)`` segment ids (0 for the first sentence, 1 for the second).
            position_ids: ``(batch, seq_len)`` positions; defaults to ``0..seq_len-1``.

        Returns:
            ``(sequence_output, pooled_output)``: ``(batch, seq_len, hidden)`` and ``(batch, hidden)``.

        Raises:
            ValueError: the input is longer than ``max_position_embeddings``.
        """
        hidden_states = self.embeddings(token_ids, token_type_ids=token_type_ids, position_ids=position_ids)
        bias = None if attention_mask is None else _attention_bias(attention_mask, hidden_states.dtype)
        sequence_output = self.encoder(hidden_states, bias)
        return sequence_output, self.pooler(sequence_output)


def _attention_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(batch, 1, 1, seq_len)`` additive bias: 0 where attended, the dtype's minimum on padding.

    An additive bias (not a boolean mask) keeps a fully padded row finite instead of NaN.
    """
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min
