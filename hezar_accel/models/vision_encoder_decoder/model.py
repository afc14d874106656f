"""What Hezar's ViT + RoBERTa image-to-text models share: 🤗 ``VisionEncoderDecoderModel``'s module tree in pure
torch, teacher forcing, and decoding through the shared search.

Hezar wraps ``VisionEncoderDecoderModel(encoder=ViTModel, decoder=RobertaForCausalLM)`` under one attribute
(``vit_roberta`` or ``trocr``), so the keys are ``<attr>.encoder.*`` (ViT, pooler included), ``<attr>.decoder.roberta.*``
(RoBERTa with cross-attention), ``<attr>.decoder.lm_head.*`` (tied to the word embeddings) and, when the two widths
differ, ``<attr>.enc_to_dec_proj``. The decoder reads every encoder state (no image padding, no encoder mask).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ..bert.encoder import init_bert_weights
from ..generation import token_rules
from ..roberta.decoder import RobertaForCausalLM
from ..seq2seq import EncoderDecoderModel, beam_settings
from ..vit.encoder import ViTModel, rename_legacy_vit_keys
from .config import VisionEncoderDecoderConfig

__all__ = ["VisionEncoderDecoder", "VisionEncoderDecoderImage2Text"]


class VisionEncoderDecoder(nn.Module):
    """🤗 ``VisionEncoderDecoderModel``'s tree: ``encoder`` (ViT), ``decoder`` (RoBERTa causal LM) and, when their
    widths differ, ``enc_to_dec_proj``.

    Args:
        config: a :class:`~hezar_accel.models.vision_encoder_decoder.config.VisionEncoderDecoderConfig`.
    """

    def __init__(self, config: VisionEncoderDecoderConfig):
        super().__init__()
        self.encoder = ViTModel(config.encoder)
        self.decoder = RobertaForCausalLM(config.decoder)
        self.enc_to_dec_proj = None
        if config.encoder.hidden_size != config.decoder.hidden_size:
            self.enc_to_dec_proj = nn.Linear(config.encoder.hidden_size, config.decoder.hidden_size)
            init_bert_weights(self.enc_to_dec_proj, config.decoder.initializer_range)

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(batch, 1 + patches, decoder hidden_size)``: the ViT's states, projected to the decoder's width."""
        states = self.encoder(pixel_values)
        return self.enc_to_dec_proj(states) if self.enc_to_dec_proj is not None else states


class VisionEncoderDecoderImage2Text(EncoderDecoderModel):
    """Base of ``vit_roberta_image2text`` and ``trocr_image2text``: images in, text out.

    Training is teacher forcing: the decoder reads ``labels`` (token ids ending with EOS, padded with -100) shifted
    right behind the generation block's start token and is scored on them with the token-mean cross-entropy.
    ``generate`` decodes greedily or with beams, as 🤗's ``generate`` with the config's ``generation`` block.

    Args:
        config: the model config; never mutated.
    """

    # The attribute Hezar keeps the 🤗 model under (the first part of every key).
    module_name: ClassVar[str] = ""
    tokenizer_name = "bpe_tokenizer"
    image_processor_name = "image_processor"

    def __init__(self, config: VisionEncoderDecoderConfig, **kwargs):
        super().__init__(config, **kwargs)
        setattr(self, self.module_name, VisionEncoderDecoder(config))

    @property
    def body(self) -> VisionEncoderDecoder:
        return getattr(self, self.module_name)

    @property
    def decoder_start_token_id(self) -> int:
        """The decoder's first input in teacher forcing and in ``generate`` (the generation block's)."""
        return self.config.generation.start_token_id

    @property
    def decoder_pad_token_id(self) -> int:
        """What -100 label padding becomes among the decoder's inputs (the decoder block's ``pad_token_id``)."""
        return self.config.decoder.pad_token_id

    def encode(self, pixel_values: torch.Tensor):
        """The decoder's view of the images and no mask (every patch is real)."""
        return self.body.encode(pixel_values), None

    def decoder_step(self, decoder_ids, encoder_states, encoder_mask, past):
        return self.body.decoder(decoder_ids, encoder_states, past=past)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                **kwargs) -> dict[str, Any]:
        """Teacher-forced decoder logits.

        Args:
            pixel_values: ``(batch, num_channels, height, width)`` images of the encoder's ``image_size``.
            labels: ``(batch, length)`` target ids padded with -100; the decoder reads them shifted right.
            decoder_input_ids: explicit decoder inputs instead (one of the two is required).
            decoder_attention_mask: ``(batch, length)``, 1 on real decoder inputs; None = all real.
            **kwargs: other batch keys are ignored.

        Returns:
            ``{"logits": (batch, length, vocab_size), "encoder_last_hidden_state": ...}``.

        Raises:
            ValueError: neither labels nor decoder inputs, images of the wrong size, or a sequence longer than the
                decoder's positions.
        """
        decoder_input_ids = self.decoder_inputs(labels, decoder_input_ids)
        encoder_states, _ = self.encode(pixel_values)
        logits, _ = self.body.decoder(decoder_input_ids, encoder_states, attention_mask=decoder_attention_mask)
        return {"logits": logits, "encoder_last_hidden_state": encoder_states}

    @torch.inference_mode()
    def generate(self, pixel_values: torch.Tensor, max_new_tokens: int | None = None, num_beams: int | None = None,
                 length_penalty: float | None = None, early_stopping: bool | str | None = None,
                 no_repeat_ngram_size: int | None = None, use_cache: bool | None = None, **kwargs) -> torch.Tensor:
        """Greedy decoding or beam search, as 🤗's ``generate`` with the config's ``generation`` block.

        Args:
            pixel_values: the images (see :meth:`forward`).
            max_new_tokens: most tokens after the start token; None = ``generation.max_length - 1``.
            num_beams, length_penalty, early_stopping, no_repeat_ngram_size: None = the generation block's.
            use_cache: reuse the decoder's keys/values between steps; None = ``decoder.use_cache``.
            **kwargs: other batch keys (``labels`` ...) are ignored.

        Returns:
            ``(batch, 1 + generated_length)``: the start token, then the tokens, EOS included; finished rows are
            padded with ``generation.pad_token_id`` (EOS when it is None, and after beam search when it is 0, as
            🤗 does).
        """
        g = self.config.generation
        new = g.max_length - 1 if max_new_tokens is None else max_new_tokens
        encoder_states, mask = self.encode(pixel_values)
        prompt = torch.full((pixel_values.shape[0], 1), self.decoder_start_token_id, dtype=torch.long,
                            device=encoder_states.device)
        ngram = g.no_repeat_ngram_size if no_repeat_ngram_size is None else no_repeat_ngram_size
        generated = self.search(encoder_states, mask, prompt, new, g.eos_token_id, g.fill_token_id,
                                **beam_settings(g, num_beams, length_penalty, early_stopping),
                                rule=token_rules(no_repeat_ngram_size=ngram),
                                use_cache=self.config.decoder.use_cache if use_cache is None else use_cache)
        return torch.cat([prompt, generated], dim=1)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load Hezar-named weights; a ViT saved with transformers 4 names is renamed first (see
        :func:`~hezar_accel.models.vit.encoder.rename_legacy_vit_keys`)."""
        state_dict = rename_legacy_vit_keys(state_dict, f"{self.module_name}.encoder.")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def preprocess(self, inputs: Any, **kwargs) -> dict[str, torch.Tensor]:
        """Image path(s) / Pillow image(s) / arrays -> ``{"pixel_values"}`` on the model's device.

        Raises:
            ValueError: no image processor is attached.
        """
        from ...preprocessors.image_processor import ImageProcessor

        candidates = list(self.preprocessor.values()) if isinstance(self.preprocessor, dict) else [self.preprocessor]
        processor = next((p for p in candidates if isinstance(p, ImageProcessor)), None)
        if processor is None:
            raise ValueError(f"{type(self).__name__}.predict needs an image processor: load a model folder whose "
                             "preprocessor/ has image_processor_config.yaml, or attach a container holding an "
                             f"ImageProcessor and a tokenizer to model.preprocessor; got {self.preprocessor!r}")
        return {"pixel_values": processor(inputs, device=self.device)["pixel_values"]}

    def post_process(self, generated_ids: torch.Tensor, **kwargs) -> list[dict[str, str]]:
        """``[{"text": ...}]`` per image: the generated ids decoded, special tokens dropped (as Hezar's)."""
        return [{"text": text} for text in self.decode_generated(generated_ids)]
