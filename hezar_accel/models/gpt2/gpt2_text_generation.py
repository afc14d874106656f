"""GPT-2 for text generation (causal LM), config- and weight-compatible with Hezar's ``GPT2TextGeneration``.

Parameters are named as in Hezar, which wraps 🤗 ``GPT2LMHeadModel`` as ``self.gpt2``: ``gpt2.transformer.wte``,
``gpt2.transformer.wpe``, ``gpt2.transformer.h.<i>.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}``,
``gpt2.transformer.ln_f`` and ``gpt2.lm_head`` (tied to ``wte``), with GPT-2's ``Conv1D`` layout (weights are
``(in, out)``). A bare 🤗/OpenAI ``GPT2LMHeadModel`` state dict (no ``gpt2.`` prefix, with or without the old
``attn.bias`` mask buffers) loads too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ...configs import ModelConfig
from ...constants import TaskType
from ...registry import register_model
from ..bert.common import find_tokenizer
from ..model import Model
from .generation import choose_next_tokens, decode, left_align
from .modules import ACTIVATIONS, GPT2LMHead

__all__ = ["GPT2TextGenerationConfig", "GPT2TextGeneration"]

IGNORE_INDEX = -100
_HF_PREFIXES = ("transformer.", "lm_head.")
_OLD_BUFFERS = (".attn.bias", ".attn.masked_bias")


@dataclass
class GPT2TextGenerationConfig(ModelConfig):
    """Config of :class:`GPT2TextGeneration`: 🤗 ``GPT2Config`` fields (Hezar's names and defaults) + generation.

    Args:
        vocab_size, n_positions, n_embd, n_layer, n_head, n_inner (None = 4 * n_embd): sizes.
        activation_function: ``gelu_new`` (GPT-2), ``gelu``, ``relu``, ``silu``.
        resid_pdrop, embd_pdrop, attn_pdrop: dropout rates. layer_norm_epsilon, initializer_range: as in GPT-2.
        bos_token_id, eos_token_id, pad_token_id: special ids (pad None = eos); must match the tokenizer.
        max_new_tokens, do_sample, temperature, top_k, top_p: default generation settings (``generate`` arguments
            override them); saved in ``model_config.yaml``, so a model folder carries its generation settings.
        use_cache: default of ``generate(use_cache=...)``.
        add_cross_attention, model_type, n_ctx, gradient_checkpointing, summary_activation, summary_first_dropout,
            generation: Hezar's nested decoding settings; not used here, kept so Hezar's configs round-trip. None
            (a model made here): written as :meth:`hezar_generation`, so Hezar decodes like this package.
    """

    name: str = "gpt2_text_generation"
    task: str = TaskType.TEXT_GENERATION.value
    vocab_size: int = 42001
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    bos_token_id: int = 0
    eos_token_id: int = 2
    pad_token_id: int | None = 1
    max_new_tokens: int = 50
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    use_cache: bool = True
    add_cross_attention: bool = False
    model_type: str = "gpt2"
    n_ctx: int | None = None
    gradient_checkpointing: bool = False
    summary_activation: Any = None
    summary_first_dropout: float | None = 0.1
    generation: dict | None = None

    @classmethod
    def from_dict(cls, data: dict, strict: bool = True, **overrides):
        """As :meth:`ModelConfig.from_dict`; a ``generation`` block that :meth:`saved_dict` derived from the flat
        settings is dropped, so it is derived again (not copied stale) when those settings change and are saved."""
        config = super().from_dict(data, strict=strict, **overrides)
        if config.generation is not None and config.generation == config.hezar_generation():
            return dataclasses.replace(config, generation=None)
        return config

    def hezar_generation(self) -> dict:
        """This config's decoding settings as Hezar's ``generation`` block (🤗 ``GenerationConfig`` arguments).

        Hezar's ``generate``/``predict`` then decode a folder saved here as :meth:`GPT2TextGeneration.generate`
        does (greedy or sampling, one beam, this config's token limit and ids), not with Hezar's defaults (4 beams,
        50 new tokens, no repeated trigrams).
        """
        settings = {"bos_token_id": self.bos_token_id, "eos_token_id": self.eos_token_id,
                    "pad_token_id": self.eos_token_id if self.pad_token_id is None else self.pad_token_id,
                    "max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample, "num_beams": 1,
                    "use_cache": self.use_cache}
        if self.do_sample:  # 🤗 warns about sampling settings under greedy decoding; its top_k default is 50, not off
            settings.update(temperature=self.temperature, top_k=self.top_k or 0, top_p=self.top_p or 1.0)
        return settings

    def saved_dict(self) -> dict:
        """Also write ``summary_activation`` when None: left out, Hezar's default ``False`` applies, which
        transformers 5's strict ``GPT2Config`` rejects (so Hezar could not load the folder). ``generation``: Hezar's
        own block when the config came from Hezar, else :meth:`hezar_generation`."""
        generation = self.generation if self.generation is not None else self.hezar_generation()
        return {**super().saved_dict(), "summary_activation": self.summary_activation, "generation": generation}

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            if getattr(self, name) < 1:
                problems.append(f"{name}: {getattr(self, name)} must be a positive integer")
        if self.n_head > 0 and self.n_embd % self.n_head:
            problems.append(f"n_embd: {self.n_embd} must be divisible by n_head ({self.n_head})")
        if self.activation_function not in ACTIVATIONS:
            problems.append(f"activation_function: {self.activation_function!r}; use one of {sorted(ACTIVATIONS)}")
        if self.temperature <= 0:
            problems.append(f"temperature: {self.temperature} must be > 0")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            problems.append(f"top_p: {self.top_p} must be in (0, 1] or null")
        if self.max_new_tokens < 0 or (self.top_k is not None and self.top_k < 0):
            problems.append("max_new_tokens / top_k: must be >= 0")
        return problems


@register_model("gpt2_text_generation", GPT2TextGenerationConfig)
class GPT2TextGeneration(Model):
    """A GPT-2 decoder-only language model for generation (translation, summarization, chat as prompt -> answer).

    Args:
        config: the model config; never mutated.
    """

    is_generative = True
    tokenizer_name = "bpe_tokenizer"

    def __init__(self, config: GPT2TextGenerationConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.gpt2 = GPT2LMHead(config)

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                past_key_values: list | None = None, use_cache: bool = False,
                position_ids: torch.Tensor | None = None, **kwargs) -> dict[str, Any]:
        """Next-token logits for every position.

        Args:
            token_ids: ``(batch, length)`` ids (the new ones only when ``past_key_values`` is given).
            attention_mask: ``(batch, past + length)``, 1 on real tokens; left or right padding both work.
            past_key_values: the cache returned by an earlier call with ``use_cache=True``.
            use_cache: also return the keys/values of all positions.
            position_ids: ``(batch, length)``; default: the number of real tokens before each token.
            **kwargs: other batch keys (``labels``, ``prompt_ids`` ...) are ignored.

        Returns:
            ``{"logits": (batch, length, vocab_size)}`` plus ``past_key_values`` when ``use_cache``.
        """
        logits, presents = self.gpt2(token_ids, attention_mask, position_ids, past_key_values, use_cache)
        outputs = {"logits": logits}
        if use_cache:
            outputs["past_key_values"] = presents
        return outputs

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean next-token cross-entropy: position t predicts ``labels[t + 1]`` (labels aligned with ``token_ids``);
        labels of -100 (prompt, padding) are ignored."""
        shifted_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
        return F.cross_entropy(shifted_logits.float(), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)

    @torch.inference_mode()
    def generate(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 max_new_tokens: int | None = None, do_sample: bool | None = None, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None, eos_token_id: int | None = None,
                 pad_token_id: int | None = None, use_cache: bool | None = None,
                 generator: torch.Generator | None = None, prompt_ids: torch.Tensor | None = None,
                 prompt_attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """Continue prompts with greedy decoding or sampling, stopping each row at EOS.

        Args:
            token_ids: ``(batch, length)`` prompt ids; padded batches may be left- or right-padded (they are
                left-aligned here, so positions and the cache stay right).
            attention_mask: 1 on real prompt tokens (None = no padding).
            max_new_tokens, do_sample, temperature, top_k, top_p, use_cache: None = the config's value.
            eos_token_id / pad_token_id: None = the config's (pad falls back to eos).
            generator: RNG for sampling (None = torch's global RNG; seed it with ``torch.manual_seed``).
            prompt_ids / prompt_attention_mask: when given, they are the prompts instead of ``token_ids`` (the
                evaluation batches of ``TextGenerationDataset`` carry the full teacher-forced sequence in
                ``token_ids`` for the loss and the prompt alone here for generation).
            **kwargs: other batch keys are ignored.

        Returns:
            ``(batch, generated_length)`` continuation ids (prompt excluded), EOS included, then ``pad_token_id``.

        Raises:
            ValueError: the prompt leaves no room below ``n_positions``.
        """
        if prompt_ids is not None:
            token_ids, attention_mask = prompt_ids, prompt_attention_mask
        c = self.config
        pad = next(i for i in (pad_token_id, c.pad_token_id, eos_token_id, c.eos_token_id, 0) if i is not None)
        if attention_mask is None:
            attention_mask = torch.ones_like(token_ids)
        token_ids, attention_mask = left_align(token_ids, attention_mask)
        room = c.n_positions - token_ids.shape[1]
        max_new = min(c.max_new_tokens if max_new_tokens is None else max_new_tokens, room)
        if room <= 0:
            raise ValueError(f"The prompts are {token_ids.shape[1]} tokens long; n_positions={c.n_positions} leaves no "
                             "room to generate. Shorten the prompts.")

        def choose(logits):
            return choose_next_tokens(logits, c.do_sample if do_sample is None else do_sample,
                                      c.temperature if temperature is None else temperature,
                                      c.top_k if top_k is None else top_k, c.top_p if top_p is None else top_p,
                                      generator)

        def step(inputs, mask, past):
            logits, presents = self.gpt2(inputs, mask, None, past, use_cache=True)
            return logits[:, -1], presents

        return decode(step, token_ids, attention_mask, max_new, choose,
                      c.eos_token_id if eos_token_id is None else eos_token_id, pad,
                      c.use_cache if use_cache is None else use_cache)

    def preprocess(self, inputs: str | list[str], max_length: int | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Encode prompts as the training data frames them (see ``encode_prompts``), left-padded.

        Args:
            inputs: a prompt or a list of prompts.
            max_length: most prompt tokens (default: half of ``n_positions``).

        Returns:
            ``token_ids`` and ``attention_mask`` on the model's device.

        Raises:
            ValueError: no tokenizer is attached.
        """
        from ...preprocessors.tokenizers.bpe import encode_prompts

        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        prompts = [inputs] if isinstance(inputs, str) else list(inputs)
        rows = encode_prompts(tokenizer, prompts, max_length or self.config.n_positions // 2)
        longest = max(len(r) for r in rows)
        pad = self.config.pad_token_id if self.config.pad_token_id is not None else self.config.eos_token_id
        token_ids = torch.tensor([[pad] * (longest - len(r)) + r for r in rows], device=self.device)
        attention_mask = torch.tensor([[0] * (longest - len(r)) + [1] * len(r) for r in rows], device=self.device)
        return {"token_ids": token_ids, "attention_mask": attention_mask}

    def post_process(self, generated_ids: torch.Tensor, **kwargs) -> list[dict[str, str]]:
        """Decode generated ids (special tokens dropped) into ``[{"generated_text": ...}]``, one per prompt."""
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        texts = tokenizer.batch_decode(generated_ids.cpu().tolist(), skip_special_tokens=True)
        return [{"generated_text": text.strip()} for text in texts]

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load Hezar-named weights, or a bare 🤗 ``GPT2LMHeadModel`` state dict (its keys get the ``gpt2.`` prefix
        here, and the old causal-mask buffers ``attn.bias``/``attn.masked_bias`` are dropped).

        ``lm_head.weight`` is ``wte.weight``: a file without it (🤗 safetensors leave tied weights out) still loads
        every weight, and the key is reported missing as safetensors' ``load_model`` expects; load such a file with
        ``Model.load(..., strict=False)``.
        """
        state = {("gpt2." + k if k.startswith(_HF_PREFIXES) else k): v for k, v in state_dict.items()
                 if not k.endswith(_OLD_BUFFERS)}
        return super().load_state_dict(state, strict=strict, assign=assign)
