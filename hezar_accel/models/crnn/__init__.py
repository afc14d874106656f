"""CRNN image-to-text (OCR) model with a CTC head."""

from .crnn_image2text import CRNNImage2Text, CRNNImage2TextConfig

__all__ = ["CRNNImage2Text", "CRNNImage2TextConfig"]
