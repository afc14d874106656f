"""Train-time image augmentation for OCR, in numpy: stroke width, affine/perspective/elastic warp, blur, contrast,
brightness and noise.

It works on the processed image (the model's input size), in 0-255 pixel units, so every setting means the same
whatever the processor's rescaling and normalisation. Every draw comes from generators keyed on
``(seed, epoch, index)`` (:func:`~hezar_accel.data.augmenting.sample_generator`): the result is a pure function of the
sample, the settings and that key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..configs import Config
from .augmenting import sample_generator

__all__ = ["ImageAugmentationConfig", "augment_image", "pixel_units"]

# One random stream per step (see sample_generator): the numbers are part of the draw, never reorder them.
_APPLY, _STROKE, _AFFINE, _PERSPECTIVE, _ELASTIC, _BLUR, _TONE, _NOISE = range(8)

# Field -> (largest accepted value, why): a larger value would destroy the text rather than vary it.
_LIMITS = {
    "rotation": (45.0, "degrees"), "shear": (45.0, "degrees"), "scale": (0.5, "a fraction: 0.1 = x0.9..x1.1"),
    "translate": (0.5, "a fraction of the image size"), "perspective": (0.25, "a fraction of the image size"),
    "elastic": (8.0, "pixels"), "stroke": (3.0, "pixels"), "blur": (5.0, "pixels (Gaussian sigma)"),
    "contrast": (0.9, "a fraction: 0.3 = x0.7..x1.3"), "brightness": (255.0, "0-255 pixel units"),
    "noise": (128.0, "0-255 pixel units (noise std)"),
}


@dataclass
class ImageAugmentationConfig(Config):
    """Random changes applied to OCR training images (never to evaluation images). Every magnitude is a maximum: each
    sample draws its own value uniformly in ``[-max, max]`` (``[0, max]`` for blur and noise); 0 switches that change
    off, and all zeros (the defaults) is no augmentation at all.

    Args:
        probability: share of training samples augmented in an epoch (the others are left exactly as stored), in
            [0, 1]; 0 = off.
        rotation: rotation, in degrees (counter-clockwise or clockwise); 0 = off.
        shear: horizontal shear (slanted, italic-like glyphs), in degrees; 0 = off.
        scale: relative size change, a fraction (0.1 = x0.9 to x1.1, width and height alike); 0 = off.
        translate: shift, a fraction of the image's width and height (0.05 = up to 5%); 0 = off.
        perspective: corner displacement of a perspective warp, a fraction of the image's width and height; 0 = off.
        elastic: displacement of a smooth random (elastic) warp that bends glyph shapes like another font would,
            in pixels of the processed image; 0 = off.
        elastic_grid: spacing of the elastic warp's random control points, in pixels of the processed image (smaller
            = wigglier); >= 2.
        stroke: stroke width change, in pixels of the processed image: grayscale erosion/dilation by a 3x3 square,
            fractions blended (0.5 = half a pixel); drawn in [-stroke, stroke], so thinner and bolder glyphs are
            equally likely whatever the text's polarity; 0 = off.
        blur: Gaussian blur, its sigma in pixels of the processed image (drawn in [0, blur]); 0 = off.
        contrast: relative contrast change around the image mean, a fraction (0.3 = x0.7 to x1.3); 0 = off.
        brightness: brightness shift, in 0-255 pixel units; 0 = off.
        noise: std of additive Gaussian pixel noise, in 0-255 pixel units (drawn in [0, noise]); 0 = off.
        seed: seed of the draws (>= 0). A sample's augmentation depends only on (seed, epoch, sample index).
    """

    name: str = "image_augmentation"
    probability: float = 1.0
    rotation: float = 0.0
    shear: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    perspective: float = 0.0
    elastic: float = 0.0
    elastic_grid: int = 8
    stroke: float = 0.0
    blur: float = 0.0
    contrast: float = 0.0
    brightness: float = 0.0
    noise: float = 0.0
    seed: int = 0

    @property
    def is_off(self) -> bool:
        """True when no sample would change: probability 0 or every magnitude 0."""
        return self.probability == 0 or all(getattr(self, name) == 0 for name in _LIMITS)

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        if not 0 <= self.probability <= 1:
            problems.append(f"probability: {self.probability} must be in [0, 1] (0 = off, 1 = every sample)")
        for name, (limit, unit) in _LIMITS.items():
            value = getattr(self, name)
            if not 0 <= value <= limit:
                problems.append(f"{name}: {value} must be in [0, {limit:g}] ({unit}; 0 = off)")
        if self.elastic_grid < 2:
            problems.append(f"elastic_grid: {self.elastic_grid} must be >= 2 (pixels between control points)")
        if self.seed < 0:
            problems.append(f"seed: {self.seed} must be a non-negative integer")
        return problems


def pixel_units(processor_config, num_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, offset)``, each ``(C, 1, 1)`` float32, with ``pixels = processed * scale + offset``.

    Inverts an :class:`~hezar_accel.preprocessors.ImageProcessorConfig`'s ``(pixels * rescale - mean) / std``, so the
    augmentation can work in 0-255 units and hand back values normalised exactly as the processor's.
    """
    rescale = processor_config.rescale if processor_config.rescale is not None else 1.0
    mean = np.broadcast_to(np.asarray(processor_config.mean if processor_config.mean is not None else [0.0],
                                      np.float64), (num_channels,))
    std = np.broadcast_to(np.asarray(processor_config.std if processor_config.std is not None else [1.0],
                                     np.float64), (num_channels,))
    scale, offset = std / rescale, mean / rescale
    return scale.astype(np.float32).reshape(-1, 1, 1), offset.astype(np.float32).reshape(-1, 1, 1)


def augment_image(pixels: np.ndarray, config: ImageAugmentationConfig, key: tuple[int, int]) -> np.ndarray:
    """Augment one image.

    Args:
        pixels: a ``(C, H, W)`` array in 0-255 units (not modified).
        config: the settings.
        key: ``(epoch, sample index)``; with ``config.seed`` it decides every draw.

    Returns:
        A new float32 ``(C, H, W)`` array clipped to [0, 255]; ``pixels`` itself (unchanged) for a sample the
        ``probability`` draw leaves out.
    """
    epoch, index = key

    def rng(stream: int) -> np.random.Generator:
        return sample_generator(config.seed, epoch, index, stream)

    if config.probability < 1 and rng(_APPLY).random() >= config.probability:
        return pixels
    out = np.array(pixels, dtype=np.float32, copy=True)
    if config.stroke:
        out = _change_stroke(out, rng(_STROKE).uniform(-config.stroke, config.stroke))
    source = _source_coordinates(out.shape[1:], config, rng)
    if source is not None:
        out = _bilinear(out, *source)
    if config.blur:
        out = _gaussian_blur(out, rng(_BLUR).uniform(0.0, config.blur))
    if config.contrast or config.brightness:
        tone = rng(_TONE)
        factor, shift = 1.0 + tone.uniform(-config.contrast, config.contrast), tone.uniform(-config.brightness,
                                                                                             config.brightness)
        mean = out.mean(axis=(1, 2), keepdims=True)
        out = (out - mean) * np.float32(factor) + mean + np.float32(shift)
    if config.noise:
        noise = rng(_NOISE)
        std = noise.uniform(0.0, config.noise)
        out = out + noise.standard_normal(out.shape).astype(np.float32) * np.float32(std)
    return np.clip(out, 0.0, 255.0).astype(np.float32)


def _change_stroke(image: np.ndarray, amount: float) -> np.ndarray:
    """Erode (amount > 0: dark strokes grow) or dilate (amount < 0) by ``|amount|`` pixels, the fraction blended."""
    operation = np.minimum if amount > 0 else np.maximum
    whole, fraction = divmod(abs(amount), 1.0)
    for _ in range(int(whole)):
        image = _filter3x3(image, operation)
    if fraction:
        image = image + np.float32(fraction) * (_filter3x3(image, operation) - image)
    return image


def _filter3x3(image: np.ndarray, operation) -> np.ndarray:
    """Grayscale min or max over each pixel's 3x3 neighbourhood (edges replicated)."""
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
    height, width = image.shape[1:]
    out = padded[:, 1:height + 1, 1:width + 1]
    for dy in range(3):
        for dx in range(3):
            out = operation(out, padded[:, dy:dy + height, dx:dx + width])
    return out


def _source_coordinates(shape: tuple[int, int], config: ImageAugmentationConfig, rng):
    """For each output pixel, the (x, y) it is read from, or None when no geometric change is on."""
    height, width = shape
    geometric = (config.rotation, config.shear, config.scale, config.translate, config.perspective, config.elastic)
    if not any(geometric):
        return None
    # Output -> source: invert the forward map (affine about the centre, then perspective) on homogeneous coordinates.
    forward = _perspective(width, height, config.perspective, rng(_PERSPECTIVE)) @ _affine(width, height, config,
                                                                                           rng(_AFFINE))
    inverse = np.linalg.inv(forward)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    points = inverse @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    sx, sy = (points[0] / points[2]).reshape(shape), (points[1] / points[2]).reshape(shape)
    if config.elastic:
        dx, dy = _elastic_field(height, width, config.elastic, config.elastic_grid, rng(_ELASTIC))
        sx, sy = sx + dx, sy + dy
    return sx, sy


def _affine(width: int, height: int, config: ImageAugmentationConfig, rng: np.random.Generator) -> np.ndarray:
    """A 3x3 forward matrix: scale, shear and rotation about the image centre, then a translation."""
    angle = math.radians(rng.uniform(-config.rotation, config.rotation))
    shear = math.tan(math.radians(rng.uniform(-config.shear, config.shear)))
    scale = 1.0 + rng.uniform(-config.scale, config.scale)
    shift_x = rng.uniform(-config.translate, config.translate) * width
    shift_y = rng.uniform(-config.translate, config.translate) * height
    cx, cy = (width - 1) / 2, (height - 1) / 2
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, cx + shift_x], [0, 1, cy + shift_y], [0, 0, 1]], dtype=np.float64)
    cos, sin = math.cos(angle), math.sin(angle)
    rotate = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], dtype=np.float64)
    slant = np.array([[1, shear, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    resize = np.diag([scale, scale, 1.0])
    return back @ rotate @ slant @ resize @ to_centre


def _perspective(width: int, height: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    """The homography moving each corner by up to ``amount`` of the image size (identity when 0)."""
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float64)
    moved = corners + rng.uniform(-amount, amount, size=(4, 2)) * np.array([width, height])
    rows, values = [], []
    for (x, y), (u, v) in zip(corners, moved):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    h = np.linalg.solve(np.array(rows), np.array(values))
    return np.append(h, 1.0).reshape(3, 3)


def _elastic_field(height: int, width: int, amount: float, grid: int, rng: np.random.Generator):
    """A smooth displacement field: random offsets in [-amount, amount] on a coarse grid, bilinearly upsampled."""
    rows, cols = height // grid + 2, width // grid + 2
    coarse = rng.uniform(-amount, amount, size=(2, rows, cols))
    ys = np.arange(height, dtype=np.float64) / grid
    xs = np.arange(width, dtype=np.float64) / grid
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = coarse[:, y0][:, :, x0] * (1 - wx) + coarse[:, y0][:, :, x0 + 1] * wx
    bottom = coarse[:, y0 + 1][:, :, x0] * (1 - wx) + coarse[:, y0 + 1][:, :, x0 + 1] * wx
    field = top * (1 - wy) + bottom * wy
    return field[0], field[1]


def _bilinear(image: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Sample ``image`` at source coordinates; outside the image the nearest edge pixel (plate background) is read."""
    height, width = image.shape[1:]
    sx, sy = np.clip(sx, 0, width - 1), np.clip(sy, 0, height - 1)
    x0, y0 = np.floor(sx).astype(np.intp), np.floor(sy).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    wx, wy = (sx - x0).astype(np.float32), (sy - y0).astype(np.float32)
    top = image[:, y0, x0] * (1 - wx) + image[:, y0, x1] * wx
    bottom = image[:, y1, x0] * (1 - wx) + image[:, y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (edges replicated); sigma below 0.1 pixel changes nothing visible and is skipped."""
    if sigma < 0.1:
        return image
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    height, width = image.shape[1:]
    padded = np.pad(image, ((0, 0), (0, 0), (radius, radius)), mode="edge")
    image = sum(t * padded[:, :, k:k + width] for k, t in enumerate(taps))
    padded = np.pad(image, ((0, 0), (radius, radius), (0, 0)), mode="edge")
    return sum(t * padded[:, k:k + height, :] for k, t in enumerate(taps)).astype(np.float32)
