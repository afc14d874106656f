"""Whisper's log-mel features (Hezar's ``whisper_feature_extractor``), numerically those of Hezar's and 🤗's extractor.

Each waveform is cut or zero-padded to ``chunk_length`` seconds, turned into a centred STFT power spectrum (Hann window
of ``n_fft``, hop ``hop_length``, the last frame dropped), projected onto Slaney-style mel filters (0-8 kHz, area
normalised), put on a log10 scale, floored 8 below its own maximum and mapped by ``(x + 4) / 4``. A waveform of
``chunk_length * sampling_rate`` samples gives ``chunk_length * sampling_rate // hop_length`` frames, which a Whisper
model needs to be exactly ``2 * max_source_positions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..configs import PreprocessorConfig
from ..registry import register_preprocessor
from .audio_feature_extractor import AudioFeatureExtractor, _as_batch
from .preprocessor import Preprocessor

__all__ = ["WhisperFeatureExtractorConfig", "WhisperFeatureExtractor", "slaney_mel_filters"]

# Hezar's extractor fixes the top mel edge at 8 kHz (Whisper's), whatever the sampling rate.
_MAX_FREQUENCY = 8000.0


@dataclass
class WhisperFeatureExtractorConfig(PreprocessorConfig):
    """Settings of :class:`WhisperFeatureExtractor`: Hezar's keys and defaults.

    Args:
        feature_size: mel bins per frame (the model's ``num_mel_bins``).
        sampling_rate: rate (Hz) the audio is resampled to.
        hop_length: frame shift in samples (160 = 10 ms at 16 kHz).
        chunk_length: seconds every input is cut or zero-padded to (30 for OpenAI's Whisper; smaller for small
            models, as long as ``chunk_length * sampling_rate / hop_length == 2 * max_source_positions``).
        n_fft: FFT size and Hann window length in samples.
        padding: kept for Hezar (inputs are always padded to ``chunk_length``).
        padding_value: value of the padded samples (0.0 = silence).
        padding_side: only ``right`` is supported.
        return_attention_mask: also return a ``(batch, frames)`` mask, 1 on frames of real audio (Whisper's encoder
            does not use it).
    """

    name: str = "whisper_feature_extractor"
    feature_size: int = 80
    sampling_rate: int = 16000
    hop_length: int = 160
    chunk_length: int = 30
    n_fft: int = 400
    padding: str | None = "longest"
    padding_value: float = 0.0
    padding_side: str | None = "right"
    return_attention_mask: bool = False

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        for key in ("feature_size", "sampling_rate", "hop_length", "chunk_length", "n_fft"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: {getattr(self, key)} must be a positive integer")
        if self.padding_side not in (None, "right"):
            problems.append(f"padding_side: {self.padding_side!r} is not supported; use 'right'")
        if self.sampling_rate < 2 * _MAX_FREQUENCY:
            problems.append(f"sampling_rate: {self.sampling_rate} Hz cannot carry the 0-8 kHz mel range Whisper "
                            "uses; use at least 16000")
        return problems


def _hertz_to_mel(freq):
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    mels = 3.0 * freq / 200.0
    log_region = freq >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(freq, 1e-10) / 1000.0) * (27.0 / np.log(6.4)), mels)


def _mel_to_hertz(mels):
    mels = np.asarray(mels, dtype=np.float64)
    freq = 200.0 * mels / 3.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels - 15.0)), freq)


def slaney_mel_filters(num_frequency_bins: int, num_mel_filters: int, min_frequency: float, max_frequency: float,
                       sampling_rate: int) -> np.ndarray:
    """Area-normalised triangular filters on Slaney's mel scale (librosa's default, Whisper's).

    Returns:
        A float64 ``(num_frequency_bins, num_mel_filters)`` matrix, as 🤗's ``mel_filter_bank(norm="slaney",
        mel_scale="slaney")``.
    """
    fft_freqs = np.linspace(0, sampling_rate // 2, num_frequency_bins)
    mel_freqs = np.linspace(_hertz_to_mel(min_frequency), _hertz_to_mel(max_frequency), num_mel_filters + 2)
    filter_freqs = _mel_to_hertz(mel_freqs)
    filter_diff = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / filter_diff[:-1]
    up = slopes[:, 2:] / filter_diff[1:]
    filters = np.maximum(np.zeros(1), np.minimum(down, up))
    return filters * (2.0 / (filter_freqs[2: num_mel_filters + 2] - filter_freqs[:num_mel_filters]))[None, :]


@register_preprocessor("whisper_feature_extractor", WhisperFeatureExtractorConfig)
class WhisperFeatureExtractor(AudioFeatureExtractor):
    """Whisper log-mel features of audio files or waveforms, every input cut or padded to ``chunk_length`` seconds.

    Reading and resampling audio is :class:`AudioFeatureExtractor`'s; the features are Whisper's.

    Args:
        config: the extractor's settings.
    """

    # A Whisper model reads (batch, mels, frames); datasets store frames first and collate channels first.
    channels_first = True

    def __init__(self, config: WhisperFeatureExtractorConfig | None = None, **kwargs):
        # The parent's own filterbank and window do not apply: only its audio reading is shared.
        Preprocessor.__init__(self, config if config is not None else WhisperFeatureExtractorConfig(), **kwargs)
        c = self.config
        self.n_samples = c.chunk_length * c.sampling_rate
        self._filters = torch.from_numpy(
            slaney_mel_filters(1 + c.n_fft // 2, c.feature_size, 0.0, _MAX_FREQUENCY, c.sampling_rate)).float()
        self._window = torch.hann_window(c.n_fft)

    @property
    def num_chunk_frames(self) -> int:
        """Frames of every output: ``chunk_length * sampling_rate // hop_length``."""
        return self.n_samples // self.config.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Frames that hold real audio for ``num_samples`` samples (the rest of the chunk is padding)."""
        return -(-min(int(num_samples), self.n_samples) // self.config.hop_length)

    def _fit(self, waveform) -> np.ndarray:
        signal = np.asarray(waveform, dtype=np.float32).reshape(-1)[: self.n_samples]
        return np.pad(signal, (0, self.n_samples - len(signal)), constant_values=self.config.padding_value)

    def extract_batch(self, waveforms: Sequence[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
        """Log-mel features of mono waveforms at the config's rate, each ``(num_chunk_frames, feature_size)``
        (frames first, the layout datasets store; :meth:`__call__` returns the model's channels-first layout).
        """
        signals = torch.from_numpy(np.stack([self._fit(w) for w in waveforms]))
        stft = torch.stft(signals, self.config.n_fft, self.config.hop_length, window=self._window, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        log_spec = torch.clamp(self._filters.T @ power, min=1e-10).log10()
        # Each utterance is floored 8 (log10 units) below its own loudest bin, as Hezar does input by input.
        top = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = (torch.maximum(log_spec, top - 8.0) + 4.0) / 4.0
        return [features.T.contiguous().numpy() for features in log_spec]

    def __call__(self, inputs: Any, sampling_rate: int | None = None, return_tensors: str = "pt") -> dict:
        """Whisper features for one input or a batch.

        Args:
            inputs: a file path, a 1-D/2-D array or tensor of samples, or a list of those.
            sampling_rate: rate of array inputs (default: the config's); files carry their own.
            return_tensors: ``pt`` or ``np``.

        Returns:
            ``{"input_features": (batch, feature_size, num_chunk_frames) float32}`` plus ``attention_mask``
            ``(batch, num_chunk_frames)`` when ``return_attention_mask`` is set.

        Raises:
            DataError: an unreadable file. TypeError: an unsupported input type.
        """
        waveforms = [self.load_waveform(x, sampling_rate) for x in _as_batch(inputs)]
        features = np.stack([f.T for f in self.extract_batch(waveforms)])
        out = {"input_features": features}
        if self.config.return_attention_mask:
            frames = np.arange(self.num_chunk_frames)[None, :]
            out["attention_mask"] = (frames < np.array([[self.num_frames(len(w))] for w in waveforms])).astype(np.int64)
        return out if return_tensors == "np" else {k: torch.from_numpy(v) for k, v in out.items()}

    def __repr__(self) -> str:
        c = self.config
        return (f"WhisperFeatureExtractor(mels={c.feature_size}, rate={c.sampling_rate}, chunk={c.chunk_length}s, "
                f"hop={c.hop_length})")
