"""T5 for text-to-text generation (summarization, translation ...), config- and weight-compatible with Hezar's
``T5TextGeneration``.

Parameters are named as in Hezar, which wraps 🤗 ``T5ForConditionalGeneration`` as ``self.t5``: ``t5.shared``,
``t5.encoder.embed_tokens`` and ``t5.decoder.embed_tokens`` (one tensor), ``t5.{encoder,decoder}.block.<i>.layer.<j>``
(``SelfAttention``/``EncDecAttention`` ``q k v o`` + ``relative_attention_bias`` in block 0, ``DenseReluDense``,
``layer_norm``), ``t5.{encoder,decoder}.final_layer_norm`` and ``t5.lm_head``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ...configs import ModelConfig
from ...constants import TaskType
from ...registry import register_model
from ..bert.common import find_tokenizer
from ..generation import token_rules
from ..gpt2.modules import ACTIVATIONS
from ..seq2seq import EncoderDecoderModel, beam_settings, generation_problems
from .modules import T5ForConditionalGeneration, feed_forward_kind

__all__ = ["T5TextGenerationConfig", "T5TextGeneration"]

_POSITIVE = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
             "relative_attention_num_buckets", "relative_attention_max_distance")


@dataclass
class T5TextGenerationConfig(ModelConfig):
    """Config of :class:`T5TextGeneration`: Hezar's keys and defaults (🤗 ``T5Config`` fields) + beam settings.

    Args:
        vocab_size, d_model, d_kv (per-head width), d_ff, num_layers (encoder), num_decoder_layers, num_heads: sizes.
        relative_attention_num_buckets / relative_attention_max_distance: relative position buckets; distances past
            the maximum share the last bucket.
        dropout_rate: dropout everywhere (attention probabilities included). layer_norm_epsilon: RMS norm epsilon.
        initializer_factor: scales every initial std (1.0 = T5's).
        feed_forward_proj: ``relu`` / ``gelu`` (T5 v1.0) or ``gated-gelu`` / ``gated-relu`` / ``gated-silu`` (v1.1).
        is_encoder_decoder: always true (read by the metrics to line teacher-forced predictions up with labels).
        tie_word_embeddings: scale decoder states by ``d_model ** -0.5`` before the head (T5 v1.0). The head shares
            the embedding's weight either way, as in transformers 5, which Hezar 1.0 runs on. Hezar's default: false.
        use_cache: default of ``generate(use_cache=...)``.
        pad_token_id, decoder_start_token_id (the decoder's first input; T5 uses the pad id), eos_token_id: ids; they
            must match the tokenizer.
        min_length / max_length: fewest / most decoder tokens of a generated sequence, the start token included (as
            🤗's ``generate``, which Hezar calls with these two); 0 = no minimum.
        input_prefix: text put before every input in ``predict`` (e.g. ``"summarize: "``); None = none.
        num_beams, length_penalty, early_stopping: beam search of ``generate``/``predict`` and of the Trainer's
            evaluation (1 beam = greedy). hezar_accel's own keys: Hezar ignores them and decodes greedily.
    """

    name: str = "t5_text_generation"
    task: str = TaskType.TEXT_GENERATION.value
    vocab_size: int = 32103
    d_model: int = 768
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 12
    num_decoder_layers: int = 12
    num_heads: int = 12
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "gated-gelu"
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = False
    use_cache: bool = True
    pad_token_id: int = 0
    decoder_start_token_id: int = 0
    eos_token_id: int = 1
    min_length: int = 0
    max_length: int = 100
    input_prefix: str | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                problems.append(f"{name}: {getattr(self, name)} must be a positive integer")
        gated, activation = feed_forward_kind(self.feed_forward_proj)
        if activation not in ACTIVATIONS or len(self.feed_forward_proj.split("-")) > 2 or (
                "-" in self.feed_forward_proj and not gated):
            problems.append(f"feed_forward_proj: {self.feed_forward_proj!r}; use `<activation>` or "
                            f"`gated-<activation>` with an activation among {sorted(ACTIVATIONS)}")
        if not self.is_encoder_decoder:
            problems.append("is_encoder_decoder: T5 is an encoder-decoder model; set true")
        for name in ("pad_token_id", "decoder_start_token_id", "eos_token_id"):
            if not 0 <= getattr(self, name) < max(self.vocab_size, 1):
                problems.append(f"{name}: {getattr(self, name)} is not an id of the vocabulary (0..{self.vocab_size - 1})")
        problems += generation_problems(self)
        if self.max_length < 2:
            problems.append(f"max_length: {self.max_length} leaves no generated token (the start token counts); "
                            "use at least 2")
        if not 0 <= self.min_length <= self.max_length:
            problems.append(f"min_length: {self.min_length} must be in [0, max_length={self.max_length}]")
        if not 0.0 <= self.dropout_rate < 1.0:
            problems.append(f"dropout_rate: {self.dropout_rate} must be in [0, 1)")
        return problems


@register_model("t5_text_generation", T5TextGenerationConfig)
class T5TextGeneration(EncoderDecoderModel):
    """T5 encoder-decoder for text-to-text generation.

    Args:
        config: the model config; never mutated.
    """

    tokenizer_name = "sentencepiece_unigram_tokenizer"

    def __init__(self, config: T5TextGenerationConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.t5 = T5ForConditionalGeneration(config)
        # Hezar's T5 turns pad labels into -100 before its loss; a batch padded with the pad id trains the same.
        self.ignored_label_ids = (config.pad_token_id,)

    def encode(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Encoder states ``(batch, length, d_model)`` and the mask they came with."""
        return self.t5.encoder(token_ids, attention_mask)[0], attention_mask

    def decoder_step(self, decoder_ids, encoder_states, encoder_mask, past):
        states, presents = self.t5.decoder(decoder_ids, encoder_states=encoder_states, encoder_mask=encoder_mask,
                                           past=past)
        return self.t5.logits(states), presents

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, decoder_input_ids: torch.Tensor | None = None,
                **kwargs) -> dict[str, Any]:
        """Teacher-forced decoder logits.

        Args:
            token_ids / attention_mask: ``(batch, source_length)`` encoder input and its padding mask.
            labels: ``(batch, target_length)`` targets padded with -100; the decoder reads them shifted right.
            decoder_input_ids: explicit decoder inputs instead (one of the two is required).
            **kwargs: other batch keys are ignored.

        Returns:
            ``{"logits": (batch, target_length, vocab_size), "encoder_last_hidden_state": ...}``.

        Raises:
            ValueError: neither ``labels`` nor ``decoder_input_ids`` is given.
        """
        decoder_input_ids = self.decoder_inputs(labels, decoder_input_ids)
        encoder_states, _ = self.encode(token_ids, attention_mask)
        logits, _ = self.decoder_step(decoder_input_ids, encoder_states, attention_mask, None)
        return {"logits": logits, "encoder_last_hidden_state": encoder_states}

    @torch.inference_mode()
    def generate(self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 max_new_tokens: int | None = None, num_beams: int | None = None, length_penalty: float | None = None,
                 early_stopping: bool | str | None = None, min_length: int | None = None, max_length: int | None = None,
                 use_cache: bool | None = None, **kwargs) -> torch.Tensor:
        """Greedy decoding or beam search, as 🤗 ``T5ForConditionalGeneration.generate`` with the same settings.

        Args:
            token_ids / attention_mask: the encoder input (right padding).
            max_new_tokens: most tokens after the start token; None = ``max_length - 1``.
            num_beams, length_penalty, early_stopping, min_length, max_length, use_cache: None = the config's.
            **kwargs: other batch keys (``labels`` ...) are ignored.

        Returns:
            ``(batch, 1 + generated_length)``: the decoder start token, then the tokens, EOS included; finished rows
            are padded (with the pad id; after beam search with EOS when the pad id is 0, as transformers does).
        """
        c = self.config
        max_length = c.max_length if max_length is None else max_length
        new = max_length - 1 if max_new_tokens is None else max_new_tokens
        min_new = max((c.min_length if min_length is None else min_length) - 1, 0)
        encoder_states, mask = self.encode(token_ids, attention_mask)
        prompt = token_ids.new_full((token_ids.shape[0], 1), c.decoder_start_token_id)
        generated = self.search(encoder_states, mask, prompt, new, c.eos_token_id, c.pad_token_id,
                                **beam_settings(c, num_beams, length_penalty, early_stopping),
                                rule=token_rules(min_new_tokens=min_new, eos_token_id=c.eos_token_id),
                                use_cache=c.use_cache if use_cache is None else use_cache)
        return torch.cat([prompt, generated], dim=1)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load Hezar-named weights. A checkpoint whose ``t5.lm_head.weight`` differs from ``t5.shared.weight`` (T5
        v1.1 weights saved with transformers 4, which kept the head untied) gets a head of its own, as Hezar 1.0 ends
        up with when it loads such a file (its ``assign=True`` loading replaces the tied tensors one by one)."""
        shared, head = state_dict.get("t5.shared.weight"), state_dict.get("t5.lm_head.weight")
        if shared is not None and head is not None and not torch.equal(shared, head):
            self.t5.untie_lm_head()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def preprocess(self, inputs: str | list[str], prefix: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Encode texts (``input_prefix`` put first) with the tokenizer's own special tokens, right-padded.

        Raises:
            ValueError: no tokenizer is attached.
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        prefix = prefix if prefix is not None else self.config.input_prefix
        texts = [f"{prefix}{t}" for t in texts] if prefix else texts
        batch = tokenizer(texts, padding="longest", truncation=False, return_tensors="pt", device=self.device,
                          return_token_type_ids=False)
        return {"token_ids": batch["token_ids"], "attention_mask": batch["attention_mask"]}

    def post_process(self, generated_ids: torch.Tensor, **kwargs) -> list[dict[str, str]]:
        """``[{"generated_text": ...}]`` per input (special tokens dropped)."""
        return [{"generated_text": text.strip()} for text in self.decode_generated(generated_ids)]
