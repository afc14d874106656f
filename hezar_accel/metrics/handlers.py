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
from ..tag_schemes import ENTITY_SCHEMES, entity_types, resolve_tag_scheme
from .handler import IGNORE_INDEX, METRIC_OUTPUTS, MetricsHandler, config_value
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
    """Tag sequences scored by what fits the tag set; only positions whose label is not -100 are scored (e.g. first
    sub-tokens).

    - ``seqeval``: entity precision / recall / F1 (micro over entities, seqeval's default lenient reading), token
      ``accuracy``, and ``f1_<TYPE>`` for each entity type of ``id2label``. Only for chunk tags (IOB2 / IOBES): on a
      plain tag set seqeval would read ``NOUN`` as a chunk ``N`` of type ``OUN``.
    - ``accuracy``: token accuracy, for any tag set.

    The tag scheme is the dataset config's ``tag_scheme`` when set, else detected from ``id2label``
    (:func:`hezar_accel.tag_schemes.detect_tag_scheme`). ``metrics: None`` means ``[seqeval]`` for chunk tags and
    ``[accuracy]`` for plain tags; asking for ``seqeval`` on plain tags is a ConfigError.
    """

    task = TaskType.SEQUENCE_LABELING.value
    valid_metrics = ("seqeval", "accuracy")
    # The widest default, what the config is checked against before the data is known; setup() narrows it to
    # [accuracy] for plain tags.
    default_metrics = ("seqeval",)
    default_metric_kwargs = {"seqeval": {"per_type": True}}

    def setup(self) -> None:
        self.id2label = normalize_id2label(config_value(self.model_config, "id2label"), type(self).__name__)
        self.lookup = LabelLookup(self.id2label)
        self.label2id = {label: i for i, label in self.id2label.items()}
        tags = list(self.id2label.values())
        declared = config_value(self.dataset_config, "tag_scheme")
        owner = f"{type(self).__name__} (task {self.task})"
        try:
            self.tag_scheme = resolve_tag_scheme(declared, tags)
        except ValueError as e:
            raise ConfigError(owner, [f"dataset {e}"]) from None
        self.entity_types = entity_types(tags) if self.tag_scheme in ENTITY_SCHEMES else []
        if self.requested_metrics is None:
            self.metrics = ["seqeval"] if self.entity_types else ["accuracy"]
        elif "seqeval" in self.metrics and not self.entity_types:
            raise ConfigError(owner, [f"metrics: `seqeval` scores entities of IOB2/IOBES tags, but {self._tag_set()} "
                                      "has none, so its F1 would be meaningless (NOUN read as a chunk `N` of type "
                                      "`OUN`). Use metrics: [accuracy] (token accuracy); if the tags are chunk tags, "
                                      "set the dataset's tag_scheme (iob2 or iobes)"])

    def _tag_set(self) -> str:
        """How the tag set is named in messages: a few tags, and where its scheme came from."""
        tags = sorted(self.id2label.values())
        shown = ", ".join(tags[:6]) + (f", ... ({len(tags)} tags)" if len(tags) > 6 else "")
        declared = config_value(self.dataset_config, "tag_scheme")
        origin = f"dataset tag_scheme: {declared}" if declared is not None else "detected from id2label"
        return f"the tag set [{shown}] (scheme `{self.tag_scheme}`, {origin})"

    def metric_output_names(self, name: str) -> tuple[str, ...]:
        """seqeval with ``per_type`` (the default here) adds ``f1_<TYPE>`` for every entity type of the tag set, so
        every evaluation has the same keys (a type absent from both sides scores NaN)."""
        names = super().metric_output_names(name)
        metric = self._metrics.get(name)
        if name == "seqeval" and metric is not None and metric.compute_kwargs.get("per_type"):
            names += tuple(f"f1_{type_}" for type_ in self.entity_types)
        return names

    def best_metric_problem(self, name: str) -> str | None:
        problem = super().best_metric_problem(name)
        if problem and name in METRIC_OUTPUTS["seqeval"] and not self.entity_types:
            return (f"metric_for_best_model: `{name}` is an entity score (seqeval), but {self._tag_set()} has no "
                    "entities; use metric_for_best_model: accuracy (token accuracy) or loss")
        return problem

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

    def metric_inputs(self, name: str, predictions: list, references: list) -> tuple[list, list]:
        """``accuracy`` scores every tag on its own: the sentences are flattened into one list of tag ids."""
        if name != "accuracy":
            return predictions, references
        ids = self.label2id
        return ([ids[t] for sentence in predictions for t in sentence],
                [ids[t] for sentence in references for t in sentence])


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
