"""ViT: the image encoder of the image-to-text models (pure torch, 🤗 transformers 5 ``ViTModel`` names)."""

from .config import ViTEncoderConfig
from .encoder import ViTModel, rename_legacy_vit_keys

__all__ = ["ViTEncoderConfig", "ViTModel", "rename_legacy_vit_keys"]
