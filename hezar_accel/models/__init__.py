"""Models: the Hezar-format ``Model`` base and pure-torch architectures (one file each)."""

from .model import LoadReport, Model

__all__ = ["Model", "LoadReport"]
