"""Log-mel filterbank features for speech models, computed in plain torch (no torchaudio).

Audio files are read with ``soundfile``, mixed down to mono and resampled with ``soxr`` when their rate differs from
the configured one. Frames are taken without centering, so an utterance of ``N`` samples gives
``num_frames(N) = 1 + (N - win_length) // hop_length`` frames (inputs shorter than one window are zero-padded to one
window, giving 1 frame). The config is saved as Hezar's ``preprocessor/feature_extractor_config.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..configs import PreprocessorConfig
from ..constants import FEATURE_EXTRACTOR_CONFIG_FILE
from ..errors import DataError, require
from ..registry import register_preprocessor
from .preprocessor import Preprocessor

__all__ = ["AudioFeatureExtractorConfig", "AudioFeatureExtractor", "mel_filterbank", "read_audio"]


@dataclass
class AudioFeatureExtractorConfig(PreprocessorConfig):
    """Settings of :class:`AudioFeatureExtractor` (Hezar's field names where Hezar has one).

    Args:
        feature_size: number of mel bins per frame.
        sampling_rate: rate (Hz) audio is resampled to before feature extraction.
        n_fft: FFT size in samples (400 = 25 ms at 16 kHz).
        win_length: Hann window length in samples.
        hop_length: frame shift in samples (160 = 10 ms at 16 kHz).
        f_min: lowest mel filter edge (Hz).
        f_max: highest mel filter edge (Hz); None = sampling_rate / 2.
        log_floor: power values are clamped to this before the log (avoids log(0) on silence).
        normalize: per-utterance mean/variance normalisation of each mel bin over time.
        padding_value: value of padded frames in a batch.
        padding_side: only ``right`` is supported (kept for Hezar compatibility).
    """

    name: str = "audio_feature_extractor"
    feature_size: int = 80
    sampling_rate: int = 16000
    n_fft: int = 400
    win_length: int = 400
    hop_length: int = 160
    f_min: float = 0.0
    f_max: float | None = None
    log_floor: float = 1e-10
    normalize: bool = True
    padding_value: float = 0.0
    padding_side: str = "right"

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        for key in ("feature_size", "sampling_rate", "n_fft", "win_length", "hop_length"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: {getattr(self, key)} must be a positive integer")
        if self.win_length > self.n_fft:
            problems.append(f"win_length: {self.win_length} must not exceed n_fft ({self.n_fft})")
        top = self.f_max if self.f_max is not None else self.sampling_rate / 2
        if not 0 <= self.f_min < top <= self.sampling_rate / 2:
            problems.append(f"f_min/f_max: need 0 <= f_min < f_max <= sampling_rate/2, got {self.f_min}/{top}")
        if self.padding_side != "right":
            problems.append(f"padding_side: {self.padding_side!r} is not supported; use 'right'")
        return problems


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sampling_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular HTK-scale mel filters (unnormalised, peak 1), like ``torchaudio.functional.melscale_fbanks``.

    Args:
        n_mels: number of filters.
        n_fft: FFT size; the filters cover its ``n_fft // 2 + 1`` frequency bins.
        sampling_rate: audio rate in Hz.
        f_min: lowest edge in Hz.
        f_max: highest edge in Hz (None = Nyquist).

    Returns:
        A float32 ``(n_fft // 2 + 1, n_mels)`` matrix; ``power_spectrum @ fbank`` gives mel energies.
    """
    f_max = sampling_rate / 2 if f_max is None else f_max
    bin_hz = np.linspace(0.0, sampling_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz[None, :] - lower) / (center - lower)
    falling = (upper - bin_hz[None, :]) / (upper - center)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    return torch.from_numpy(weights.T.astype(np.float32))


def read_audio(path: str | os.PathLike, sampling_rate: int) -> np.ndarray:
    """Read an audio file as mono float32 at ``sampling_rate``.

    Args:
        path: any format libsndfile reads (wav, flac, ogg ...).
        sampling_rate: target rate; the audio is resampled with soxr when its own rate differs.

    Returns:
        A 1-D float32 array.

    Raises:
        DataError: the file is missing or cannot be decoded (the message names the file).
        MissingDependencyError: soundfile (or soxr, when resampling) is not installed.
    """
    soundfile = require("soundfile", "soundfile", "audio", "Reading audio files")
    path = os.fspath(path)
    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError or OSError depending on the failure
        raise DataError(f"Cannot read audio file `{path}`: {type(e).__name__}: {e}") from None
    return to_mono_resampled(audio, rate, sampling_rate)


def to_mono_resampled(audio: np.ndarray, rate: int, sampling_rate: int) -> np.ndarray:
    """Mix ``(samples,)`` or ``(samples, channels)`` audio to mono float32 and resample it to ``sampling_rate``."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    elif audio.ndim != 1:
        raise ValueError(f"audio must be (samples,) or (samples, channels), got shape {audio.shape}")
    if int(rate) != int(sampling_rate):
        soxr = require("soxr", "soxr", "audio", "Resampling audio")
        audio = soxr.resample(audio, int(rate), int(sampling_rate)).astype(np.float32)
    return np.ascontiguousarray(audio)


@register_preprocessor("audio_feature_extractor", AudioFeatureExtractorConfig)
class AudioFeatureExtractor(Preprocessor):
    """Turn audio files or waveforms into padded log-mel feature batches.

    Args:
        config: the extractor's settings.
    """

    config_filename = FEATURE_EXTRACTOR_CONFIG_FILE
    model_input_name = "input_features"

    def __init__(self, config: AudioFeatureExtractorConfig | None = None, **kwargs):
        super().__init__(config if config is not None else AudioFeatureExtractorConfig(), **kwargs)
        c = self.config
        self._fbank = mel_filterbank(c.feature_size, c.n_fft, c.sampling_rate, c.f_min, c.f_max)
        self._window = torch.hann_window(c.win_length, periodic=True, dtype=torch.float32)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples: ``1 + (N - win_length) // hop_length`` (at least 1)."""
        return 1 + max(int(num_samples) - self.config.win_length, 0) // self.config.hop_length

    def load_waveform(self, audio: Any, sampling_rate: int | None = None) -> np.ndarray:
        """One input (file path, or array/tensor of samples at ``sampling_rate``) as mono float32 at the config's rate.

        Raises:
            DataError: an unreadable file. TypeError: an input that is neither a path nor an array.
        """
        if isinstance(audio, (str, os.PathLike)):
            return read_audio(audio, self.config.sampling_rate)
        if isinstance(audio, torch.Tensor):
            audio = audio.detach().cpu().numpy()
        if isinstance(audio, (np.ndarray, list)):
            return to_mono_resampled(np.asarray(audio), sampling_rate or self.config.sampling_rate,
                                     self.config.sampling_rate)
        raise TypeError(f"audio input must be a file path or an array of samples, got {type(audio).__name__}")

    def extract(self, waveform: np.ndarray | torch.Tensor) -> np.ndarray:
        """Log-mel features of one mono waveform already at the config's sampling rate.

        Returns:
            A float32 ``(num_frames(len(waveform)), feature_size)`` array.
        """
        return self.extract_batch([waveform])[0]

    def extract_batch(self, waveforms: Sequence[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
        """Log-mel features of several mono waveforms (at the config's rate), one array per waveform.

        All frames of the batch go through one FFT and one filterbank product (far fewer torch calls than one
        utterance at a time); the per-utterance normalisation is then applied to each utterance's own frames.

        Returns:
            One float32 ``(num_frames(len(w)), feature_size)`` array per waveform.
        """
        c = self.config
        frames = []
        for waveform in waveforms:
            signal = torch.as_tensor(np.asarray(waveform, dtype=np.float32)).reshape(-1)
            if signal.numel() < c.win_length:
                signal = torch.nn.functional.pad(signal, (0, c.win_length - signal.numel()))
            frames.append(signal.unfold(0, c.win_length, c.hop_length))
        counts = [len(f) for f in frames]
        power = torch.fft.rfft(torch.cat(frames) * self._window, n=c.n_fft).abs().pow(2)
        features = torch.log(torch.clamp(power @ self._fbank, min=c.log_floor))
        out = []
        for chunk in torch.split(features, counts):
            if c.normalize:
                # Per-utterance CMVN: removes channel gain and loudness, which vary between recordings.
                chunk = (chunk - chunk.mean(0)) / (chunk.std(0, correction=0) + 1e-5)
            out.append(chunk.numpy())
        return out

    def __call__(self, inputs: Any, sampling_rate: int | None = None, return_tensors: str = "pt") -> dict:
        """Extract and right-pad features for one input or a batch.

        Args:
            inputs: a file path, a 1-D/2-D array or tensor of samples, or a list of those.
            sampling_rate: rate of array inputs (default: the config's); files carry their own.
            return_tensors: ``pt`` (torch tensors) or ``np`` (numpy arrays).

        Returns:
            ``{"input_features": (B, T, feature_size) float32, "input_lengths": (B,) int64}``, padded with
            ``padding_value``.

        Raises:
            DataError: an unreadable file. TypeError: an unsupported input type.
        """
        batch = _as_batch(inputs)
        features = self.extract_batch([self.load_waveform(x, sampling_rate) for x in batch])
        lengths = np.array([len(f) for f in features], dtype=np.int64)
        padded = np.full((len(features), int(lengths.max()), self.config.feature_size), self.config.padding_value,
                         dtype=np.float32)
        for i, f in enumerate(features):
            padded[i, : len(f)] = f
        if return_tensors == "np":
            return {"input_features": padded, "input_lengths": lengths}
        return {"input_features": torch.from_numpy(padded), "input_lengths": torch.from_numpy(lengths)}

    def fingerprint(self) -> str:
        """A string that changes whenever the features would (used in dataset cache keys)."""
        return repr(sorted(self.config.to_dict().items()))

    def __repr__(self) -> str:
        c = self.config
        return (f"AudioFeatureExtractor(mels={c.feature_size}, rate={c.sampling_rate}, n_fft={c.n_fft}, "
                f"hop={c.hop_length}, normalize={c.normalize})")


def _as_batch(inputs: Any) -> Sequence:
    """A list of single inputs: a path or a 1-D/2-D array is one input; a list of numbers is one waveform."""
    if isinstance(inputs, (str, os.PathLike, np.ndarray, torch.Tensor)):
        return [inputs]
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise ValueError("no audio inputs given")
        if isinstance(inputs[0], (int, float, np.number)):
            return [np.asarray(inputs, dtype=np.float32)]
        return list(inputs)
    raise TypeError(f"audio input must be a file path, an array, or a list of them; got {type(inputs).__name__}")
