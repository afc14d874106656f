"""Whisper building blocks in pure torch, with 🤗 ``WhisperForConditionalGeneration`` parameter names and shapes.

The encoder reads log-mel frames ``(batch, num_mel_bins, 2 * max_source_positions)`` through two convolutions (the
second halves time) and fixed sinusoidal positions; the decoder is a GPT-style stack with learnt positions and
cross-attention. Every layer is pre-norm. Behaviour follows transformers 5 (which Hezar 1.0 runs on), e.g. token
embeddings are not scaled even when ``scale_embedding`` is set.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..gpt2.modules import ACTIVATIONS
from ..seq2seq import cached_keys_values

__all__ = ["sinusoids", "WhisperAttention", "WhisperEncoder", "WhisperDecoder", "WhisperForConditionalGeneration"]


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's ``(length, channels)`` encoder positions: sines then cosines of geometric timescales."""
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length).view(-1, 1) * inv_timescales.view(1, -1)
    return torch.cat([scaled_time.sin(), scaled_time.cos()], dim=1)


class WhisperAttention(nn.Module):
    """Multi-head attention scaled by ``head_dim ** -0.5``; ``k_proj`` has no bias."""

    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.dropout = dropout
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model)
        self.q_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def _keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._heads(self.k_proj(source)), self._heads(self.v_proj(source))

    def forward(self, x: torch.Tensor, key_value_states: torch.Tensor | None = None, past: tuple | None = None,
                causal: bool = False) -> tuple[torch.Tensor, tuple]:
        """Self-attention over ``x`` (cached keys/values in ``past`` prepended) or cross-attention over
        ``key_value_states`` (projected once, then reused from ``past``).

        Returns:
            ``(batch, length, d_model)`` and the keys/values to cache.
        """
        q = self._heads(self.q_proj(x))
        k, v = cached_keys_values(self._keys_values, x, key_value_states, past)
        mask = None
        if causal and q.shape[2] > 1:
            past_length = k.shape[2] - q.shape[2]
            mask = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=x.device).tril(past_length)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.head_dim ** -0.5,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)), (k, v)


def _add_feed_forward(layer: nn.Module, config, ffn_dim: int) -> None:
    """Give ``layer`` the modules of :func:`_feed_forward` (``fc1``, ``fc2``, ``final_layer_norm``, in 🤗's order after
    the attention modules, so the state dict keeps 🤗's key order) and its dropout rates."""
    layer.fc1 = nn.Linear(config.d_model, ffn_dim)
    layer.fc2 = nn.Linear(ffn_dim, config.d_model)
    layer.final_layer_norm = nn.LayerNorm(config.d_model)
    layer.act = ACTIVATIONS[config.activation_function]
    layer.dropout, layer.activation_dropout = config.dropout, config.activation_dropout


def _feed_forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The pre-norm ``fc1 -> activation -> fc2`` half of a layer (its modules live on the layer, for 🤗's names)."""
    residual = x
    x = layer.act(layer.fc1(layer.final_layer_norm(x)))
    x = F.dropout(x, layer.activation_dropout, layer.training)
    return residual + F.dropout(layer.fc2(x), layer.dropout, layer.training)


class WhisperEncoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.d_model
        self.self_attn = WhisperAttention(d, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        _add_feed_forward(self, config, config.encoder_ffn_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended, _ = self.self_attn(self.self_attn_layer_norm(x))
        x = x + F.dropout(attended, self.dropout, self.training)
        return _feed_forward(self, x)


class WhisperDecoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.d_model
        self.self_attn = WhisperAttention(d, config.decoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = WhisperAttention(d, config.decoder_attention_heads, config.attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        _add_feed_forward(self, config, config.decoder_ffn_dim)

    def forward(self, x: torch.Tensor, encoder_states: torch.Tensor, past: tuple | None = None):
        attended, self_kv = self.self_attn(self.self_attn_layer_norm(x), past=past[:2] if past else None, causal=True)
        x = x + F.dropout(attended, self.dropout, self.training)
        attended, cross_kv = self.encoder_attn(self.encoder_attn_layer_norm(x), key_value_states=encoder_states,
                                               past=past[2:] if past else None)
        x = x + F.dropout(attended, self.dropout, self.training)
        return _feed_forward(self, x), (*self_kv, *cross_kv)


def _layer_kept(module: nn.Module, layerdrop: float) -> bool:
    """LayerDrop (training only): skip a whole layer with probability ``layerdrop``."""
    return not (module.training and layerdrop > 0.0 and float(torch.rand([])) < layerdrop)


class WhisperEncoder(nn.Module):
    """``conv1``/``conv2`` (GELU, stride 1 then 2), frozen sinusoidal ``embed_positions``, layers, ``layer_norm``."""

    def __init__(self, config, num_layers: int):
        super().__init__()
        d = config.d_model
        self.max_source_positions = config.max_source_positions
        self.conv1 = nn.Conv1d(config.num_mel_bins, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(config.max_source_positions, d)
        self.embed_positions.requires_grad_(False)  # fixed sinusoids, as in Whisper: never trained
        self.layers = nn.ModuleList(WhisperEncoderLayer(config) for _ in range(num_layers))
        self.layer_norm = nn.LayerNorm(d)
        self.dropout, self.layerdrop = config.dropout, config.encoder_layerdrop

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        """``(batch, num_mel_bins, 2 * max_source_positions)`` features -> ``(batch, max_source_positions, d_model)``.

        Raises:
            ValueError: the features do not have exactly ``2 * max_source_positions`` frames.
        """
        expected = 2 * self.max_source_positions
        if input_features.dim() != 3 or input_features.shape[-1] != expected:
            raise ValueError(
                f"Whisper expects input_features of shape (batch, num_mel_bins, {expected}) (2 * max_source_positions "
                f"= {self.max_source_positions}), got {tuple(input_features.shape)}. The feature extractor's "
                f"chunk_length * sampling_rate / hop_length must equal {expected}.")
        x = F.gelu(self.conv1(input_features))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = F.dropout(x + self.embed_positions.weight, self.dropout, self.training)
        for layer in self.layers:
            if _layer_kept(self, self.layerdrop):
                x = layer(x)
        return self.layer_norm(x)


class WhisperDecoder(nn.Module):
    """``embed_tokens`` (``padding_idx`` = pad id), learnt ``embed_positions``, layers, ``layer_norm``."""

    def __init__(self, config):
        super().__init__()
        d = config.d_model
        self.max_target_positions = config.max_target_positions
        self.embed_tokens = nn.Embedding(config.vocab_size, d, config.pad_token_id)
        self.embed_positions = nn.Embedding(config.max_target_positions, d)
        self.layers = nn.ModuleList(WhisperDecoderLayer(config) for _ in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(d)
        self.dropout, self.layerdrop = config.dropout, config.decoder_layerdrop

    def forward(self, input_ids: torch.Tensor, encoder_states: torch.Tensor, past: list | None = None):
        """Hidden states of ``input_ids`` (positions continue after ``past``) and the per-layer cache
        ``(self_k, self_v, cross_k, cross_v)``.

        Raises:
            ValueError: the decoder sequence would run past ``max_target_positions``.
        """
        past_length = past[0][0].shape[2] if past else 0
        end = past_length + input_ids.shape[1]
        if end > self.max_target_positions:
            raise ValueError(f"The decoder sequence reaches {end} tokens, more than max_target_positions="
                             f"{self.max_target_positions}; shorten the labels or generate fewer tokens.")
        x = self.embed_tokens(input_ids) + self.embed_positions.weight[past_length:end]
        x = F.dropout(x, self.dropout, self.training)
        presents = []
        for i, layer in enumerate(self.layers):
            if not _layer_kept(self, self.layerdrop):
                presents.append(past[i] if past else None)
                continue
            x, present = layer(x, encoder_states, past[i] if past else None)
            presents.append(present)
        return self.layer_norm(x), presents


class WhisperModel(nn.Module):
    def __init__(self, config, encoder_layers: int):
        super().__init__()
        self.encoder = WhisperEncoder(config, encoder_layers)
        self.decoder = WhisperDecoder(config)


class WhisperForConditionalGeneration(nn.Module):
    """``model`` (encoder + decoder) and ``proj_out`` (no bias, tied to the decoder's ``embed_tokens``).

    Args:
        config: the Whisper config.
        encoder_layers: the encoder's depth (Hezar's effective value, see the config).
    """

    def __init__(self, config, encoder_layers: int):
        super().__init__()
        self.model = WhisperModel(config, encoder_layers)
        self.proj_out = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.proj_out.weight = self.model.decoder.embed_tokens.weight
        self._init_weights(config)

    def _init_weights(self, config) -> None:
        """🤗's Whisper initialisation: normal(0, init_std) weights, zero biases, zero pad embedding, sinusoids."""
        for module in self.model.modules():  # proj_out is the token embedding: initialised there
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                nn.init.normal_(module.weight, std=config.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=config.init_std)
                if module.padding_idx is not None:
                    nn.init.zeros_(module.weight[module.padding_idx])
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        positions = self.model.encoder.embed_positions.weight
        with torch.no_grad():
            positions.copy_(sinusoids(*positions.shape))
