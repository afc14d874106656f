"""T5 building blocks in pure torch, with 🤗 ``T5ForConditionalGeneration`` parameter names and shapes.

T5 has no absolute positions: the first block of each stack owns a learnt bias per (relative-distance bucket, head)
that every block adds to its attention scores; scores are not scaled by ``1/sqrt(d_kv)`` (the initialisation accounts
for it), and layer norms are RMS norms without bias or mean subtraction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..gpt2.modules import ACTIVATIONS
from ..seq2seq import cached_keys_values

__all__ = ["T5LayerNorm", "relative_position_bucket", "T5Attention", "T5Block", "T5Stack", "T5ForConditionalGeneration",
           "feed_forward_kind"]


def feed_forward_kind(feed_forward_proj: str) -> tuple[bool, str]:
    """``(gated, activation)`` of a ``feed_forward_proj`` value, as 🤗 ``T5Config`` parses it (``gated-gelu`` is
    GELU with the tanh approximation, ``gelu_new``)."""
    parts = feed_forward_proj.split("-")
    gated = parts[0] == "gated" and len(parts) == 2
    activation = "gelu_new" if feed_forward_proj == "gated-gelu" else parts[-1]
    return gated, activation


class T5LayerNorm(nn.Module):
    """RMS norm: ``weight * x / sqrt(mean(x^2) + eps)``, the mean square taken in float32."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return self.weight * x


def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> torch.Tensor:
    """T5's bucket of each ``key_position - query_position``: exact for small distances, logarithmic up to
    ``max_distance``; bidirectional stacks (the encoder) give past and future separate halves of the buckets."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).long() * num_buckets
        relative_position = relative_position.abs()
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, large)


class T5Attention(nn.Module):
    """Multi-head attention without score scaling; the stack's first self-attention owns the relative bias table.

    Args:
        config: the T5 config (``d_model``, ``d_kv``, ``num_heads``, ``dropout_rate``, bucket settings).
        has_relative_attention_bias: own ``relative_attention_bias`` (first block of a stack).
        is_decoder: causal buckets (no future distances).
    """

    def __init__(self, config, has_relative_attention_bias: bool = False, is_decoder: bool = False):
        super().__init__()
        self.n_heads, self.d_kv = config.num_heads, config.d_kv
        self.is_decoder = is_decoder
        self.num_buckets, self.max_distance = config.relative_attention_num_buckets, config.relative_attention_max_distance
        self.dropout = config.dropout_rate
        inner = config.num_heads * config.d_kv
        self.q = nn.Linear(config.d_model, inner, bias=False)
        self.k = nn.Linear(config.d_model, inner, bias=False)
        self.v = nn.Linear(config.d_model, inner, bias=False)
        self.o = nn.Linear(inner, config.d_model, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, config.num_heads)

    def compute_bias(self, query_length: int, key_length: int, past_length: int, device) -> torch.Tensor:
        """``(1, heads, query, key)`` bias for queries at positions ``past_length ..`` over keys ``0 .. key_length-1``."""
        context = torch.arange(query_length, dtype=torch.long, device=device)[:, None] + past_length
        memory = torch.arange(key_length, dtype=torch.long, device=device)[None, :]
        buckets = relative_position_bucket(memory - context, not self.is_decoder, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(buckets).permute(2, 0, 1)[None]

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.n_heads, self.d_kv).transpose(1, 2)

    def _keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._heads(self.k(source)), self._heads(self.v(source))

    def forward(self, x: torch.Tensor, bias: torch.Tensor, key_value_states: torch.Tensor | None = None,
                past: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """Attend from ``x`` to itself (``past`` keys/values prepended) or to ``key_value_states`` (cross-attention,
        whose projected keys/values are reused from ``past`` when given).

        Args:
            bias: additive ``(batch or 1, heads or 1, query, key)`` scores: position bias plus the mask.

        Returns:
            The output ``(batch, query, d_model)`` and the keys/values to cache.
        """
        q = self._heads(self.q(x))
        k, v = cached_keys_values(self._keys_values, x, key_value_states, past)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.o(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)), (k, v)


class T5DenseActDense(nn.Module):
    """``wo(dropout(act(wi(x))))``."""

    def __init__(self, config, activation: str):
        super().__init__()
        self.wi = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi(x))))


class T5DenseGatedActDense(nn.Module):
    """``wo(dropout(act(wi_0(x)) * wi_1(x)))`` (T5 v1.1, ``gated-gelu``)."""

    def __init__(self, config, activation: str):
        super().__init__()
        self.wi_0 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi_0(x)) * self.wi_1(x)))


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config, has_relative_attention_bias: bool, is_decoder: bool):
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_attention_bias, is_decoder)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x, bias, past=None):
        out, present = self.SelfAttention(self.layer_norm(x), bias, past=past)
        return x + self.dropout(out), present


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.EncDecAttention = T5Attention(config, False, True)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x, encoder_states, bias, past=None):
        out, present = self.EncDecAttention(self.layer_norm(x), bias, key_value_states=encoder_states, past=past)
        return x + self.dropout(out), present


class T5LayerFF(nn.Module):
    def __init__(self, config):
        super().__init__()
        gated, activation = feed_forward_kind(config.feed_forward_proj)
        self.DenseReluDense = (T5DenseGatedActDense if gated else T5DenseActDense)(config, activation)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x):
        return x + self.dropout(self.DenseReluDense(self.layer_norm(x)))


class T5Block(nn.Module):
    """``layer``: self-attention, cross-attention (decoder only), feed-forward; each pre-norm with a residual."""

    def __init__(self, config, has_relative_attention_bias: bool, is_decoder: bool):
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(config, has_relative_attention_bias, is_decoder)])
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(config))
        self.layer.append(T5LayerFF(config))

    def forward(self, x, self_bias, encoder_states=None, cross_bias=None, past=None):
        x, self_kv = self.layer[0](x, self_bias, past[:2] if past is not None else None)
        if not self.is_decoder:
            return self.layer[-1](x), self_kv
        x, cross_kv = self.layer[1](x, encoder_states, cross_bias, past[2:] if past is not None else None)
        return self.layer[2](x), (*self_kv, *cross_kv)


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


class T5Stack(nn.Module):
    """Embeddings (shared with the other stack), blocks, final RMS norm; the encoder or the decoder of T5."""

    def __init__(self, config, embed_tokens: nn.Embedding, is_decoder: bool):
        super().__init__()
        self.is_decoder = is_decoder
        self.embed_tokens = embed_tokens
        layers = config.num_decoder_layers if is_decoder else config.num_layers
        self.block = nn.ModuleList(T5Block(config, i == 0, is_decoder) for i in range(layers))
        self.final_layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                encoder_states: torch.Tensor | None = None, encoder_mask: torch.Tensor | None = None,
                past: list | None = None) -> tuple[torch.Tensor, list]:
        """Hidden states of ``input_ids`` and, for the decoder, the per-block cache
        ``(self_k, self_v, cross_k, cross_v)``.

        Args:
            attention_mask: encoder only: ``(batch, length)``, 1 on real tokens (None = all real). The decoder is
                causal and right-padded, so it needs none.
            encoder_states / encoder_mask: the decoder's cross-attention memory and its padding mask.
            past: the decoder cache of earlier calls.
        """
        x = self.dropout(self.embed_tokens(input_ids))
        length, device = input_ids.shape[1], input_ids.device
        past_length = past[0][0].shape[2] if past else 0
        bias = self.block[0].layer[0].SelfAttention.compute_bias(length, past_length + length, past_length, device)
        dtype = x.dtype
        if self.is_decoder:
            allowed = torch.ones(length, past_length + length, dtype=torch.bool, device=device).tril(past_length)
            self_bias = bias + _additive(allowed[None, None], dtype)
        elif attention_mask is not None:
            self_bias = bias + _additive(attention_mask.bool()[:, None, None, :], dtype)
        else:
            self_bias = bias
        cross_bias = None
        if self.is_decoder:
            memory = encoder_states.shape[1]
            allowed = (encoder_mask.bool() if encoder_mask is not None
                       else torch.ones(encoder_states.shape[0], memory, dtype=torch.bool, device=device))
            cross_bias = _additive(allowed[:, None, None, :], dtype)
        presents = []
        for i, block in enumerate(self.block):
            x, present = block(x, self_bias, encoder_states, cross_bias, past[i] if past else None)
            presents.append(present)
        return self.dropout(self.final_layer_norm(x)), presents


class T5ForConditionalGeneration(nn.Module):
    """``shared`` embedding, ``encoder``, ``decoder`` and ``lm_head``, as 🤗's class of the same name in transformers 5
    (the version Hezar 1.0 runs on): the stacks' ``embed_tokens`` and ``lm_head`` all share ``shared``'s weight,
    whatever ``tie_word_embeddings`` says; that flag only decides whether decoder states are scaled by
    ``d_model ** -0.5`` before the head (T5 v1.0: true; v1.1 and Hezar's default: false)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, self.shared, is_decoder=False)
        self.decoder = T5Stack(config, self.shared, is_decoder=True)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.shared.weight
        self._init_weights(config)

    def _init_weights(self, config) -> None:
        """🤗's T5 initialisation (``initializer_factor`` scales every std), so a fresh model trains the same way."""
        factor, d_model, d_kv, heads = config.initializer_factor, config.d_model, config.d_kv, config.num_heads
        nn.init.normal_(self.shared.weight, std=factor)
        for module in self.modules():
            if isinstance(module, T5LayerNorm):
                nn.init.constant_(module.weight, factor)
            elif isinstance(module, T5DenseActDense):
                nn.init.normal_(module.wi.weight, std=factor * d_model ** -0.5)
                nn.init.normal_(module.wo.weight, std=factor * config.d_ff ** -0.5)
            elif isinstance(module, T5DenseGatedActDense):
                nn.init.normal_(module.wi_0.weight, std=factor * d_model ** -0.5)
                nn.init.normal_(module.wi_1.weight, std=factor * d_model ** -0.5)
                nn.init.normal_(module.wo.weight, std=factor * config.d_ff ** -0.5)
            elif isinstance(module, T5Attention):
                nn.init.normal_(module.q.weight, std=factor * (d_model * d_kv) ** -0.5)
                nn.init.normal_(module.k.weight, std=factor * d_model ** -0.5)
                nn.init.normal_(module.v.weight, std=factor * d_model ** -0.5)
                nn.init.normal_(module.o.weight, std=factor * (heads * d_kv) ** -0.5)
                if hasattr(module, "relative_attention_bias"):
                    nn.init.normal_(module.relative_attention_bias.weight, std=factor * d_model ** -0.5)

    def untie_lm_head(self) -> None:
        """Give ``lm_head`` a weight of its own (a copy of the embedding), for checkpoints that trained it apart."""
        if self.lm_head.weight is self.shared.weight:
            self.lm_head.weight = nn.Parameter(self.shared.weight.detach().clone())

    def logits(self, decoder_states: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits of decoder states (scaled by ``d_model ** -0.5`` first when ``tie_word_embeddings``)."""
        if self.config.tie_word_embeddings:
            decoder_states = decoder_states * self.config.d_model ** -0.5
        return self.lm_head(decoder_states)
