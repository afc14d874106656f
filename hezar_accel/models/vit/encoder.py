"""A pure-torch ViT encoder with 🤗 transformers 5's ``ViTModel`` parameter names.

``embeddings.{cls_token, position_embeddings, patch_embeddings.projection}``, ``layers.<i>.attention.{q,k,v,o}_proj``,
``layers.<i>.{layernorm_before, layernorm_after}``, ``layers.<i>.mlp.{fc1, fc2}``, ``layernorm`` and ``pooler.dense``:
what Hezar 1.0 saves on transformers 5. State dicts from transformers 4 (``encoder.layer.<i>.attention.attention.query``
...) are renamed on load by :func:`rename_legacy_vit_keys`, as 🤗's own loader does.

Each layer is pre-norm: ``x + attention(layernorm_before(x))``, then ``x + mlp(layernorm_after(x))``; the attention
math is BERT's :func:`~hezar_accel.models.bert.encoder.multi_head_attention` (no padding: every patch is real).
"""

from __future__ import annotations

import re

import torch
from torch import nn

from ..bert.encoder import ACTIVATIONS, multi_head_attention
from .config import ViTEncoderConfig

__all__ = ["ViTModel", "rename_legacy_vit_keys", "init_vit_weights"]

# transformers 4 ViT names -> transformers 5 names (🤗's conversion mapping for ViTModel), applied in this order.
_LEGACY_RENAMES = [
    (r"\.encoder\.layer\.(\d+)\.", r".layers.\1."),
    (r"\.attention\.attention\.(query|key|value)\.", lambda m: f".attention.{m.group(1)[0]}_proj."),
    (r"\.attention\.output\.dense\.", ".attention.o_proj."),
    (r"\.intermediate\.dense\.", ".mlp.fc1."),
    (r"\.output\.dense\.", ".mlp.fc2."),
]


def rename_legacy_vit_keys(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """``state`` with the transformers 4 names of the ViT under ``prefix`` (e.g. ``vit_roberta.encoder.``) renamed
    to this module's; other keys are kept as they are."""
    renamed = {}
    for key, tensor in state.items():
        if key.startswith(prefix) and f"{prefix}encoder.layer." in key:
            tail = "." + key[len(prefix):]
            for pattern, replacement in _LEGACY_RENAMES:
                tail = re.sub(pattern, replacement, tail)
            key = prefix + tail[1:]
        renamed[key] = tensor
    return renamed


def init_vit_weights(module: nn.Module, std: float) -> None:
    """🤗's ViT initialisation: truncated normal(0, std) weights, zero biases, LayerNorm 1/0."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, ViTEmbeddings):
        nn.init.trunc_normal_(module.position_embeddings, mean=0.0, std=std)
        nn.init.trunc_normal_(module.cls_token, mean=0.0, std=std)


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, config: ViTEncoderConfig):
        super().__init__()
        patch = config.patch_height_width
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=patch, stride=patch)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    """``[CLS]`` + one embedding per patch, plus learned positions."""

    def __init__(self, config: ViTEncoderConfig):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_patches + 1, config.hidden_size))
        self.patch_embeddings = ViTPatchEmbeddings(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.image_size = config.image_height_width
        self.num_channels = config.num_channels

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != (self.num_channels, *self.image_size):
            raise ValueError(
                f"pixel_values must be (batch, {self.num_channels}, {self.image_size[0]}, {self.image_size[1]}) for "
                f"this ViT (encoder image_size / num_channels), got {tuple(pixel_values.shape)}; set the image "
                f"processor's size to [{self.image_size[1]}, {self.image_size[0]}] (width, height) and gray_scale to "
                f"{self.num_channels == 1}")
        patches = self.patch_embeddings(pixel_values.to(self.cls_token.dtype))
        embeddings = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        return self.dropout(embeddings + self.position_embeddings)


class ViTAttention(nn.Module):
    def __init__(self, config: ViTEncoderConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.dropout_prob = config.attention_probs_dropout_prob
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        context = multi_head_attention(self.q_proj(hidden_states), self.k_proj(hidden_states),
                                       self.v_proj(hidden_states), self.num_heads, None,
                                       self.dropout_prob if self.training else 0.0)
        return self.o_proj(context)


class ViTMLP(nn.Module):
    def __init__(self, config: ViTEncoderConfig):
        super().__init__()
        self.act = ACTIVATIONS[config.hidden_act]
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(hidden_states)))


class ViTLayer(nn.Module):
    def __init__(self, config: ViTEncoderConfig):
        super().__init__()
        self.attention = ViTAttention(config)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = ViTMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states + self.dropout(self.attention(self.layernorm_before(hidden_states)))
        return hidden_states + self.dropout(self.mlp(self.layernorm_after(hidden_states)))


class ViTPooler(nn.Module):
    def __init__(self, config: ViTEncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.pooler_output_size or config.hidden_size)
        self.act = ACTIVATIONS[config.pooler_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(hidden_states[:, 0]))


class ViTModel(nn.Module):
    """🤗 ``ViTModel(config)`` (pooler included, as Hezar builds it).

    Args:
        config: a :class:`ViTEncoderConfig`; read, never changed.
    """

    def __init__(self, config: ViTEncoderConfig):
        super().__init__()
        self.embeddings = ViTEmbeddings(config)
        self.layers = nn.ModuleList(ViTLayer(config) for _ in range(config.num_hidden_layers))
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = ViTPooler(config)
        self.apply(lambda m: init_vit_weights(m, config.initializer_range))
        # An image-to-text decoder reads the patch states, never the pooled [CLS]: frozen, so DDP does not wait for
        # gradients that never come (its weights are still saved and loaded under Hezar's names).
        self.pooler.requires_grad_(False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(batch, 1 + num_patches, hidden_size)`` encoder states (the pooler is not run).

        Raises:
            ValueError: images of another size or channel count than the config's.
        """
        hidden_states = self.embeddings(pixel_values)
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        return self.layernorm(hidden_states)
