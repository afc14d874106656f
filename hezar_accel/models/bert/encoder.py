"""A pure-torch BERT encoder whose parameter names are exactly those of 🤗 transformers' ``BertModel``.

The module tree (``embeddings.word_embeddings``, ``encoder.layer.N.attention.self.query`` ... ``pooler.dense``) is what
makes a Hezar ``BertTextClassification`` state dict (``bert.<BertModel keys>``) load here unchanged, and weights trained
here load in Hezar. ``transformers`` itself is not needed.

The pieces whose math other encoders share are public: :class:`BertEmbeddings` (DistilBERT's embeddings are the same
module without token types; RoBERTa's derive from it), :func:`multi_head_attention` (DistilBERT's and ViT's attention
under their own names) and :func:`attention_bias`. Layers built with ``cross_attention`` are 🤗's decoder layers
(``add_cross_attention``): RoBERTa's causal-LM decoder runs them with :meth:`BertLayer.decode`.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BertEncoder", "BertEmbeddings", "ACTIVATIONS", "init_bert_weights", "multi_head_attention", "attention_bias",
           "KeyValues"]

# An attention cache: projected keys and values, each (batch, length, hidden); dim 0 is the row, so beam search can
# reorder it with generation.reorder_cache.
KeyValues = tuple[torch.Tensor, torch.Tensor]


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
    """Word + token-type + position embeddings, LayerNorm and dropout (🤗 ``BertEmbeddings`` names).

    With ``type_vocab_size=0`` there is no ``token_type_embeddings`` (DistilBERT's ``Embeddings``). Subclasses change
    the positions by overriding :meth:`default_position_ids` and :attr:`position_offset`.

    Args:
        vocab_size, hidden_size: the word table's shape.
        max_position_embeddings: rows of the position table.
        pad_token_id: the padding row of the word table (zero at init, never updated).
        layer_norm_eps, dropout: LayerNorm epsilon and dropout probability.
        type_vocab_size: rows of the token-type table; 0 = none.
    """

    # The smallest position id a token gets (RoBERTa numbers positions after its padding id).
    position_offset = 0

    def __init__(self, vocab_size: int, hidden_size: int, max_position_embeddings: int, pad_token_id: int,
                 layer_norm_eps: float, dropout: float, type_vocab_size: int = 0):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id)
        self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden_size) if type_vocab_size else None
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        # Non-persistent: recent Hezar/HF state dicts do not carry it (older ones have it; it is skipped on load).
        self.register_buffer("position_ids", torch.arange(max_position_embeddings).unsqueeze(0), persistent=False)

    @classmethod
    def from_config(cls, config) -> "BertEmbeddings":
        """The embeddings of a config with the BERT field names (``hidden_size``, ``type_vocab_size`` ...)."""
        return cls(config.vocab_size, config.hidden_size, config.max_position_embeddings, config.pad_token_id,
                   config.layer_norm_eps, config.hidden_dropout_prob, type_vocab_size=config.type_vocab_size)

    def default_position_ids(self, token_ids: torch.Tensor, past_length: int = 0) -> torch.Tensor:
        """Positions when none are given: ``past_length..past_length+seq_len-1`` for every row."""
        return self.position_ids[:, past_length: past_length + token_ids.shape[1]]

    def forward(self, token_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_length: int = 0) -> torch.Tensor:
        """Embed ``token_ids``; ``past_length`` tokens came before them (a decoder's cached steps)."""
        seq_len, positions = past_length + token_ids.shape[1], self.position_ids.shape[1]
        # Checked on shapes only (a value check would sync the host every step).
        if seq_len + self.position_offset > positions:
            raise ValueError(
                f"Input length {seq_len} exceeds the {positions - self.position_offset} positions this model has "
                f"(max_position_embeddings={positions}); tokenize with truncation and max_length <= "
                f"{positions - self.position_offset}."
            )
        if position_ids is None:
            position_ids = self.default_position_ids(token_ids, past_length)
        embeddings = self.word_embeddings(token_ids)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(token_ids)
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


def multi_head_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, num_heads: int,
                         attention_bias: torch.Tensor | None, dropout_p: float) -> torch.Tensor:
    """Scaled dot-product attention over heads, on already projected ``(batch, length, hidden)`` tensors.

    Args:
        query: ``(batch, seq_len, hidden)`` projected queries.
        key, value: ``(batch, key_len, hidden)`` projections; ``key_len`` differs from ``seq_len`` in cross-attention
            and behind a key/value cache.
        num_heads: how many heads split ``hidden``.
        attention_bias: additive bias broadcastable to ``(batch, 1, seq_len, key_len)`` (see :func:`attention_bias`),
            or None.
        dropout_p: attention-probability dropout (pass 0 in eval mode).

    Returns:
        The ``(batch, seq_len, hidden)`` context, heads concatenated.
    """
    batch, seq_len, hidden = query.shape
    head_dim = hidden // num_heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(batch, x.shape[1], num_heads, head_dim).transpose(1, 2)

    context = F.scaled_dot_product_attention(split(query), split(key), split(value), attn_mask=attention_bias,
                                             dropout_p=dropout_p, scale=1.0 / math.sqrt(head_dim))
    return context.transpose(1, 2).reshape(batch, seq_len, hidden)


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        return self.attend(hidden_states, attention_bias)[0]

    def attend(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None,
               context: torch.Tensor | None = None, past: KeyValues | None = None,
               past_is_context: bool = False) -> tuple[torch.Tensor, KeyValues]:
        """Attention of ``hidden_states`` over ``context`` (default: themselves), after cached keys and values.

        Args:
            hidden_states: ``(batch, new, hidden)``; the queries.
            attention_bias: additive bias over the keys (see :func:`multi_head_attention`), or None.
            context: ``(batch, source, hidden)`` states the keys and values come from (cross-attention); None =
                ``hidden_states`` (self-attention).
            past: ``(keys, values)`` returned by an earlier call. Self-attention appends the new ones to them;
                with ``past_is_context`` (cross-attention) they are used as they are, because the context does not
                change between decoding steps.

        Returns:
            ``(context vectors (batch, new, hidden), (keys, values))``: the second is the cache for the next step.
        """
        # Query, key, value in 🤗's order: autograd sums the three gradients of a shared input in reverse order of
        # use, so another order rounds differently and training drifts from 🤗's bit for bit.
        query = self.query(hidden_states)
        if past is not None and past_is_context:
            key, value = past
        else:
            source = hidden_states if context is None else context
            key, value = self.key(source), self.value(source)
            if past is not None:
                key, value = torch.cat([past[0], key], dim=1), torch.cat([past[1], value], dim=1)
        output = multi_head_attention(query, key, value, self.num_heads, attention_bias,
                                      self.dropout_prob if self.training else 0.0)
        return output, (key, value)


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
        return self.attend(hidden_states, attention_bias)[0]

    def attend(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None,
               **kwargs) -> tuple[torch.Tensor, KeyValues]:
        """:meth:`BertSelfAttention.attend` (same keyword arguments) followed by the output projection and residual."""
        context, cache = self.self.attend(hidden_states, attention_bias, **kwargs)
        return self.output(context, hidden_states), cache


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
    """Self-attention, then (decoder layers) cross-attention over the encoder's states, then the feed-forward block.

    Args:
        config: the BERT fields.
        cross_attention: build ``crossattention`` (🤗's ``add_cross_attention``), between self-attention and the
            feed-forward block, as 🤗 registers it (state-dict order).
    """

    def __init__(self, config, cross_attention: bool = False):
        super().__init__()
        self.attention = BertAttention(config)
        self.crossattention = BertAttention(config) if cross_attention else None
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None) -> torch.Tensor:
        attended = self.attention(hidden_states, attention_bias)
        return self.output(self.intermediate(attended), attended)

    def decode(self, hidden_states: torch.Tensor, attention_bias: torch.Tensor | None, encoder_states: torch.Tensor,
               past: tuple[KeyValues, KeyValues] | None = None) -> tuple[torch.Tensor, tuple[KeyValues, KeyValues]]:
        """A decoder layer's step: masked self-attention (after ``past``), cross-attention, feed-forward.

        Args:
            hidden_states: ``(batch, new, hidden)`` states of the new decoder positions.
            attention_bias: the causal (and padding) bias of the self-attention over past + new positions.
            encoder_states: ``(batch, source, hidden)``; read only when ``past`` holds no cross-attention cache.
            past: this layer's ``(self-attention, cross-attention)`` keys/values from the previous step, or None.

        Returns:
            ``(new states, (self-attention cache, cross-attention cache))``.
        """
        self_past, cross_past = past if past is not None else (None, None)
        attended, self_cache = self.attention.attend(hidden_states, attention_bias, past=self_past)
        attended, cross_cache = self.crossattention.attend(attended, None, context=encoder_states, past=cross_past,
                                                           past_is_context=True)
        return self.output(self.intermediate(attended), attended), (self_cache, cross_cache)


class BertLayerStack(nn.Module):
    def __init__(self, config, cross_attention: bool = False):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config, cross_attention) for _ in range(config.num_hidden_layers))

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
        add_pooling_layer: build the ``pooler`` (🤗 ``BertModel(add_pooling_layer=...)``); masked-LM models and
            RoBERTa have none.

    Raises:
        KeyError: ``hidden_act`` is not one of ``ACTIVATIONS`` (configs validate this first).
    """

    embeddings_class = BertEmbeddings
    # Whether the layers have cross-attention (a decoder's, see RoBERTa's causal LM).
    cross_attention = False

    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__()
        self.embeddings = self.embeddings_class.from_config(config)
        self.encoder = BertLayerStack(config, cross_attention=self.cross_attention)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.apply(lambda m: init_bert_weights(m, config.initializer_range))

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                extra_embeddings: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode a batch of token ids.

        Args:
            token_ids: ``(batch, seq_len)`` token ids.
            attention_mask: ``(batch, seq_len)``, 1 for real tokens and 0 for padding; None attends everywhere.
            token_type_ids: ``(batch, seq_len)`` segment ids (0 for the first sentence, 1 for the second).
            position_ids: ``(batch, seq_len)`` positions; defaults to the embeddings' ``default_position_ids``.
            extra_embeddings: ``(batch, seq_len, hidden)`` added to the embeddings before the first layer (e.g. a
                tagger's character features); None = nothing added.

        Returns:
            ``(sequence_output, pooled_output)``: ``(batch, seq_len, hidden)`` and ``(batch, hidden)`` (None without
            a pooler).

        Raises:
            ValueError: the input is longer than the position table allows.
        """
        hidden_states = self.embeddings(token_ids, token_type_ids=token_type_ids, position_ids=position_ids)
        if extra_embeddings is not None:
            hidden_states = hidden_states + extra_embeddings
        bias = None if attention_mask is None else attention_bias(attention_mask, hidden_states.dtype)
        sequence_output = self.encoder(hidden_states, bias)
        return sequence_output, self.pooler(sequence_output) if self.pooler is not None else None


def attention_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(batch, 1, 1, seq_len)`` additive bias: 0 where attended, the dtype's minimum on padding.

    An additive bias (not a boolean mask) keeps a fully padded row finite instead of NaN.

    Args:
        attention_mask: ``(batch, seq_len)``, 1 on real tokens.
        dtype: the hidden states' dtype.

    Returns:
        The bias, broadcastable over heads and query positions.
    """
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min
