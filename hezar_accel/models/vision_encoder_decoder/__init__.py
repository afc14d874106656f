"""Image-to-text encoder-decoders (pure torch, Hezar's names): ``vit_roberta_image2text`` and ``trocr_image2text``,
a ViT encoder and a RoBERTa causal-LM decoder with cross-attention."""

from .config import Image2TextGenerationConfig, VisionEncoderDecoderConfig
from .trocr_image2text import TrOCRImage2Text, TrOCRImage2TextConfig
from .vit_roberta_image2text import ViTRobertaImage2Text, ViTRobertaImage2TextConfig

__all__ = ["Image2TextGenerationConfig", "VisionEncoderDecoderConfig", "ViTRobertaImage2Text",
           "ViTRobertaImage2TextConfig", "TrOCRImage2Text", "TrOCRImage2TextConfig"]
