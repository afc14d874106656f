"""Train-time speech augmentation: speed perturbation and additive noise on the waveform, SpecAugment on the features.

Every draw comes from generators keyed on ``(seed, epoch, index)``
(:func:`~hezar_accel.data.augmenting.sample_generator`): the result is a pure function of the sample, the settings and
that key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..configs import Config
from ..errors import require
from .augmenting import sample_generator

__all__ = ["AudioAugmentationConfig", "perturb_speed", "add_noise", "spec_augment"]

# One random stream per step (see sample_generator): the numbers are part of the draw, never reorder them.
_APPLY, _SPEED, _NOISE, _FREQ_MASKS, _TIME_MASKS = range(5)


@dataclass
class AudioAugmentationConfig(Config):
    """Random changes applied to speech training samples (never to evaluation samples). The defaults change nothing.

    Args:
        probability: share of training samples augmented in an epoch (the others are left exactly as stored), in
            [0, 1]; 0 = off.
        speed: ``[min, max]`` playback-speed factor of speed perturbation (resampling, as Kaldi's: 1.25 = 25% faster,
            shorter and higher-pitched); each sample draws a factor log-uniformly in the range, so speeding up and
            slowing down are equally likely around 1. Within (0.25, 4]. None = off.
        noise_snr: ``[min, max]`` signal-to-noise ratio of added white Gaussian noise, in dB (the sample's mean power
            over the noise's; 40 dB is barely audible, 5 dB is loud); each sample draws one uniformly. None = off.
        freq_masks: SpecAugment frequency masks per sample (bands of mel bins set to the features' mean); 0 = off.
        freq_mask_bins: widest frequency mask, in mel bins (each mask draws a width in [0, this]).
        time_masks: SpecAugment time masks per sample (runs of frames set to the features' mean); 0 = off.
        time_mask_frames: widest time mask, in feature frames (10 ms each at the usual hop of 160 samples at 16 kHz).
        time_mask_ratio: a time mask also covers at most this share of the sample's frames, in (0, 1], so a short
            utterance does not lose whole words its transcript still holds.
        seed: seed of the draws (>= 0). A sample's augmentation depends only on (seed, epoch, sample index).
    """

    name: str = "audio_augmentation"
    probability: float = 1.0
    speed: list[float] | None = None
    noise_snr: list[float] | None = None
    freq_masks: int = 0
    freq_mask_bins: int = 10
    time_masks: int = 0
    time_mask_frames: int = 10
    time_mask_ratio: float = 0.1
    seed: int = 0

    @property
    def changes_waveform(self) -> bool:
        """Whether a waveform step (speed, noise) is on: the dataset then keeps the waveforms to redo the features."""
        return self.speed is not None or self.noise_snr is not None

    @property
    def is_off(self) -> bool:
        """True when no sample would change: probability 0, or no step on."""
        return self.probability == 0 or not (self.changes_waveform or self.freq_masks or self.time_masks)

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        if not 0 <= self.probability <= 1:
            problems.append(f"probability: {self.probability} must be in [0, 1] (0 = off, 1 = every sample)")
        if self.speed is not None and not (len(self.speed) == 2 and 0.25 < self.speed[0] <= self.speed[1] <= 4):
            problems.append(f"speed: {self.speed!r} must be [min, max] factors with 0.25 < min <= max <= 4, e.g. "
                            "[0.8, 1.25]; null = off")
        if self.noise_snr is not None and not (len(self.noise_snr) == 2 and self.noise_snr[0] <= self.noise_snr[1]):
            problems.append(f"noise_snr: {self.noise_snr!r} must be [min, max] in dB with min <= max, e.g. [10, 40]; "
                            "null = off")
        for name in ("freq_masks", "freq_mask_bins", "time_masks", "time_mask_frames"):
            if getattr(self, name) < 0:
                problems.append(f"{name}: {getattr(self, name)} must be >= 0 (0 = off)")
        if not 0 < self.time_mask_ratio <= 1:
            problems.append(f"time_mask_ratio: {self.time_mask_ratio} must be in (0, 1], e.g. 0.1")
        if self.seed < 0:
            problems.append(f"seed: {self.seed} must be a non-negative integer")
        return problems


def draws_augmentation(config: AudioAugmentationConfig, key: tuple[int, int]) -> bool:
    """Whether the sample with ``key`` = ``(epoch, index)`` is augmented at all (the ``probability`` draw)."""
    return config.probability >= 1 or sample_generator(config.seed, *key, _APPLY).random() < config.probability


def augment_waveform(waveform: np.ndarray, sampling_rate: int, config: AudioAugmentationConfig,
                     key: tuple[int, int]) -> np.ndarray:
    """Speed perturbation, then additive noise, as the config and ``key`` = ``(epoch, index)`` draw them."""
    if config.speed is not None:
        low, high = config.speed
        factor = math.exp(sample_generator(config.seed, *key, _SPEED).uniform(math.log(low), math.log(high)))
        waveform = perturb_speed(waveform, factor, sampling_rate)
    if config.noise_snr is not None:
        noise_rng = sample_generator(config.seed, *key, _NOISE)
        waveform = add_noise(waveform, noise_rng.uniform(*config.noise_snr), noise_rng)
    return waveform


def perturb_speed(waveform: np.ndarray, factor: float, sampling_rate: int) -> np.ndarray:
    """Play ``waveform`` ``factor`` times faster: read it as if sampled at ``rate * factor`` and resample to ``rate``
    with soxr (so it is ``1 / factor`` as long, and its pitch ``factor`` times higher).

    Raises:
        MissingDependencyError: soxr is not installed (the message gives the pip line).
    """
    if factor == 1:
        return waveform
    soxr = require("soxr", "soxr", "audio", "Speed perturbation (speech augmentation)")
    return soxr.resample(np.asarray(waveform, np.float32), sampling_rate * factor, sampling_rate).astype(np.float32)


def add_noise(waveform: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``waveform`` plus white Gaussian noise whose power is the waveform's mean power divided by ``10^(snr/10)``."""
    waveform = np.asarray(waveform, np.float32)
    power = float(np.mean(np.square(waveform, dtype=np.float64))) if waveform.size else 0.0
    std = math.sqrt(power / 10 ** (snr_db / 10))
    return (waveform + rng.standard_normal(waveform.shape).astype(np.float32) * np.float32(std)).astype(np.float32)


def spec_augment(features: np.ndarray, config: AudioAugmentationConfig, key: tuple[int, int]) -> np.ndarray:
    """SpecAugment's frequency and time masks on ``(frames, mel bins)`` features; a new array (or ``features``
    itself when no mask is on). Masked cells get the features' mean (0 for per-utterance normalised features)."""
    if not (config.freq_masks or config.time_masks):
        return features
    out = np.array(features, dtype=np.float32, copy=True)
    frames, bins = out.shape
    fill = np.float32(out.mean()) if out.size else np.float32(0)
    masks = ((config.freq_masks, min(config.freq_mask_bins, bins), bins, 1, _FREQ_MASKS),
             (config.time_masks, min(config.time_mask_frames, int(config.time_mask_ratio * frames)), frames, 0,
              _TIME_MASKS))
    for count, widest, size, axis, stream in masks:
        rng = sample_generator(config.seed, *key, stream)
        for _ in range(count):
            width = int(rng.integers(0, widest + 1)) if widest > 0 else 0
            start = int(rng.integers(0, size - width + 1))
            if axis == 1:
                out[:, start:start + width] = fill
            else:
                out[start:start + width, :] = fill
    return out
