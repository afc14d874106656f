"""Building blocks of a small Conformer encoder (Gulati et al., 2020) with an exact padding mask.

Every module keeps padded frames from leaking into real ones: convolutions see zeros past each sequence's end (as if
the sequence were alone in the batch) and attention never attends to padded keys, so a sample's outputs on its real
frames do not depend on how much padding its batch adds.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["frame_mask", "subsampled_lengths", "ConvSubsampling", "ConformerBlock", "ConformerEncoder"]


def frame_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``(B, max_length)`` bool mask, True on the first ``lengths[b]`` frames of each row."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def subsampled_lengths(lengths: torch.Tensor | int, num_stages: int):
    """Frame counts after ``num_stages`` stride-2 convolutions (kernel 3, padding 1): ``L -> (L - 1) // 2 + 1`` each."""
    for _ in range(num_stages):
        lengths = (lengths - 1) // 2 + 1
    return lengths


class ConvSubsampling(nn.Module):
    """Stride-2 ``Conv2d`` stages over (time, mel) followed by a linear projection to ``d_model``.

    Args:
        num_mel_bins: feature bins per input frame.
        channels: convolution channels.
        d_model: output width.
        num_stages: number of stride-2 stages (time is reduced ``2 ** num_stages`` times).
    """

    def __init__(self, num_mel_bins: int, channels: int, d_model: int, num_stages: int):
        super().__init__()
        self.num_stages = num_stages
        self.convs = nn.ModuleList(
            nn.Conv2d(1 if i == 0 else channels, channels, kernel_size=3, stride=2, padding=1) for i in range(num_stages)
        )
        self.proj = nn.Linear(channels * subsampled_lengths(num_mel_bins, num_stages), d_model)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, mels)`` features and ``(B,)`` lengths -> ``(B, T', d_model)`` and ``(B,)`` subsampled lengths."""
        x = features.unsqueeze(1)
        for conv in self.convs:
            # Zero the padded frames so each conv sees what it would see at the end of an unpadded sequence.
            x = x * frame_mask(lengths, x.shape[2])[:, None, :, None].to(x.dtype)
            x = F.relu(conv(x))
            lengths = subsampled_lengths(lengths, 1)
        batch, channels, time, freq = x.shape
        return self.proj(x.transpose(1, 2).reshape(batch, time, channels * freq)), lengths


def sinusoidal_positions(length: int, d_model: int, device, dtype) -> torch.Tensor:
    """``(length, d_model)`` fixed sinusoidal position encodings (Vaswani et al., 2017)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    scale = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model, device=device)
    table[:, 0::2] = torch.sin(position * scale)
    table[:, 1::2] = torch.cos(position * scale[: d_model // 2])
    return table.to(dtype)


class FeedForward(nn.Module):
    """Pre-norm position-wise feed-forward module with SiLU."""

    def __init__(self, d_model: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, ff_dim)
        self.linear2 = nn.Linear(ff_dim, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.linear2(self.dropout(F.silu(self.linear1(self.norm(x))))))


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention that ignores padded keys."""

    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.attention_dropout = dropout
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = self.qkv(self.norm(x)).view(batch, time, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None, None, :], dropout_p=self.attention_dropout if self.training else 0.0)
        return self.dropout(self.out(attended.transpose(1, 2).reshape(batch, time, width)))


class ConvModule(nn.Module):
    """Conformer convolution module: pointwise conv + GLU, depthwise conv, norm, SiLU, pointwise conv.

    LayerNorm replaces the paper's BatchNorm, whose batch statistics would mix padded frames and other samples in.
    """

    def __init__(self, d_model: int, kernel_size: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, kernel_size=1)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)
        self.depthwise_norm = nn.LayerNorm(d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, kernel_size=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = F.glu(self.pointwise_in(self.norm(x).transpose(1, 2)), dim=1)
        y = self.depthwise(y * mask[:, None, :].to(y.dtype))
        y = F.silu(self.depthwise_norm(y.transpose(1, 2)))
        return self.dropout(self.pointwise_out(y.transpose(1, 2)).transpose(1, 2))


class ConformerBlock(nn.Module):
    """Half-step feed-forward, self-attention, convolution, half-step feed-forward, final LayerNorm."""

    def __init__(self, d_model: int, num_heads: int, ff_dim: int, kernel_size: int, dropout: float):
        super().__init__()
        self.ff1 = FeedForward(d_model, ff_dim, dropout)
        self.attention = SelfAttention(d_model, num_heads, dropout)
        self.conv = ConvModule(d_model, kernel_size, dropout)
        self.ff2 = FeedForward(d_model, ff_dim, dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.attention(x, mask)
        x = x + self.conv(x, mask)
        x = x + 0.5 * self.ff2(x)
        return self.norm(x)


class ConformerEncoder(nn.Module):
    """Sinusoidal positions + a stack of :class:`ConformerBlock` over ``(B, T, d_model)`` with a ``(B, T)`` mask."""

    def __init__(self, d_model: int, num_layers: int, num_heads: int, ff_dim: int, kernel_size: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            ConformerBlock(d_model, num_heads, ff_dim, kernel_size, dropout) for _ in range(num_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.dropout(x + sinusoidal_positions(x.shape[1], x.shape[2], x.device, x.dtype))
        for layer in self.layers:
            x = layer(x, mask)
        return x
