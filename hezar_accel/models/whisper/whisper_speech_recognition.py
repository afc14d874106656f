"""Whisper speech recognition, config- and weight-compatible with Hezar's ``WhisperSpeechRecognition``.

Parameters are named as in Hezar, which wraps 🤗 ``WhisperForConditionalGeneration`` as ``self.whisper``:
``whisper.model.encoder.{conv1, conv2, embed_positions, layers.<i>, layer_norm}``,
``whisper.model.decoder.{embed_tokens, embed_positions, layers.<i>, layer_norm}`` and ``whisper.proj_out`` (tied to
the decoder's ``embed_tokens``). ``generate`` follows 🤗's Whisper ``generate`` for inputs of one chunk without
timestamps: the decoder prompt ``<|startoftranscript|> <|language|> <|task|> <|notimestamps|>``, Whisper's suppressed
tokens, and the output stripped of that prompt and of the final EOS.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from ...configs import ModelConfig
from ...constants import TaskType
from ...preprocessors.tokenizers.whisper_bpe import language_token
from ...registry import register_model
from ..generation import token_rules
from ..gpt2.modules import ACTIVATIONS
from ..seq2seq import EncoderDecoderModel, beam_settings, generation_problems
from .modules import WhisperForConditionalGeneration

__all__ = ["WhisperSpeechRecognitionConfig", "WhisperSpeechRecognition", "HEZAR_GENERATION_DEFAULTS"]

# Hezar's WhisperSpeechRecognitionGenerationConfig: its keys are the only ones Hezar accepts in `generation_config`,
# and its values apply to the keys a block leaves out.
HEZAR_GENERATION_DEFAULTS: dict[str, Any] = {
    "alignment_heads": None, "begin_suppress_tokens": [220, 50256], "bos_token_id": 50257,
    "decoder_start_token_id": 50258, "eos_token_id": 50257, "task": "transcribe", "is_multilingual": True,
    "language": None, "lang_to_id": None, "max_initial_timestamp_index": 50, "max_length": 448,
    "max_new_tokens": None, "no_timestamps_token_id": 50363, "pad_token_id": 50257, "prev_sot_token_id": 50361,
    "return_timestamps": False, "suppress_tokens": None, "task_to_id": {"transcribe": 50359, "translate": 50358},
}
_POSITIVE = ("vocab_size", "num_mel_bins", "encoder_layers", "encoder_attention_heads", "decoder_layers",
             "decoder_attention_heads", "decoder_ffn_dim", "encoder_ffn_dim", "d_model", "max_source_positions",
             "max_target_positions")
_PROBABILITIES = ("encoder_layerdrop", "decoder_layerdrop", "dropout", "attention_dropout", "activation_dropout")


@dataclass
class WhisperSpeechRecognitionConfig(ModelConfig):
    """Config of :class:`WhisperSpeechRecognition`: Hezar's keys and defaults (🤗 ``WhisperConfig`` fields).

    Args:
        vocab_size, num_mel_bins, d_model, encoder_attention_heads, decoder_layers, decoder_attention_heads,
            encoder_ffn_dim, decoder_ffn_dim: sizes.
        encoder_layers / num_hidden_layers: the encoder's depth. Hezar hands both to 🤗 ``WhisperConfig``, where
            ``num_hidden_layers`` is an alias of ``encoder_layers`` that wins; so the encoder has
            ``num_hidden_layers`` layers when it is set (Hezar's default 12!), else ``encoder_layers``. A config
            made here writes the effective depth into both keys.
        max_source_positions: encoder positions; inputs have ``2 *`` this many frames (1500 -> 3000 = 30 s).
        max_target_positions: most decoder tokens (prompt included).
        encoder_layerdrop / decoder_layerdrop: probability of skipping a whole layer in training (0 = off).
        dropout, attention_dropout, activation_dropout: dropout rates. init_std: std of the initial weights.
        activation_function: of the feed-forward layers (``gelu``, ``relu``, ``gelu_new``, ``silu``).
        decoder_start_token_id: the first decoder input in training (labels are shifted right behind it); generation
            starts from ``generation_config``'s, as 🤗 does. Both should be ``<|startoftranscript|>``.
        pad_token_id, bos_token_id, eos_token_id: ids (Whisper: all ``<|endoftext|>``); pad is also the embedding's
            ``padding_idx``, whose row is never trained.
        generation_config: Hezar's generation block (keys of ``HEZAR_GENERATION_DEFAULTS``; missing ones take those
            defaults, which fit OpenAI's 51865-token vocabulary): decoder start, language/task tokens
            (``lang_to_id``, ``task_to_id``, ``language``, ``task``), ``no_timestamps_token_id``,
            ``suppress_tokens``/``begin_suppress_tokens``, ``max_length`` (generated tokens, capped by
            ``max_target_positions``) or ``max_new_tokens``. ``WhisperBPETokenizer.generation_settings()`` writes
            one for a tokenizer.
        suppress_tokens, begin_suppress_tokens: Hezar's top-level copies; generation reads ``generation_config``.
        is_encoder_decoder: always true (read by the metrics to line teacher-forced predictions up with labels).
        sampling_rate, use_cache, torch_dtype, scale_embedding, use_weighted_layer_sum, classifier_proj_size,
            apply_spec_augment and the mask_* fields: kept for Hezar; no effect here (as in transformers 5, which
            ignores ``scale_embedding`` too). ``apply_spec_augment`` must stay false.
        num_beams, length_penalty, early_stopping: beam search of ``generate``/``predict`` and of the Trainer's
            evaluation (1 beam = greedy). hezar_accel's own keys: Hezar ignores them.
    """

    name: str = "whisper_speech_recognition"
    task: str = TaskType.SPEECH_RECOGNITION.value
    vocab_size: int = 51865
    num_mel_bins: int = 80
    encoder_layers: int = 6
    encoder_attention_heads: int = 4
    decoder_layers: int = 6
    decoder_attention_heads: int = 4
    num_hidden_layers: int | None = None
    decoder_ffn_dim: int = 1536
    encoder_ffn_dim: int = 1536
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    decoder_start_token_id: int = 50257
    use_cache: bool = False
    sampling_rate: int = 16000
    is_encoder_decoder: bool = True
    activation_function: str = "gelu"
    d_model: int = 256
    dropout: float = 0.0
    torch_dtype: str = "float32"
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    scale_embedding: bool = False
    max_source_positions: int = 1500
    max_target_positions: int = 448
    pad_token_id: int = 50256
    bos_token_id: int = 50257
    eos_token_id: int = 50256
    suppress_tokens: list | None = None
    begin_suppress_tokens: list | None = dataclasses.field(default_factory=lambda: [220, 50256])
    use_weighted_layer_sum: bool = False
    classifier_proj_size: int = 256
    apply_spec_augment: bool = False
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    generation_config: dict | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False

    @property
    def effective_encoder_layers(self) -> int:
        """The encoder's depth: ``num_hidden_layers`` when set (it wins in Hezar's ``WhisperConfig``), else
        ``encoder_layers``."""
        return self.num_hidden_layers if self.num_hidden_layers is not None else self.encoder_layers

    def generation(self) -> dict:
        """``generation_config`` with Hezar's defaults for the keys it leaves out."""
        return {**HEZAR_GENERATION_DEFAULTS, **(self.generation_config or {})}

    def saved_dict(self) -> dict:
        """Also write ``num_hidden_layers`` (the effective encoder depth): left out, Hezar's default 12 would win."""
        return {**super().saved_dict(), "num_hidden_layers": self.effective_encoder_layers}

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                problems.append(f"{name}: {getattr(self, name)} must be a positive integer")
        if self.num_hidden_layers is not None and self.num_hidden_layers < 1:
            problems.append(f"num_hidden_layers: {self.num_hidden_layers} must be a positive integer or null")
        for name in _PROBABILITIES:
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name}: {getattr(self, name)} must be in [0, 1)")
        for heads in ("encoder_attention_heads", "decoder_attention_heads"):
            if getattr(self, heads) > 0 and self.d_model % getattr(self, heads):
                problems.append(f"{heads}: {getattr(self, heads)} does not divide d_model {self.d_model}")
        if self.d_model % 2 or self.d_model < 4:
            problems.append(f"d_model: {self.d_model} must be even and >= 4 (sinusoidal encoder positions)")
        if self.activation_function not in ACTIVATIONS:
            problems.append(f"activation_function: {self.activation_function!r}; use one of {sorted(ACTIVATIONS)}")
        if not self.is_encoder_decoder:
            problems.append("is_encoder_decoder: Whisper is an encoder-decoder model; set true")
        if self.apply_spec_augment:
            problems.append("apply_spec_augment: true is not implemented here (SpecAugment in training); set false")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
            if not 0 <= getattr(self, name) < self.vocab_size:
                problems.append(f"{name}: {getattr(self, name)} is not an id of the vocabulary (0..{self.vocab_size - 1})")
        return problems + generation_problems(self) + self._generation_config_problems()

    def _generation_config_problems(self) -> list[str]:
        if self.generation_config is None:
            return []
        unknown = sorted(set(self.generation_config) - set(HEZAR_GENERATION_DEFAULTS))
        if unknown:
            return [f"generation_config: unknown keys {unknown} (Hezar could not load them); valid keys: "
                    f"{', '.join(HEZAR_GENERATION_DEFAULTS)}"]
        settings, problems = self.generation(), []
        ids = {k: settings[k] for k in ("decoder_start_token_id", "eos_token_id", "pad_token_id")}
        ids.update({f"task_to_id.{k}": v for k, v in (settings["task_to_id"] or {}).items()})
        ids.update({f"lang_to_id.{k}": v for k, v in (settings["lang_to_id"] or {}).items()})
        for name, value in ids.items():
            if not isinstance(value, int) or not 0 <= value < self.vocab_size:
                problems.append(f"generation_config.{name}: {value!r} is not an id of the vocabulary "
                                f"(0..{self.vocab_size - 1}); build the block with "
                                "WhisperBPETokenizer.generation_settings()")
        if settings["return_timestamps"]:
            problems.append("generation_config.return_timestamps: timestamp decoding is not implemented; set false")
        if settings["task"] is not None and settings["task"] not in (settings["task_to_id"] or {}):
            problems.append(f"generation_config.task: {settings['task']!r} is not in task_to_id")
        return problems


@register_model("whisper_speech_recognition", WhisperSpeechRecognitionConfig)
class WhisperSpeechRecognition(EncoderDecoderModel):
    """Whisper: a log-mel encoder and a token decoder, trained by teacher forcing, decoding transcripts.

    Args:
        config: the model config; never mutated.
    """

    tokenizer_name = "whisper_bpe_tokenizer"

    def __init__(self, config: WhisperSpeechRecognitionConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.whisper = WhisperForConditionalGeneration(config, config.effective_encoder_layers)

    def encode(self, input_features: torch.Tensor):
        """Encoder states ``(batch, max_source_positions, d_model)``; Whisper's encoder uses no padding mask."""
        return self.whisper.model.encoder(input_features), None

    def decoder_step(self, decoder_ids, encoder_states, encoder_mask, past):
        states, presents = self.whisper.model.decoder(decoder_ids, encoder_states, past)
        return self.whisper.proj_out(states), presents

    def forward(self, input_features: torch.Tensor, labels: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, **kwargs) -> dict[str, Any]:
        """Teacher-forced decoder logits.

        Args:
            input_features: ``(batch, num_mel_bins, 2 * max_source_positions)`` log-mel features.
            labels: ``(batch, length)`` target ids padded with -100; the decoder reads them shifted right behind
                ``decoder_start_token_id``.
            decoder_input_ids: explicit decoder inputs instead (one of the two is required).
            **kwargs: other batch keys (``attention_mask``, ``input_lengths`` ...) are ignored, as Whisper does.

        Returns:
            ``{"logits": (batch, length, vocab_size), "encoder_last_hidden_state": ...}``.

        Raises:
            ValueError: no labels nor decoder inputs, or features of the wrong length.
        """
        decoder_input_ids = self.decoder_inputs(labels, decoder_input_ids)
        encoder_states, _ = self.encode(input_features)
        logits, _ = self.decoder_step(decoder_input_ids, encoder_states, None, None)
        return {"logits": logits, "encoder_last_hidden_state": encoder_states}

    def decoder_prompt(self, encoder_states: torch.Tensor, language: str | None, task: str | None) -> torch.Tensor:
        """``(batch, prompt_length)`` start tokens as 🤗's Whisper builds them: the start token, the language token
        (given, else detected from the first decoder step when ``lang_to_id`` is set, else none), the task token
        (``transcribe`` when only a language is known) and ``<|notimestamps|>``.

        Raises:
            ValueError: an unknown language or task for this generation config.
        """
        g = self.config.generation()
        batch = encoder_states.shape[0]
        start = torch.full((batch, 1), g["decoder_start_token_id"], dtype=torch.long, device=encoder_states.device)
        columns = [start]
        lang_to_id = g["lang_to_id"]
        if language is not None:
            token = language if language in (lang_to_id or {}) else language_token(language)
            if token not in (lang_to_id or {}):
                raise ValueError(f"language: {language!r} ({token}) is not in generation_config.lang_to_id; "
                                 "add it or pass another language")
            columns.append(torch.full_like(start, lang_to_id[token]))
        elif lang_to_id:
            columns.append(self._detect_language(encoder_states, start, list(lang_to_id.values()))[:, None])
        task_to_id = g["task_to_id"] or {}
        if task is not None:
            if task not in task_to_id:
                raise ValueError(f"task: {task!r} is not in generation_config.task_to_id {sorted(task_to_id)}")
            columns.append(torch.full_like(start, task_to_id[task]))
        elif language is not None and "transcribe" in task_to_id:
            columns.append(torch.full_like(start, task_to_id["transcribe"]))
        if g["no_timestamps_token_id"] is not None:
            columns.append(torch.full_like(start, g["no_timestamps_token_id"]))
        return torch.cat(columns, dim=1)

    def _detect_language(self, encoder_states, start, language_ids: list[int]) -> torch.Tensor:
        logits, _ = self.decoder_step(start, encoder_states, None, None)
        allowed = torch.full_like(logits[:, -1], float("-inf"))
        allowed[:, language_ids] = 0.0
        return (logits[:, -1] + allowed).argmax(-1)

    @torch.inference_mode()
    def generate(self, input_features: torch.Tensor, language: str | None = None, task: str | None = None,
                 max_new_tokens: int | None = None, num_beams: int | None = None,
                 length_penalty: float | None = None, early_stopping: bool | str | None = None,
                 use_cache: bool = True, **kwargs) -> torch.Tensor:
        """Transcribe: greedy decoding or beam search behind Whisper's decoder prompt, as 🤗's Whisper ``generate``
        on inputs of one chunk without timestamps.

        Args:
            input_features: ``(batch, num_mel_bins, 2 * max_source_positions)`` features.
            language / task: None = ``generation_config``'s.
            max_new_tokens: None = ``generation_config``'s ``max_new_tokens``, else its ``max_length`` tokens
                (capped so prompt + tokens fit ``max_target_positions``).
            num_beams, length_penalty, early_stopping: None = the config's.
            use_cache: reuse the decoder's keys/values between steps.
            **kwargs: other batch keys (``labels`` ...) are ignored.

        Returns:
            ``(batch, length)`` transcript ids: the prompt and the final EOS removed, padded on the right with
            ``pad_token_id``, as 🤗 returns them.

        Raises:
            ValueError: ``max_new_tokens`` does not fit ``max_target_positions``, or a bad language/task.
        """
        c, g = self.config, self.config.generation()
        encoder_states, _ = self.encode(input_features)
        prompt = self.decoder_prompt(encoder_states, g["language"] if language is None else language,
                                     g["task"] if task is None else task)
        new = self._new_token_budget(prompt.shape[1], g, max_new_tokens)
        rule = token_rules(g["suppress_tokens"], g["begin_suppress_tokens"])
        generated = self.search(encoder_states, None, prompt, new, g["eos_token_id"], g["pad_token_id"],
                                **beam_settings(c, num_beams, length_penalty, early_stopping), rule=rule,
                                use_cache=use_cache)
        return self._strip(generated, g["eos_token_id"], g["pad_token_id"])

    def _new_token_budget(self, prompt_length: int, g: dict, max_new_tokens: int | None) -> int:
        limit = self.config.max_target_positions
        wanted = g["max_new_tokens"] if max_new_tokens is None else max_new_tokens
        if wanted is not None:
            if wanted + prompt_length > limit:
                raise ValueError(f"max_new_tokens: {wanted} plus the {prompt_length}-token decoder prompt exceeds "
                                 f"max_target_positions={limit}; ask for at most {limit - prompt_length}")
            return wanted
        # 🤗 lets max_length count generated tokens only (the prompt is added on top), within the position table.
        total = min(g["max_length"] + min(limit // 2 - 1, prompt_length), limit)
        return max(total - prompt_length, 0)

    @staticmethod
    def _strip(generated: torch.Tensor, eos: int, pad: int) -> torch.Tensor:
        """Each row without its padding and final EOS (🤗's rule: when a row ends in the pad id, as many tokens as it
        holds pad ids are cut, one fewer when pad is EOS), right-padded again with ``pad``."""
        rows = []
        for row in generated.tolist():
            if row and row[-1] == pad:
                cut = row.count(pad) - (1 if pad == eos else 0)
                row = row[: len(row) - cut] if cut else row
            if row and row[-1] == eos:
                row = row[:-1]
            rows.append(row)
        longest = max((len(r) for r in rows), default=0)
        return torch.tensor([r + [pad] * (longest - len(r)) for r in rows], dtype=torch.long,
                            device=generated.device).reshape(len(rows), longest)

    def split_inputs(self, inputs: Any) -> list:
        """One entry per clip, as the feature extractor reads them (a list of numbers is one waveform)."""
        from ...preprocessors.audio_feature_extractor import _as_batch

        return list(_as_batch(inputs))

    def preprocess(self, inputs: Any, sampling_rate: int | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Audio file path(s) or waveform(s) -> ``{"input_features"}`` on the model's device.

        Raises:
            ValueError: no Whisper feature extractor is attached.
        """
        from ...preprocessors.whisper_feature_extractor import WhisperFeatureExtractor

        candidates = list(self.preprocessor.values()) if isinstance(self.preprocessor, dict) else [self.preprocessor]
        extractor = next((p for p in candidates if isinstance(p, WhisperFeatureExtractor)), None)
        if extractor is None:
            raise ValueError("predict() needs a WhisperFeatureExtractor: load a model folder whose preprocessor/ has "
                             f"one, or attach one to model.preprocessor; got {self.preprocessor!r}")
        features = extractor(inputs, sampling_rate=sampling_rate)["input_features"]
        return {"input_features": features.to(self.device)}

    def post_process(self, generated_ids: torch.Tensor, **kwargs) -> list[dict[str, str]]:
        """``[{"text": transcript}]`` per input (special tokens dropped)."""
        return [{"text": text.strip()} for text in self.decode_generated(generated_ids)]
