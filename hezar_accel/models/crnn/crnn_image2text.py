"""CRNN for image-to-text (OCR): CNN features -> map-to-sequence -> 2 BiLSTMs -> per-column character logits, CTC loss.

Module names follow Hezar's ``CRNNImage2Text`` (``cnn.<i>.conv``/``cnn.<i>.bn``, ``map2seq``, ``rnn1``, ``rnn2``,
``classifier``), so ``model.pt`` files move between Hezar and here. Unlike Hezar, ``forward`` returns raw logits
batch-first ``(B, T, C)``; ``log_softmax`` happens in ``compute_loss`` (argmax decoding is unaffected).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...configs import ModelConfig
from ...constants import TaskType
from ...ctc import ctc_greedy_collapse
from ...registry import register_model
from ..model import Model

__all__ = ["CRNNImage2TextConfig", "CRNNImage2Text", "HEZAR_CNN_CHANNELS"]

# Output channels of Hezar's seven conv blocks; blocks 4 and 5 (0-based) use batch norm.
HEZAR_CNN_CHANNELS = [64, 128, 256, 256, 512, 512, 512]
_BATCH_NORM_BLOCKS = (4, 5)
# Hezar's CNN halves the height four times (two 2x2 pools, two 2x1 pools) and the width twice.
_HEIGHT_REDUCTION, _WIDTH_REDUCTION = 16, 4


@dataclass
class CRNNImage2TextConfig(ModelConfig):
    """Hezar's ``CRNNImage2TextConfig`` fields, plus ``cnn_channels`` for smaller (CPU-sized) variants.

    Args:
        id2label: class id -> character; must hold the CTC blank (``""`` by convention) at ``blank_id``.
        blank_id: the CTC blank class id.
        n_channels: input image channels (1 grayscale, 3 RGB).
        image_height: input image height; a multiple of 16.
        image_width: input image width; the sequence length is ``image_width // 4``.
        map2seq_in_dim: CNN features per column (``cnn_channels[-1] * image_height // 16``). None = computed (the
            model's own copy of the config then holds the number).
        map2seq_out_dim: size of the projected column features fed to the LSTM.
        rnn_dim: hidden size of each LSTM direction.
        reverse_prediction_text: reverse the decoded text (for models trained on mirrored images).
        reverse_output_digits: reverse every digit run of the decoded text (Hezar's right-to-left digit fix).
        cnn_channels: output channels of the seven conv blocks. None = Hezar's ``[64, 128, 256, 256, 512, 512, 512]``
            (only then does the model load in Hezar itself).
    """

    name: str = "crnn_image2text"
    task: str = TaskType.IMAGE2TEXT
    id2label: dict | None = None
    blank_id: int = 0
    n_channels: int = 1
    image_height: int = 32
    image_width: int = 128
    map2seq_in_dim: int | None = None
    map2seq_out_dim: int = 64
    rnn_dim: int = 256
    reverse_prediction_text: bool | None = None
    reverse_output_digits: bool | None = None
    cnn_channels: list[int] | None = None

    def validate(self) -> list[str]:
        problems = super().validate()
        if problems:
            return problems
        if not self.id2label:
            problems.append("id2label: required (class id -> character, with the blank at blank_id); "
                            "take it from the OCR dataset: train_dataset.config.id2label")
        elif self.blank_id not in {int(k) for k in self.id2label}:
            ids = sorted(int(k) for k in self.id2label)
            problems.append(f"blank_id: {self.blank_id} is not a key of id2label (ids {ids[0]}..{ids[-1]})")
        if self.image_height < _HEIGHT_REDUCTION or self.image_height % _HEIGHT_REDUCTION:
            problems.append(f"image_height: {self.image_height} must be a positive multiple of {_HEIGHT_REDUCTION}")
        if self.image_width < _WIDTH_REDUCTION:
            problems.append(f"image_width: {self.image_width} must be at least {_WIDTH_REDUCTION}")
        if self.cnn_channels is not None and (len(self.cnn_channels) != len(HEZAR_CNN_CHANNELS)
                                              or any(c < 1 for c in self.cnn_channels)):
            problems.append(f"cnn_channels: {self.cnn_channels!r} must be {len(HEZAR_CNN_CHANNELS)} positive integers")
        for key in ("n_channels", "map2seq_out_dim", "rnn_dim"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: {getattr(self, key)} must be >= 1")
        return problems


class ConvBlock(nn.Module):
    """Conv 3x3 -> (batch norm) -> ReLU. ``bn`` always exists (as in Hezar) so state-dict keys match."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = False):
        super().__init__()
        self.do_batch_norm = batch_norm
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if not batch_norm:
            # Never used in forward; frozen so DDP does not wait for gradients that never come.
            self.bn.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.do_batch_norm:
            x = self.bn(x)
        return self.relu(x)


def _build_cnn(in_channels: int, channels: list[int]) -> nn.Sequential:
    """Hezar's layer order (indices matter for the state-dict keys): blocks interleaved with max-pools."""
    c = channels
    return nn.Sequential(
        ConvBlock(in_channels, c[0]), nn.MaxPool2d(kernel_size=2, stride=2),
        ConvBlock(c[0], c[1]), nn.MaxPool2d(kernel_size=2, stride=2),
        ConvBlock(c[1], c[2]), ConvBlock(c[2], c[3]), nn.MaxPool2d(kernel_size=(2, 1)),
        ConvBlock(c[3], c[4], batch_norm=True), ConvBlock(c[4], c[5], batch_norm=True), nn.MaxPool2d(kernel_size=(2, 1)),
        ConvBlock(c[5], c[6]),
    )


def reverse_digit_runs(text: str) -> str:
    """Reverse every run of digits (with single separators between digits) in ``text``, as Hezar does."""
    return re.sub(r"(\d+(?:\D\d+)*)", lambda m: m.group(1)[::-1], text)


@register_model("crnn_image2text", CRNNImage2TextConfig)
class CRNNImage2Text(Model):
    """CRNN OCR model with a CTC head.

    Args:
        config: a :class:`CRNNImage2TextConfig` (``id2label`` required).
    """

    image_processor = "image_processor"

    def __init__(self, config: CRNNImage2TextConfig, **kwargs):
        channels = list(config.cnn_channels or HEZAR_CNN_CHANNELS)
        in_dim = config.map2seq_in_dim or channels[-1] * (config.image_height // _HEIGHT_REDUCTION)
        if config.map2seq_in_dim is None:
            # A copy with the number written out: Hezar's loader needs it in model_config.yaml to build map2seq.
            config = config.replace(map2seq_in_dim=in_dim)
        super().__init__(config, **kwargs)
        self.cnn = _build_cnn(config.n_channels, channels)
        self.map2seq = nn.Linear(in_dim, config.map2seq_out_dim)
        self.rnn1 = nn.LSTM(config.map2seq_out_dim, config.rnn_dim, bidirectional=True)
        self.rnn2 = nn.LSTM(2 * config.rnn_dim, config.rnn_dim, bidirectional=True)
        self.classifier = nn.Linear(2 * config.rnn_dim, len(config.id2label))
        self.id2label = {int(k): str(v) for k, v in config.id2label.items()}

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> dict[str, torch.Tensor]:
        """Per-column character logits.

        Args:
            pixel_values: ``(B, n_channels, image_height, W)`` images (W = image_width for trained sizes).
            **kwargs: ignored (e.g. ``labels`` from a collated batch).

        Returns:
            ``{"logits": (B, T, num_classes)}`` with ``T = W // 4``.

        Raises:
            ValueError: when the image channels/height do not fit the config.
        """
        if pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.n_channels:
            raise ValueError(f"pixel_values must be (batch, {self.config.n_channels}, height, width), got "
                             f"{tuple(pixel_values.shape)}; check the image processor's gray_scale against n_channels")
        x = self.cnn(pixel_values)
        batch, channels, height, width = x.size()
        if channels * height != self.map2seq.in_features:
            raise ValueError(f"Images of height {pixel_values.shape[2]} give {channels * height} features per column "
                             f"but map2seq expects {self.map2seq.in_features}; resize images to image_height="
                             f"{self.config.image_height} (image processor size: [width, height])")
        x = x.reshape(batch, channels * height, width).permute(2, 0, 1)  # (T, B, D), time-first like Hezar
        x = self.map2seq(x)
        x, _ = self.rnn1(x)
        x, _ = self.rnn2(x)
        logits = self.classifier(x)
        return {"logits": logits.transpose(0, 1)}

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """CTC loss (mean over the batch of per-target-length losses; infinite losses zeroed).

        Args:
            logits: ``(B, T, C)`` from ``forward``.
            labels: ``(B, S)`` character ids padded with -100.

        Returns:
            The scalar loss.
        """
        # float32: log-probabilities summed over long paths underflow in half precision.
        log_probs = nn.functional.log_softmax(logits.float(), dim=-1).transpose(0, 1)
        mask = labels != -100
        target_lengths = mask.sum(dim=1)
        input_lengths = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long, device=logits.device)
        return nn.functional.ctc_loss(log_probs, labels[mask], input_lengths, target_lengths,
                                      blank=self.config.blank_id, reduction="mean", zero_infinity=True)

    def decode(self, logits: torch.Tensor) -> list[list[int]]:
        """Greedy CTC decoding: per-column argmax, repeats merged, blanks dropped; one id list per image."""
        return ctc_greedy_collapse(logits.argmax(-1), blank_id=self.config.blank_id)

    def split_inputs(self, inputs: Any) -> list:
        """One entry per image: a list or tuple is a batch, as the image processor reads it."""
        return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]

    def preprocess(self, inputs: Any, **kwargs) -> dict[str, torch.Tensor]:
        """Image path(s) / Pillow image(s) / arrays -> ``{"pixel_values"}`` on the model's device.

        Raises:
            ValueError: no image processor is attached (load the model from a folder with ``preprocessor/``).
        """
        processor = self.preprocessor
        if isinstance(processor, dict):
            processor = processor.get(self.image_processor)
        if processor is None:
            raise ValueError("CRNNImage2Text.predict needs an image processor: set model.preprocessor = "
                             "ImageProcessor(...) or load a model folder that has preprocessor/image_processor_config.yaml")
        return processor(inputs, device=self.device, **kwargs)

    def post_process(self, model_outputs: dict, return_scores: bool = False) -> list[dict[str, Any]]:
        """Decoded text per image: ``[{"text": str}]`` (plus ``"score"``, the mean max probability, on request)."""
        logits = model_outputs["logits"]
        outputs = []
        for i, ids in enumerate(self.decode(logits)):
            text = "".join(self.id2label[int(j)] for j in ids)
            if self.config.reverse_prediction_text:
                text = text[::-1]
            if self.config.reverse_output_digits:
                text = reverse_digit_runs(text)
            item = {"text": text}
            if return_scores:
                item["score"] = float(logits[i].float().softmax(-1).max(-1).values.mean())
            outputs.append(item)
        return outputs
