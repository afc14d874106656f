"""A small Conformer-CTC speech recognizer: log-mel frames -> 4x conv subsampling -> Conformer -> characters.

Outputs are batch-first ``(B, T', num_labels)`` logits plus ``output_lengths``. Padded frames past each sample's
``output_lengths`` carry logits that make the blank the argmax, so any greedy decoder (also the trainer's metrics,
which never see the lengths) turns them into nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...configs import ModelConfig
from ...constants import TaskType
from ...ctc import ctc_greedy_collapse
from ...registry import register_model
from ..model import Model
from .conformer import ConformerEncoder, ConvSubsampling, frame_mask, subsampled_lengths

__all__ = ["CTCSpeechRecognitionConfig", "CTCSpeechRecognition"]

IGNORE_INDEX = -100
# Padded frames get this logit on every non-blank class (blank gets 0); finite so fp16/bf16 and log_softmax stay clean.
_PAD_LOGIT = -1e4


@dataclass
class CTCSpeechRecognitionConfig(ModelConfig):
    """Config of :class:`CTCSpeechRecognition`.

    Args:
        id2label: output class id -> character; ids must be ``0..n-1`` and include ``blank_id``. Keys may be ints or
            digit strings (as read back from YAML). Usually the dataset's ``id2label``.
        blank_id: the CTC blank class.
        num_mel_bins: feature bins per input frame (the feature extractor's ``feature_size``).
        subsampling_factor: time reduction of the conv front end: 2, 4 or 8 (one stride-2 Conv2d per factor of 2).
        subsampling_channels: channels of the subsampling convolutions.
        d_model: encoder width.
        num_layers: Conformer blocks.
        num_heads: attention heads (must divide ``d_model``).
        ff_dim: feed-forward inner width.
        conv_kernel_size: depthwise convolution kernel (odd).
        dropout: dropout in the encoder and before the CTC head.
    """

    name: str = "conformer_ctc_speech_recognition"
    task: str = TaskType.SPEECH_RECOGNITION.value
    id2label: dict | None = None
    blank_id: int = 0
    num_mel_bins: int = 80
    subsampling_factor: int = 4
    subsampling_channels: int = 64
    d_model: int = 144
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 576
    conv_kernel_size: int = 15
    dropout: float = 0.1

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        if not self.id2label:
            problems.append("id2label: required (class id -> character, blank included); "
                            "take it from the dataset, e.g. id2label=train_dataset.id2label")
        elif sorted(_int_key(k) for k in self.id2label) != list(range(len(self.id2label))):
            problems.append(f"id2label: keys {list(self.id2label)[:10]} must be the ids 0..{len(self.id2label) - 1}")
        elif not 0 <= self.blank_id < len(self.id2label):
            problems.append(f"blank_id: {self.blank_id} is not an id of id2label (0..{len(self.id2label) - 1})")
        if self.subsampling_factor not in (2, 4, 8):
            problems.append(f"subsampling_factor: {self.subsampling_factor} is not supported; use 2, 4 or 8")
        for key in ("num_mel_bins", "subsampling_channels", "d_model", "num_layers", "num_heads", "ff_dim"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: {getattr(self, key)} must be a positive integer")
        if self.num_heads >= 1 and self.d_model % self.num_heads:
            problems.append(f"num_heads: {self.num_heads} does not divide d_model {self.d_model}")
        if self.d_model % 2:
            problems.append(f"d_model: {self.d_model} must be even (sinusoidal positions)")
        if self.conv_kernel_size < 1 or self.conv_kernel_size % 2 == 0:
            problems.append(f"conv_kernel_size: {self.conv_kernel_size} must be a positive odd integer")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout: {self.dropout} must be in [0, 1)")
        return problems


def _int_key(key: Any) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        return -1


@register_model("conformer_ctc_speech_recognition", CTCSpeechRecognitionConfig)
class CTCSpeechRecognition(Model):
    """Conformer encoder with a linear CTC head over characters.

    Args:
        config: the model config (never mutated).
    """

    def __init__(self, config: CTCSpeechRecognitionConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.id2label = {int(k): str(v) for k, v in config.id2label.items()}
        self.blank_id = config.blank_id
        self.num_labels = len(self.id2label)
        self.subsampling = ConvSubsampling(config.num_mel_bins, config.subsampling_channels, config.d_model,
                                           int(math.log2(config.subsampling_factor)))
        self.encoder = ConformerEncoder(config.d_model, config.num_layers, config.num_heads, config.ff_dim,
                                        config.conv_kernel_size, config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.ctc_head = nn.Linear(config.d_model, self.num_labels)

    def output_lengths(self, input_lengths: torch.Tensor | int):
        """Encoder frames for ``input_lengths`` feature frames: ``L -> (L - 1) // 2 + 1`` per stride-2 stage."""
        return subsampled_lengths(input_lengths, self.subsampling.num_stages)

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None,
                input_lengths: torch.Tensor | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Per-frame character logits.

        Args:
            input_features: ``(B, T, num_mel_bins)`` right-padded features.
            attention_mask: ``(B, T)``, 1 on real frames (used when ``input_lengths`` is not given).
            input_lengths: ``(B,)`` real frame counts. Without both, every frame is real.
            **kwargs: ignored (e.g. ``labels`` of a collated batch).

        Returns:
            ``{"logits": (B, T', num_labels), "output_lengths": (B,) int64}``; ``T' = output_lengths(T)``.

        Raises:
            ValueError: ``input_features`` is not ``(B, T, num_mel_bins)``.
        """
        if input_features.dim() != 3 or input_features.shape[-1] != self.config.num_mel_bins:
            raise ValueError(f"input_features must be (batch, frames, {self.config.num_mel_bins}), "
                             f"got {tuple(input_features.shape)}")
        batch, time, _ = input_features.shape
        if input_lengths is None:
            input_lengths = (attention_mask.long().sum(-1) if attention_mask is not None
                             else torch.full((batch,), time, device=input_features.device))
        x, lengths = self.subsampling(input_features, input_lengths.to(input_features.device).long())
        mask = frame_mask(lengths, x.shape[1])
        logits = self.ctc_head(self.dropout(self.encoder(x, mask)))
        blank_row = torch.full((self.num_labels,), _PAD_LOGIT, dtype=logits.dtype, device=logits.device)
        blank_row[self.blank_id] = 0.0
        logits = torch.where(mask[..., None], logits, blank_row)
        return {"logits": logits, "output_lengths": lengths}

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, output_lengths: torch.Tensor) -> torch.Tensor:
        """CTC loss (mean over the batch of per-sample loss / label length), computed in float32.

        Args:
            logits: ``(B, T', num_labels)`` from ``forward``.
            labels: ``(B, L)`` character ids padded with -100.
            output_lengths: ``(B,)`` valid frames per sample from ``forward``.

        Returns:
            A scalar; samples whose labels cannot fit their frames contribute 0 (``zero_infinity``).
        """
        log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
        keep = labels != IGNORE_INDEX
        return F.ctc_loss(log_probs, labels[keep], output_lengths.long(), keep.sum(-1), blank=self.blank_id,
                          reduction="mean", zero_infinity=True)

    def decode(self, logits: torch.Tensor, output_lengths: torch.Tensor | None = None) -> list[str]:
        """Greedy CTC decoding: argmax per frame, frames past ``output_lengths`` dropped, repeats merged, blanks removed.

        Returns:
            One string per sample.
        """
        ids = logits.argmax(-1)
        if output_lengths is not None:
            ids = ids.masked_fill(~frame_mask(output_lengths.to(ids.device), ids.shape[1]), IGNORE_INDEX)
        rows = ctc_greedy_collapse(ids, blank_id=self.blank_id, pad_id=IGNORE_INDEX)
        return ["".join(self.id2label[i] for i in row) for row in rows]

    def split_inputs(self, inputs: Any) -> list:
        """One entry per clip, as the feature extractor reads them (a list of numbers is one waveform)."""
        from ...preprocessors.audio_feature_extractor import _as_batch

        return list(_as_batch(inputs))

    def preprocess(self, inputs: Any, sampling_rate: int | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Audio file path(s) or waveform(s) -> padded features on the model's device.

        Args:
            inputs: a path, an array/tensor of samples, or a list of them.
            sampling_rate: rate of array inputs (default: the feature extractor's).

        Returns:
            ``{"input_features", "input_lengths"}`` tensors.

        Raises:
            ValueError: no audio feature extractor is attached (``model.preprocessor``).
        """
        extractor = _find_feature_extractor(self.preprocessor)
        batch = extractor(inputs, sampling_rate=sampling_rate)
        return {k: v.to(self.device) for k, v in batch.items()}

    def post_process(self, model_outputs: dict, **kwargs) -> list[dict[str, str]]:
        """``[{"text": transcript}, ...]``, one per input, from ``forward`` outputs."""
        texts = self.decode(model_outputs["logits"], model_outputs.get("output_lengths"))
        return [{"text": text} for text in texts]


def _find_feature_extractor(preprocessor):
    from ...preprocessors.audio_feature_extractor import AudioFeatureExtractor

    candidates = list(preprocessor.values()) if isinstance(preprocessor, dict) else [preprocessor]
    for candidate in candidates:
        if isinstance(candidate, AudioFeatureExtractor):
            return candidate
    raise ValueError("predict() needs an audio feature extractor: set model.preprocessor = AudioFeatureExtractor(...) "
                     f"or load a model folder that has preprocessor/; got {preprocessor!r}")
