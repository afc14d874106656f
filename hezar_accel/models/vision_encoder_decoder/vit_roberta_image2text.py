"""Hezar's ``vit_roberta_image2text``: a ViT encoder and a RoBERTa causal-LM decoder, weights under ``vit_roberta.``.

Hezar's defaults are kept (``decoder.pad_token_id`` 2, 4 beams, no repeated trigram). Two of Hezar's own choices are
not copied, see docs/HEZAR_COMPAT.md: its ``generate()`` replaces the configured start token with the tokenizer's
padding id (here the ``generation`` block decides, in training and decoding alike), and its loss ignores labels equal
to ``decoder.pad_token_id`` (2 = ``</s>`` by default, so EOS would never be learned; here only -100 is ignored).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...registry import register_model
from .config import VisionEncoderDecoderConfig
from .model import VisionEncoderDecoderImage2Text

__all__ = ["ViTRobertaImage2TextConfig", "ViTRobertaImage2Text"]


@dataclass
class ViTRobertaImage2TextConfig(VisionEncoderDecoderConfig):
    """Config of :class:`ViTRobertaImage2Text`: Hezar's ``encoder``/``decoder``/``generation`` blocks and defaults
    (see :class:`~hezar_accel.models.vision_encoder_decoder.config.VisionEncoderDecoderConfig`)."""

    name: str = "vit_roberta_image2text"


@register_model("vit_roberta_image2text", ViTRobertaImage2TextConfig)
class ViTRobertaImage2Text(VisionEncoderDecoderImage2Text):
    """ViT + RoBERTa image-to-text (OCR, captioning); see :class:`VisionEncoderDecoderImage2Text`.

    ``init_weights_from`` a RoBERTa folder (``roberta_mask_filling`` ...) starts the decoder's body from that
    encoder's weights (cross-attention and the LM head keep their initial values).
    """

    module_name = "vit_roberta"
    encoder_prefix = "vit_roberta.decoder.roberta."
    # Buffers older transformers saves carry (not persistent here, nor in transformers 5).
    skip_keys_on_load = ["vit_roberta.decoder.roberta.embeddings.position_ids",
                         "vit_roberta.decoder.roberta.embeddings.token_type_ids"]
