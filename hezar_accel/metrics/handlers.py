"""One ``MetricsHandler`` per task, and ``get_metrics_handler_class(task)``.

Each handler knows how its task's model outputs become compact predictions on device, and how gathered id arrays
become what its metrics score: class ids, tag sequences (via ``id2label``), or strings (via a tokenizer, or the
CTC collapse and the character map).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..constants import TaskType
from ..ctc import ctc_greedy_collapse
from ..errors import ConfigError, closest
from .handler import IGNORE_INDEX, MetricsHandler, config_value
from .persian_normalizer import normalize_persian

__all__ = [
    "TextClassificationMetricsHandler",
    "SequenceLabelingMetricsHandler",
    "TokenText",
    "TextGenerationMetricsHandler",
    "Image2TextMetricsHandler",
    "SpeechRecognitionMetricsHandler",
    "MaskFillingMetricsHandler",
    "get_metrics_handler_class",
]


def normalize_id2label(id2label: Any, owner: str) -> dict[int, str]:
    """``id2label`` with int keys, accepting int or digit-string keys (YAML and JSON give either).

    Raises:
        ConfigError: when it is missing, not a mapping, or has a key that is not an integer.
    """
    if not isinstance(id2label, dict) or not id2label:
        raise ConfigError(owner, [f"model_config.id2label: needed to decode ids into labels, got {id2label!r}"])
    try:
        return {int(key): str(value) for key, value in id2label.items()}
    except (TypeError, ValueError):
        bad = [k for k in id2label if not str(k).lstrip("-").isdigit()]
        raise ConfigError(owner, [f"model_config.id2label: keys must be integer ids, got {bad[:5]}"]) from None


class LabelLookup:
    """``id2label`` applied to whole id arrays: one numpy indexing per batch instead of a dict lookup per id.

    Args:
        id2label: ``{id: label}`` with int keys (see :func:`normalize_id2label`).
    """

    def __init__(self, id2label: dict[int, str]):
        self.id2label = id2label
        self.low = min(0, min(id2label))
        self.labels = np.empty(max(id2label) - self.low + 1, dtype=object)  # id - low -> label; None: no label
        for key, label in id2label.items():
            self.labels[key - self.low] = label

    def __call__(self, ids, what: str) -> list[str]:
        """The labels of ``ids`` (any integer array-like), as a list.

        Raises:
            ValueError: an id has no label (named with ``what``: "predicted" or "label").
        """
        positions = np.asarray(ids, dtype=np.int64).reshape(-1) - self.low
        inside = (positions >= 0) & (positions < len(self.labels))
        labels = self.labels[np.where(inside, positions, 0)]
        missing = ~inside | np.equal(labels, None)
        if missing.any():
            raise ValueError(
                f"{what} id {positions[missing][0] + self.low} is not in model_config.id2label (ids "
                f"{min(self.id2label)}..{max(self.id2label)}); the model's output size and its id2label disagree"
            )
        return labels.tolist()


class TextClassificationMetricsHandler(MetricsHandler):
    """Accuracy / precision / recall / F1 over class ids (precision, recall and F1 macro-averaged by default)."""

    task = TaskType.TEXT_CLASSIFICATION.value
    valid_metrics = ("accuracy", "f1", "precision", "recall")
    default_metrics = ("accuracy", "f1", "precision", "recall")
    default_metric_kwargs = {name: {"average": "macro"} for name in ("precision", "recall", "f1")}

    def decode(self, predictions: np.ndarray, labels: np.ndarray) -> tuple[list, list]:
        predictions, labels = predictions.reshape(-1), labels.reshape(-1)
        keep = (labels != IGNORE_INDEX) & (labels != self.pad_index)
        return predictions[keep].astype(np.int64).tolist(), labels[keep].astype(np.int64).tolist()


class MaskFillingMetricsHandler(TextClassificationMetricsHandler):
    """Masked-token accuracy: every masked position (label not -100) is one sample whose class is its vocabulary id.

    Corpus-level like every handler: correct masked tokens over all masked tokens of the evaluation set, not a mean
    of per-batch or per-text accuracies.
    """

    task = TaskType.MASK_FILLING.value
    valid_metrics = ("accuracy",)
    default_metrics = ("accuracy",)


class SequenceLabelingMetricsHandler(MetricsHandler):
    """seqeval over tag sequences; only positions whose label is not -100 are scored (e.g. first sub-tokens)."""

    task = TaskType.SEQUENCE_LABELING.value
    valid_metrics = ("seqeval",)
    default_metrics = ("seqeval",)

    def setup(self) -> None:
        self.id2label = normalize_id2label(config_value(self.model_config, "id2label"), type(self).__name__)
        self.lookup = LabelLookup(self.id2label)

    def decode(self, predictions: np.ndarray, labels: np.ndarray) -> tuple[list, list]:
        if predictions.shape != labels.shape:
            raise ValueError(
                f"{type(self).__name__}: predictions {predictions.shape} and labels {labels.shape} must have the same "
                "(batch, tokens) shape; pad both with pad_index along dim 1"
            )
        keep = (labels != IGNORE_INDEX) & (labels != self.pad_index)
        bounds = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).tolist()  # row r is flat[bounds[r]:bounds[r+1]]
        pred_flat, ref_flat = self.lookup(predictions[keep], "predicted"), self.lookup(labels[keep], "label")
        rows = list(zip(bounds, bounds[1:]))
        return [pred_flat[a:b] for a, b in rows], [ref_flat[a:b] for a, b in rows]


class TokenText:
    """What generative models' metrics share: their predictions as token ids and a tokenizer to read them.

    Args:
        model_config: gives ``is_encoder_decoder`` (how teacher-forced ids line up with the labels).
        preprocessor: the model's preprocessor(s); the first object with ``decode`` is the tokenizer.
        owner: the handler's name, for errors.

    Raises:
        ConfigError: ``required`` and no tokenizer was found.
    """

    def __init__(self, model_config, preprocessor, owner: str, required: bool = True):
        self.encoder_decoder = bool(config_value(model_config, "is_encoder_decoder", False))
        self.tokenizer = self._find_decoder(preprocessor)
        if self.tokenizer is None and required:
            raise ConfigError(owner, [f"preprocessor: these metrics need a tokenizer with `decode`, got {preprocessor!r}"])

    @staticmethod
    def _find_decoder(preprocessor):
        candidates = list(preprocessor.values()) if isinstance(preprocessor, dict) else [preprocessor]
        for candidate in candidates:
            for obj in (candidate, getattr(candidate, "tokenizer", None)):
                if obj is not None and callable(getattr(obj, "decode", None)):
                    return obj
        return None

    def predictions(self, outputs: dict, batch: dict):
        """``outputs["generated_ids"]`` (B, L) when the trainer generated, else the teacher-forced argmax ids.

        The teacher-forced ids are lined up with ``batch["labels"]``: a decoder-only model's ``logits[:, t]`` scores
        token ``t + 1`` (its loss shifts the same way), so its ids move one position right; an encoder-decoder model
        (``is_encoder_decoder`` in its config) already scores ``labels[:, t]`` at ``t``. Positions whose label is
        -100 (the prompt, padding) get -100 too, so both sides decode the same span.
        """
        generated = outputs.get("generated_ids")
        if generated is not None:
            return generated
        ids = outputs["logits"].argmax(-1)
        labels = batch["labels"]
        if not self.encoder_decoder:
            ids = ids.roll(1, dims=1)  # a new tensor: the wrapped-around last column is overwritten below
            ids[:, 0] = IGNORE_INDEX
        return ids.masked_fill(labels == IGNORE_INDEX, IGNORE_INDEX)

    def text(self, ids, pad_index: int) -> str:
        """One row of ids as text: -100 and ``pad_index`` dropped, special tokens skipped, stripped."""
        ids = [int(i) for i in ids if i != IGNORE_INDEX and i != pad_index]
        if not ids:
            return ""
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if isinstance(text, (list, tuple)):  # Hezar's Tokenizer.decode returns one string per sequence
            text = text[0]
        return text.strip()


class TextGenerationMetricsHandler(MetricsHandler):
    """BLEU / ROUGE over decoded text; label positions set to -100 (e.g. prompt tokens) are dropped before decoding."""

    task = TaskType.TEXT_GENERATION.value
    valid_metrics = ("bleu", "rouge")
    default_metrics = ("bleu", "rouge")

    def setup(self) -> None:
        self.token_text = TokenText(self.model_config, self.preprocessor, type(self).__name__,
                                    required=bool(self.metrics))

    def predictions_from_outputs(self, outputs: dict, batch: dict):
        """See :meth:`TokenText.predictions`."""
        return self.token_text.predictions(outputs, batch)

    def decode(self, predictions: np.ndarray, labels: np.ndarray) -> tuple[list, list]:
        text = self.token_text.text
        return [text(row, self.pad_index) for row in predictions], [text(row, self.pad_index) for row in labels]


class CTCMetricsHandler(MetricsHandler):
    """CER / WER over transcribed text, for CTC models and for encoder-decoder models.

    CTC models (greedy collapse, ``id2label`` characters joined into strings; the blank id is ``model_config.blank_id``
    when set, else 0), or encoder-decoder models (``is_encoder_decoder`` in the config: Whisper, ViT-RoBERTa, TrOCR)
    whose generated or teacher-forced token ids the tokenizer turns into text, special tokens dropped.

    Option ``normalize`` (per metric, default True) applies :func:`normalize_persian` to both sides before scoring.
    """

    valid_metrics = ("cer", "wer")
    default_metrics = ("cer", "wer")
    handler_options = {"normalize": True}

    def setup(self) -> None:
        self.token_text = None
        if config_value(self.model_config, "is_encoder_decoder", False):
            self.token_text = TokenText(self.model_config, self.preprocessor, type(self).__name__,
                                        required=bool(self.metrics))
            return
        self.id2label = normalize_id2label(config_value(self.model_config, "id2label"), type(self).__name__)
        self.lookup = LabelLookup(self.id2label)
        blank_id = config_value(self.model_config, "blank_id", None)
        self.blank_id = 0 if blank_id is None else int(blank_id)

    def predictions_from_outputs(self, outputs: dict, batch: dict):
        """Token ids (see :meth:`TokenText.predictions`) for encoder-decoder models; for CTC models per-frame argmax
        ids (B, T) from logits (B, T, C), time-major (T, B, C) logits detected and transposed."""
        if self.token_text is not None:
            return self.token_text.predictions(outputs, batch)
        logits = outputs["logits"]
        labels = batch.get("labels") if isinstance(batch, dict) else None
        batch_size = labels.shape[0] if labels is not None else None
        if logits.dim() == 3 and batch_size is not None and logits.shape[0] != batch_size == logits.shape[1]:
            logits = logits.transpose(0, 1)
        return logits.argmax(-1)

    def decode(self, predictions: np.ndarray, labels: np.ndarray) -> tuple[list, list]:
        if self.token_text is not None:
            text = self.token_text.text
            return [text(row, self.pad_index) for row in predictions], [text(row, self.pad_index) for row in labels]
        texts = [
            "".join(self.lookup(ids, "predicted"))
            for ids in ctc_greedy_collapse(predictions, blank_id=self.blank_id, pad_id=self.pad_index)
        ]
        references = []
        for row in labels:
            keep = (row != IGNORE_INDEX) & (row != self.pad_index) & (row != self.blank_id)
            references.append("".join(self.lookup(row[keep], "label")))
        return texts, references

    def metric_inputs(self, name: str, predictions: list, references: list) -> tuple[list, list]:
        if self.options[name]["normalize"]:
            return [normalize_persian(t) for t in predictions], [normalize_persian(t) for t in references]
        return predictions, references


class Image2TextMetricsHandler(CTCMetricsHandler):
    """CER / WER for OCR: CTC models (CRNN) or encoder-decoder models (ViT-RoBERTa, TrOCR)."""

    task = TaskType.IMAGE2TEXT.value


class SpeechRecognitionMetricsHandler(CTCMetricsHandler):
    """CER / WER for speech recognition: CTC models or encoder-decoder models (Whisper; its language and task tokens
    are special, so they are dropped)."""

    task = TaskType.SPEECH_RECOGNITION.value


_HANDLERS: dict[str, type[MetricsHandler]] = {
    cls.task: cls
    for cls in (
        TextClassificationMetricsHandler,
        SequenceLabelingMetricsHandler,
        TextGenerationMetricsHandler,
        Image2TextMetricsHandler,
        SpeechRecognitionMetricsHandler,
        MaskFillingMetricsHandler,
    )
}


def get_metrics_handler_class(task: str) -> type[MetricsHandler]:
    """The handler class of ``task`` (a ``TaskType`` value).

    Raises:
        ConfigError: unknown task, with the closest valid one.
    """
    key = task.value if isinstance(task, TaskType) else task
    if key not in _HANDLERS:
        problem = f"task: unknown task `{task}`{closest(str(task), _HANDLERS)}; valid: {', '.join(_HANDLERS)}"
        raise ConfigError("metrics", [problem])
    return _HANDLERS[key]
