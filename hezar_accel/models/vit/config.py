"""The ViT encoder block of an image-to-text model (Hezar's ``encoder:`` mapping): 🤗 ``ViTConfig``'s fields and
defaults, which are also Hezar's (Hezar passes the mapping to ``ViTConfig`` as it is)."""

from __future__ import annotations

from dataclasses import dataclass

from ...configs import Config, ConfigBlock
from ..bert.encoder import ACTIVATIONS
from ..encoder_checks import encoder_problems

__all__ = ["ViTEncoderConfig"]

_POSITIVE_INTS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "num_channels",
                  "encoder_stride")
_PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob")


def _pair(value) -> tuple[int, int] | None:
    """``(height, width)`` of an ``image_size``/``patch_size`` value (one int = a square), None when malformed."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    return None


@dataclass
class ViTEncoderConfig(ConfigBlock, Config):
    """A ViT encoder (🤗 ``ViTModel`` with its pooler, as Hezar builds it).

    Args:
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size: sizes of the transformer.
        hidden_act: the feed-forward activation (``gelu`` = exact GELU, as 🤗's).
        hidden_dropout_prob, attention_probs_dropout_prob: dropouts (0 = off, ViT's default).
        initializer_range: std of the initial weights. layer_norm_eps: LayerNorm epsilon.
        image_size: the input's height and width in pixels, one int for a square or ``[height, width]``; images of
            another size are refused (no position interpolation).
        patch_size: side of a square patch (or ``[height, width]``); it must divide ``image_size``. The encoder
            sees ``1 + (height / patch height) * (width / patch width)`` positions (the first is ``[CLS]``).
        num_channels: 3 for RGB, 1 for grayscale (the image processor's ``gray_scale`` must agree).
        qkv_bias: biases on the query/key/value projections.
        encoder_stride: kept for Hezar (only 🤗's masked image modeling reads it).
        pooler_output_size: width of the ``[CLS]`` pooler; None = ``hidden_size``. The pooler is saved and loaded
            like Hezar's but an image-to-text decoder never reads it, so it is frozen.
        pooler_act: the pooler's activation.
    """

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    image_size: int | list[int] = 224
    patch_size: int | list[int] = 16
    num_channels: int = 3
    qkv_bias: bool = True
    encoder_stride: int = 16
    pooler_output_size: int | None = None
    pooler_act: str = "tanh"

    @property
    def image_height_width(self) -> tuple[int, int]:
        """``(height, width)`` of the input images."""
        return _pair(self.image_size)

    @property
    def patch_height_width(self) -> tuple[int, int]:
        """``(height, width)`` of one patch."""
        return _pair(self.patch_size)

    @property
    def num_patches(self) -> int:
        (height, width), (patch_height, patch_width) = self.image_height_width, self.patch_height_width
        return (height // patch_height) * (width // patch_width)

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        problems += encoder_problems(self, _POSITIVE_INTS, _PROBABILITIES, width="hidden_size",
                                     heads="num_attention_heads", activation="hidden_act", activations=ACTIVATIONS)
        if self.pooler_act not in ACTIVATIONS:
            problems.append(f"pooler_act: {self.pooler_act!r} is not supported; valid: {', '.join(ACTIVATIONS)}")
        if self.pooler_output_size is not None and self.pooler_output_size < 1:
            problems.append(f"pooler_output_size: {self.pooler_output_size} must be a positive integer or null")
        image, patch = _pair(self.image_size), _pair(self.patch_size)
        for name, pair in (("image_size", image), ("patch_size", patch)):
            if pair is None or min(pair) < 1:
                problems.append(f"{name}: {getattr(self, name)!r} must be a positive integer or [height, width]")
        if not problems and (image[0] % patch[0] or image[1] % patch[1]):
            problems.append(f"patch_size: {self.patch_size!r} does not divide image_size {self.image_size!r}; "
                            "choose an image size that is a multiple of the patch size")
        return problems
