"""GPT-2 building blocks in pure torch, with 🤗 ``GPT2LMHeadModel`` parameter names and shapes.

Linear layers are GPT-2's ``Conv1D``: the weight is stored as ``(in_features, out_features)`` (the transpose of
``nn.Linear``) and applied as ``x @ W + b``, so ``attn.c_attn.weight`` is ``(n_embd, 3 * n_embd)`` exactly as in
OpenAI's and 🤗's checkpoints, which therefore load without any transposing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Conv1D", "GPT2Attention", "GPT2MLP", "GPT2Block", "GPT2Transformer", "GPT2LMHead", "ACTIVATIONS",
           "attention_bias", "KVCache"]

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (keys, values), each (batch, heads, length, head_dim)

ACTIVATIONS = {
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu": F.gelu,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


class Conv1D(nn.Module):
    """GPT-2's linear layer: ``weight`` is ``(in_features, out_features)``; output ``x @ weight + bias``."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


def attention_bias(attention_mask: torch.Tensor | None, query_length: int, key_length: int,
                   device: torch.device) -> torch.Tensor | None:
    """Boolean ``(batch, 1, query, key)`` mask, True where a query may attend: causal and not a padding key.

    Args:
        attention_mask: ``(batch, key_length)`` 1 on real tokens (cached ones included), or None.
        query_length / key_length: the new tokens and all tokens (past + new).

    Returns:
        The mask, or None when there is no padding and no cache (SDPA's ``is_causal`` is then used).
    """
    past = key_length - query_length
    if attention_mask is None and past == 0:
        return None
    causal = torch.ones(query_length, key_length, dtype=torch.bool, device=device).tril(diagonal=past)
    if attention_mask is None:
        return causal[None, None]
    allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
    # A padding query sees no real key; letting it see itself keeps softmax finite (an all-masked row gives NaN,
    # which the values of later layers would carry even to real tokens through 0 * NaN).
    rows = torch.arange(query_length, device=device)
    allowed[:, :, rows, past + rows] = True
    return allowed


class GPT2Attention(nn.Module):
    """Multi-head causal self-attention (SDPA) with an optional key/value cache."""

    def __init__(self, n_embd: int, n_head: int, attn_pdrop: float, resid_pdrop: float):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.n_head, self.head_dim = n_head, n_embd // n_head
        self.c_attn = Conv1D(n_embd, 3 * n_embd)
        self.c_proj = Conv1D(n_embd, n_embd)
        self.attn_pdrop = attn_pdrop
        self.resid_dropout = nn.Dropout(resid_pdrop)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None, past: tuple | None = None):
        batch, length, _ = x.shape
        q, k, v = (t.view(batch, length, self.n_head, self.head_dim).transpose(1, 2)
                   for t in self.c_attn(x).split(self.n_head * self.head_dim, dim=-1))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=bias is None,
                                             dropout_p=self.attn_pdrop if self.training else 0.0)
        out = out.transpose(1, 2).reshape(batch, length, -1)
        return self.resid_dropout(self.c_proj(out)), (k, v)


class GPT2MLP(nn.Module):
    """Position-wise feed-forward: ``c_proj(act(c_fc(x)))`` with residual dropout."""

    def __init__(self, n_embd: int, n_inner: int, activation: str, resid_pdrop: float):
        super().__init__()
        self.c_fc = Conv1D(n_embd, n_inner)
        self.c_proj = Conv1D(n_inner, n_embd)
        self.act = ACTIVATIONS[activation]
        self.dropout = nn.Dropout(resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config):
        super().__init__()
        n_embd = config.n_embd
        self.ln_1 = nn.LayerNorm(n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(n_embd, config.n_head, config.attn_pdrop, config.resid_pdrop)
        self.ln_2 = nn.LayerNorm(n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(n_embd, config.n_inner or 4 * n_embd, config.activation_function, config.resid_pdrop)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None, past: tuple | None = None):
        attended, present = self.attn(self.ln_1(x), bias, past)
        x = x + attended
        return x + self.mlp(self.ln_2(x)), present


class GPT2Transformer(nn.Module):
    """Token + position embeddings, ``n_layer`` blocks, final LayerNorm (🤗 ``GPT2Model`` names)."""

    def __init__(self, config):
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPT2Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                use_cache: bool = False) -> tuple[torch.Tensor, KVCache | None]:
        """Hidden states ``(batch, length, n_embd)`` of the new tokens, and the updated cache when ``use_cache``.

        ``attention_mask`` covers cached and new tokens; positions default to the count of real tokens before each
        token, so left padding does not shift them.
        """
        length = token_ids.shape[1]
        past_length = past_key_values[0][0].shape[2] if past_key_values else 0
        if position_ids is None:
            if attention_mask is None:
                position_ids = torch.arange(past_length, past_length + length, device=token_ids.device)[None]
            else:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -length:]
        x = self.drop(self.wte(token_ids) + self.wpe(position_ids))
        bias = attention_bias(attention_mask, length, past_length + length, token_ids.device)
        presents = []
        for i, block in enumerate(self.h):
            x, present = block(x, bias, past_key_values[i] if past_key_values else None)
            presents.append(present)
        return self.ln_f(x), (presents if use_cache else None)


class GPT2LMHead(nn.Module):
    """``transformer`` + ``lm_head`` (no bias, weight tied to ``transformer.wte``), as 🤗 ``GPT2LMHeadModel``."""

    def __init__(self, config):
        super().__init__()
        self.transformer = GPT2Transformer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight
        self._init_weights(config)

    def _init_weights(self, config) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Embedding, Conv1D)):
                nn.init.normal_(module.weight, std=config.initializer_range)
            if isinstance(module, Conv1D):
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # GPT-2 scales the residual projections by 1/sqrt(2 * n_layer) so the residual stream's variance stays put.
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(parameter, std=config.initializer_range / math.sqrt(2 * config.n_layer))

    def forward(self, token_ids: torch.Tensor, attention_mask=None, position_ids=None, past_key_values=None,
                use_cache: bool = False) -> tuple[torch.Tensor, KVCache | None]:
        hidden, presents = self.transformer(token_ids, attention_mask, position_ids, past_key_values, use_cache)
        return self.lm_head(hidden), presents
