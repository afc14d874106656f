"""Hezar's ``trocr_image2text``: the same ViT + RoBERTa causal-LM architecture as ``vit_roberta_image2text`` under
``trocr.``, with Hezar's TrOCR defaults (``<pad>`` 1 as the padding id of the decoder and of generation).

Hezar's ``TrOCRImage2Text`` differs from its ViT-RoBERTa only in those defaults, the attribute name and in honouring
the configured start token, so everything else is :class:`VisionEncoderDecoderImage2Text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...registry import register_model
from ..roberta.decoder import RobertaDecoderConfig
from .config import Image2TextGenerationConfig, VisionEncoderDecoderConfig, hezar_decoder, hezar_generation
from .model import VisionEncoderDecoderImage2Text

__all__ = ["TrOCRImage2TextConfig", "TrOCRImage2Text"]


@dataclass
class TrOCRImage2TextConfig(VisionEncoderDecoderConfig):
    """Config of :class:`TrOCRImage2Text`: Hezar's blocks and defaults (see
    :class:`~hezar_accel.models.vision_encoder_decoder.config.VisionEncoderDecoderConfig`)."""

    name: str = "trocr_image2text"
    decoder: RobertaDecoderConfig = field(default_factory=lambda: hezar_decoder(pad_token_id=1))
    generation: Image2TextGenerationConfig = field(default_factory=lambda: hezar_generation(pad_token_id=1))


@register_model("trocr_image2text", TrOCRImage2TextConfig)
class TrOCRImage2Text(VisionEncoderDecoderImage2Text):
    """TrOCR (ViT + RoBERTa) image-to-text; see :class:`VisionEncoderDecoderImage2Text`."""

    module_name = "trocr"
    encoder_prefix = "trocr.decoder.roberta."
    skip_keys_on_load = ["trocr.decoder.roberta.embeddings.position_ids",
                         "trocr.decoder.roberta.embeddings.token_type_ids"]
