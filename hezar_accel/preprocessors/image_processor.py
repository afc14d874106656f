"""``ImageProcessor``: load, grayscale/RGB, resize (+ keep-ratio padding), rescale and normalise images with Pillow.

Saved as ``preprocessor/image_processor_config.yaml`` with Hezar's keys (``mean``, ``std``, ``rescale``, ``resample``,
``size`` as ``(width, height)``, ``mirror``, ``gray_scale``), so a folder written here loads in Hezar and back.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..configs import PreprocessorConfig
from ..constants import IMAGE_PROCESSOR_CONFIG_FILE
from ..errors import DataError, require
from ..registry import register_preprocessor
from .preprocessor import Preprocessor

__all__ = ["ImageProcessorConfig", "ImageProcessor", "load_image"]

_PURPOSE = "Reading images (ImageProcessor)"


def _pil():
    return require("PIL.Image", "Pillow", "vision", _PURPOSE)


@dataclass
class ImageProcessorConfig(PreprocessorConfig):
    """How images become ``pixel_values``.

    Args:
        mean: per-channel mean subtracted after rescaling (one value broadcasts to every channel). None = off.
        std: per-channel std divided by after subtracting ``mean``. Set both or neither.
        rescale: factor applied to the 0-255 pixel values, e.g. ``1/255``. None = off.
        resample: Pillow resampling filter id (0 nearest, 2 bilinear, 3 bicubic, 1 lanczos ...). None = Pillow's default
            (bicubic), as in Hezar, so a Hezar config without the key preprocesses identically.
        size: ``(width, height)`` of every output image. None = keep each image's size (then all must agree).
        mirror: flip images left-right (for right-to-left text models trained on mirrored images).
        gray_scale: convert to one gray channel; otherwise to three RGB channels.
        keep_aspect_ratio: resize to ``height`` keeping the aspect ratio (width capped at ``size[0]``), then pad on
            the right to ``size[0]`` with ``pad_value``. False = stretch to ``size``.
        pad_value: fill value of that padding, in 0-255 pixel units (before rescaling).
    """

    name: str = "image_processor"
    mean: list[float] | None = None
    std: list[float] | None = None
    rescale: float | None = None
    resample: int | None = 3  # bicubic, what Pillow (and so Hezar) uses when the key is absent
    size: list[int] | None = None
    mirror: bool = False
    gray_scale: bool = False
    keep_aspect_ratio: bool = False
    pad_value: float = 0.0

    @property
    def num_channels(self) -> int:
        return 1 if self.gray_scale else 3

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        if self.size is not None and (len(self.size) != 2 or any(not isinstance(v, int) or v < 1 for v in self.size)):
            problems.append(f"size: {self.size!r} must be two positive integers (width, height)")
        if (self.mean is None) != (self.std is None):
            problems.append(f"mean/std: set both or neither, got mean={self.mean!r} std={self.std!r}")
        for key in ("mean", "std"):
            value = getattr(self, key)
            if value is not None and len(value) not in (1, self.num_channels):
                problems.append(f"{key}: {value!r} needs 1 or {self.num_channels} values "
                                f"(gray_scale={self.gray_scale} gives {self.num_channels} channel(s))")
        if self.std is not None and any(s == 0 for s in self.std):
            problems.append(f"std: {self.std!r} contains 0; every std must be non-zero")
        if self.rescale is not None and self.rescale <= 0:
            problems.append(f"rescale: {self.rescale!r} must be > 0 (e.g. 0.00392156862745098 for 1/255)")
        if self.resample is not None and self.resample not in range(6):
            problems.append(f"resample: {self.resample!r} is not a Pillow filter id; use 0-5 (2 = bilinear)")
        if self.keep_aspect_ratio and self.size is None:
            problems.append("keep_aspect_ratio: true needs size: [width, height]")
        return problems


def load_image(source: Any):
    """Open one image as a Pillow image.

    Args:
        source: a file path, raw bytes, a 🤗 ``Image`` feature dict (``{"bytes", "path"}``), a Pillow image, a numpy
            array (H, W) or (H, W, C) of 0-255 values, or a (C, H, W) torch tensor of 0-255 values.

    Returns:
        A ``PIL.Image.Image`` (fully decoded).

    Raises:
        DataError: the file is missing or cannot be decoded (the message names it). TypeError: unsupported input.
    """
    Image = _pil()
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, dict):
        source = source.get("bytes") or source.get("path")
    if isinstance(source, torch.Tensor):
        source = source.detach().cpu().numpy()
        source = source.transpose(1, 2, 0) if source.ndim == 3 else source
    if isinstance(source, np.ndarray):
        array = source[..., 0] if source.ndim == 3 and source.shape[-1] == 1 else source
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    if isinstance(source, (str, os.PathLike)):
        name, opener = os.fspath(source), lambda: open(source, "rb")
    elif isinstance(source, (bytes, bytearray)):
        name, opener = f"<{len(source)} bytes>", lambda: io.BytesIO(source)
    else:
        raise TypeError(f"Cannot read an image from a {type(source).__name__}; pass a path, bytes, a PIL image or an array")
    try:
        with opener() as f:
            image = Image.open(f)
            image.load()
        return image
    except FileNotFoundError:
        raise DataError(f"Image file `{name}` does not exist.") from None
    except Exception as e:  # Pillow raises several types (UnidentifiedImageError, OSError, SyntaxError ...)
        raise DataError(f"Image `{name}` cannot be decoded: {type(e).__name__}: {e}") from None


@register_preprocessor("image_processor", ImageProcessorConfig)
class ImageProcessor(Preprocessor):
    """Turn images into a ``pixel_values`` batch ``(B, C, H, W)`` of float32.

    Args:
        config: the :class:`ImageProcessorConfig`.
    """

    config_filename = IMAGE_PROCESSOR_CONFIG_FILE
    # Bumped whenever the same settings give other pixel values, so datasets cached with the old values are remade
    # (2: computed in float64 and rounded once, as Hezar does).
    arithmetic_version = 2

    def __init__(self, config: ImageProcessorConfig | None = None, **kwargs):
        super().__init__(config if config is not None else ImageProcessorConfig(), **kwargs)

    def __call__(self, images: Any, device: str | torch.device | None = None, return_tensors: str = "pt",
                 **kwargs) -> dict[str, Any]:
        """Process one image or a list of images (paths, bytes, Pillow images, arrays).

        Args:
            images: one image or a list/tuple of them (see :func:`load_image` for the accepted kinds).
            device: move the tensor there (``return_tensors="pt"`` only).
            return_tensors: ``"pt"`` (torch) or ``"np"`` (numpy).

        Returns:
            ``{"pixel_values": float32 (B, C, H, W)}``.

        Raises:
            DataError: an image cannot be read. ValueError: images of different sizes without ``size`` in the config.
        """
        if not isinstance(images, (list, tuple)):
            images = [images]
        arrays = [self.process_one(load_image(image)) for image in images]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"Images have different shapes {sorted(shapes)}; set `size: [width, height]` in the "
                             "image processor config so they can be batched.")
        batch = np.stack(arrays) if arrays else np.zeros((0, self.config.num_channels, 0, 0), np.float32)
        if return_tensors == "np":
            return {"pixel_values": batch}
        if return_tensors not in ("pt", "torch"):
            raise ValueError(f"return_tensors: {return_tensors!r} is not supported; use 'pt' or 'np'")
        tensor = torch.from_numpy(batch)
        return {"pixel_values": tensor.to(device) if device is not None else tensor}

    def process_one(self, image) -> np.ndarray:
        """Convert, mirror, resize, rescale and normalise one Pillow image into a float32 ``(C, H, W)`` array."""
        Image = _pil()
        config = self.config
        image = image.convert("L" if config.gray_scale else "RGB")
        if config.mirror:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if config.size is not None:
            image = self._resize(image)
        # float64 until the end, rounded to float32 once: the values Hezar computes, to the bit.
        array = np.asarray(image, dtype=np.float64)
        array = array[:, :, None] if array.ndim == 2 else array
        if config.rescale is not None:
            array = array * config.rescale
        if config.mean is not None:
            array = (array - np.asarray(config.mean, np.float64)) / np.asarray(config.std, np.float64)
        return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)

    def _resize(self, image):
        Image = _pil()
        width, height = self.config.size
        resample = Image.Resampling(self.config.resample if self.config.resample is not None else Image.Resampling.BICUBIC)
        if not self.config.keep_aspect_ratio:
            return image.resize((width, height), resample=resample)
        new_width = max(1, min(width, round(image.width * height / max(image.height, 1))))
        resized = image.resize((new_width, height), resample=resample)
        fill = int(round(self.config.pad_value))
        canvas = Image.new(image.mode, (width, height), fill if image.mode == "L" else (fill,) * 3)
        canvas.paste(resized, (0, 0))
        return canvas

    def fingerprint(self) -> str:
        """A string that changes when the processing changes (for dataset caches): the settings and the version of the
        pixel arithmetic."""
        return repr(sorted(self.config.to_dict().items())) + f"|v{self.arithmetic_version}"

    def __repr__(self) -> str:
        return f"ImageProcessor({self.config.to_dict()})"

