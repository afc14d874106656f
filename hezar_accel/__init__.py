"""hezar_accel: train Hezar-style models (Persian NLP, speech, OCR) with 🤗 Accelerate.

Public API re-exports only; import submodules for everything else.
"""

__version__ = "0.1.0"
