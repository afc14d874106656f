"""What encoder-decoder models (T5, Whisper, ViT-RoBERTa/TrOCR) share: teacher forcing, the token-mean loss, the
decoder's key/value cache and the decoding glue.

Training is teacher forcing: the decoder reads ``labels`` shifted one position right behind the decoder start token
(-100 padding becomes the pad id) and is scored on ``labels`` itself, so ``logits[:, t]`` predicts ``labels[:, t]``.
Generation encodes once and runs the shared search of :mod:`hezar_accel.models.generation` over the decoder.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .generation import LogitsRule, beam_search, choose_next_tokens, decode
from .model import Model
from .tasks.tokenizer_lookup import find_tokenizer

__all__ = ["IGNORE_INDEX", "shift_right", "generation_problems", "beam_settings", "cached_keys_values",
           "EncoderDecoderModel"]

IGNORE_INDEX = -100


def shift_right(labels: torch.Tensor, decoder_start_token_id: int, pad_token_id: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: ``[start, labels[:, :-1]]`` with -100 replaced by ``pad_token_id``.

    Raises:
        ValueError: ``decoder_start_token_id`` or ``pad_token_id`` is None (set them in the model config).
    """
    if decoder_start_token_id is None or pad_token_id is None:
        raise ValueError(f"Teacher forcing needs decoder_start_token_id and pad_token_id in the model config, got "
                         f"{decoder_start_token_id} and {pad_token_id}.")
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_token_id)


def generation_problems(config) -> list[str]:
    """Problems with the beam settings every encoder-decoder config has (``num_beams``, ``early_stopping``)."""
    problems = []
    if config.num_beams < 1:
        problems.append(f"num_beams: {config.num_beams} must be >= 1 (1 = greedy decoding)")
    if config.early_stopping not in (True, False, "never"):
        problems.append(f"early_stopping: {config.early_stopping!r}; use true, false or 'never'")
    return problems


def beam_settings(defaults, num_beams: int | None, length_penalty: float | None,
                  early_stopping: bool | str | None) -> dict[str, Any]:
    """:meth:`EncoderDecoderModel.search`'s beam arguments: each one given, else ``defaults``' field of that name
    (the model config, or its generation block)."""
    given = {"num_beams": num_beams, "length_penalty": length_penalty, "early_stopping": early_stopping}
    return {name: getattr(defaults, name) if value is None else value for name, value in given.items()}


def cached_keys_values(project: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor,
                       key_value_states: torch.Tensor | None, past: tuple | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values of one attention call over a decoder's cache, as ``(batch, heads, length, head_dim)``.

    Args:
        project: the layer's ``source -> (keys, values)`` (key projection first, as 🤗's order).
        x: the queries' input; self-attention (``key_value_states`` None) projects it and appends the result to the
            cached keys/values in ``past``.
        key_value_states: cross-attention's source (the encoder states): projected on the first step, then read back
            from ``past`` unchanged.
        past: the ``(keys, values)`` this call returned on the previous step, or None.
    """
    if key_value_states is None:
        k, v = project(x)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        return k, v
    if past is not None:
        k, v = past
        return k, v
    return project(key_value_states)


class EncoderDecoderModel(Model):
    """Base of encoder-decoder models: token-mean cross-entropy and ``search`` over the decoder.

    Subclasses implement ``encode(...) -> (encoder_states, encoder_mask or None)`` and
    ``decoder_step(decoder_ids, encoder_states, encoder_mask, past) -> (logits (rows, new, vocab), past)``, where
    ``past`` is their key/value cache (nested tuples of tensors whose dim 0 is the row, or None on the first call).
    """

    is_generative = True
    loss_reduction = "token_mean"
    # Label ids besides -100 the loss ignores (T5 ignores its pad id, as Hezar's T5 does).
    ignored_label_ids: tuple[int, ...] = ()

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean cross-entropy over the label tokens (-100 and ``ignored_label_ids`` left out), in float32.

        ``logits[:, t]`` scores ``labels[:, t]`` (the decoder read the labels shifted right).
        """
        for token in self.ignored_label_ids:
            labels = labels.masked_fill(labels == token, IGNORE_INDEX)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                               ignore_index=IGNORE_INDEX)

    @property
    def decoder_start_token_id(self) -> int:
        """The decoder's first input in teacher forcing (the config's ``decoder_start_token_id``)."""
        return self.config.decoder_start_token_id

    @property
    def decoder_pad_token_id(self) -> int:
        """What -100 label padding becomes among the decoder's inputs (the config's ``pad_token_id``)."""
        return self.config.pad_token_id

    def decoder_inputs(self, labels: torch.Tensor | None, decoder_input_ids: torch.Tensor | None) -> torch.Tensor:
        """``decoder_input_ids`` when given, else teacher forcing's: ``labels`` shifted right behind
        :attr:`decoder_start_token_id`, -100 padding as :attr:`decoder_pad_token_id`.

        Raises:
            ValueError: neither is given.
        """
        if decoder_input_ids is not None:
            return decoder_input_ids
        if labels is None:
            raise ValueError(f"{type(self).__name__}.forward needs `labels` (teacher forcing) or `decoder_input_ids`.")
        return shift_right(labels, self.decoder_start_token_id, self.decoder_pad_token_id)

    def decode_generated(self, generated_ids: torch.Tensor) -> list[str]:
        """``generate``'s ids as texts, special tokens dropped, by the attached tokenizer (``tokenizer_name``).

        Raises:
            ValueError: no tokenizer is attached.
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        return tokenizer.batch_decode(generated_ids.cpu().tolist(), skip_special_tokens=True)

    def encode(self, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover - per model
        raise NotImplementedError

    def decoder_step(self, decoder_ids, encoder_states, encoder_mask, past) -> tuple[torch.Tensor, Any]:  # pragma: no cover
        raise NotImplementedError

    def search(self, encoder_states: torch.Tensor, encoder_mask: torch.Tensor | None, decoder_prompt: torch.Tensor,
               max_new_tokens: int, eos_token_id: int | None, pad_token_id: int | None, num_beams: int = 1,
               length_penalty: float = 1.0, early_stopping: bool | str = False, rule: LogitsRule | None = None,
               use_cache: bool = True) -> torch.Tensor:
        """Greedy decoding (``num_beams`` 1) or beam search behind ``decoder_prompt``, one encoding per sample.

        Args:
            encoder_states / encoder_mask: ``encode``'s outputs for the batch.
            decoder_prompt: ``(batch, prompt_length)`` forced first decoder tokens (the start token, Whisper's
                language/task tokens).
            max_new_tokens: most tokens generated after the prompt.
            eos_token_id / pad_token_id: end of a hypothesis / what follows it.
            num_beams, length_penalty, early_stopping: beam search settings (see :func:`beam_search`).
            rule: forbidden tokens per step (:func:`token_rules`).
            use_cache: reuse the decoder's keys/values between steps.

        Returns:
            ``(batch, generated_length)`` continuation ids (prompt excluded), EOS included.
        """
        if num_beams > 1:
            encoder_states = encoder_states.repeat_interleave(num_beams, 0)
            encoder_mask = encoder_mask.repeat_interleave(num_beams, 0) if encoder_mask is not None else None

        def step(inputs, mask, past):
            logits, past = self.decoder_step(inputs, encoder_states, encoder_mask, past)
            return logits[:, -1], past

        mask = torch.ones_like(decoder_prompt)
        if num_beams > 1:
            return beam_search(step, decoder_prompt, mask, max_new_tokens, num_beams, eos_token_id, pad_token_id,
                               length_penalty=length_penalty, early_stopping=early_stopping, rule=rule,
                               use_cache=use_cache)
        pad = pad_token_id if pad_token_id is not None else (eos_token_id if eos_token_id is not None else 0)
        return decode(step, decoder_prompt, mask, max_new_tokens, choose_next_tokens, eos_token_id, pad,
                      use_cache=use_cache, rule=rule)
