"""What the BERT task models share: the config fields (Hezar's names and defaults), label helpers, tokenizer lookup.

Hezar's ``BertTextClassificationConfig`` and ``BertSequenceLabelingConfig`` have the same BERT fields; keeping them in
one base here means one validation and one place to change a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...configs import ModelConfig
from .encoder import ACTIVATIONS

__all__ = ["BertTaskConfig", "POSITION_IDS_KEYS", "resolve_num_labels", "label_name", "find_tokenizer"]

# Keys that state dicts from older transformers/Hezar versions carry for a buffer that is not persistent here.
POSITION_IDS_KEYS = [
    "bert.embeddings.position_ids",
    "model.embeddings.position_ids",
    "model.bert.embeddings.position_ids",
]

_POSITIVE_INTS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "max_position_embeddings", "type_vocab_size",
)
_PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")


@dataclass
class BertTaskConfig(ModelConfig):
    """BERT fields shared by the task configs, with Hezar's names and defaults.

    Args:
        num_labels: number of output classes; when None, ``len(id2label)`` is used (the config itself is not changed).
        id2label: class index -> label name. Keys may be ints or digit strings (as read back from YAML/JSON).
        vocab_size ... classifier_dropout: the 🤗 ``BertConfig`` fields of the same names. ``classifier_dropout``
            defaults to ``hidden_dropout_prob`` when None. Only ``position_embedding_type: absolute`` is implemented;
            ``use_cache`` is kept for Hezar compatibility and has no effect on an encoder.
    """

    num_labels: int | None = None
    id2label: dict | None = None
    vocab_size: int = 42000
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    use_cache: bool = True
    classifier_dropout: float | None = None

    # A concrete config loads itself; only ModelConfig dispatches on the registry.
    is_generic: ClassVar[bool] = False

    def validate(self) -> list[str]:
        """Every problem with the config (types first, then ranges, labels and the attention geometry)."""
        problems = super().validate()

        def typed(name: str, tp) -> bool:  # range checks only run on values that passed the type check
            value = getattr(self, name)
            return isinstance(value, tp) and not isinstance(value, bool)

        for name in _POSITIVE_INTS:
            if typed(name, int) and getattr(self, name) < 1:
                problems.append(f"{name}: {getattr(self, name)!r} must be a positive integer")
        for name in _PROBABILITIES:
            if typed(name, (int, float)) and not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name}: {getattr(self, name)!r} must be a probability in [0, 1)")
        if typed("hidden_size", int) and typed("num_attention_heads", int) and self.num_attention_heads > 0 \
                and self.hidden_size % self.num_attention_heads:
            problems.append(
                f"hidden_size: {self.hidden_size} is not divisible by num_attention_heads={self.num_attention_heads}; "
                "choose hidden_size = num_attention_heads * head_dim"
            )
        if isinstance(self.hidden_act, str) and self.hidden_act not in ACTIVATIONS:
            problems.append(f"hidden_act: {self.hidden_act!r} is not supported; valid: {', '.join(ACTIVATIONS)}")
        if self.position_embedding_type != "absolute":
            problems.append(
                f"position_embedding_type: {self.position_embedding_type!r}; only 'absolute' is implemented")
        if typed("pad_token_id", int) and typed("vocab_size", int) and not 0 <= self.pad_token_id < self.vocab_size:
            problems.append(f"pad_token_id: {self.pad_token_id} must be in [0, vocab_size={self.vocab_size})")
        return problems + _label_problems(self.num_labels, self.id2label)


def _label_problems(num_labels: Any, id2label: Any) -> list[str]:
    if num_labels is None and id2label is None:
        return ["num_labels: neither num_labels nor id2label is given; set num_labels (an int) or "
                "id2label (a mapping of class index -> label name)"]
    problems = []
    if isinstance(num_labels, int) and not isinstance(num_labels, bool) and num_labels < 1:
        problems.append(f"num_labels: {num_labels} must be a positive integer")
    if isinstance(id2label, dict):
        keys = [_index(k) for k in id2label]
        if None in keys or sorted(keys) != list(range(len(keys))):
            problems.append(f"id2label: keys {list(id2label)[:10]} must be the class indices 0..{len(keys) - 1} "
                            "(ints or digit strings)")
        if not id2label:
            problems.append("id2label: is empty; give one entry per class")
        if isinstance(num_labels, int) and id2label and num_labels != len(id2label):
            problems.append(f"num_labels: {num_labels} disagrees with id2label, which has {len(id2label)} entries")
    return problems


def _index(key: Any) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None


def resolve_num_labels(config: BertTaskConfig) -> int:
    """The number of classes: ``num_labels``, else ``len(id2label)`` (the config is never rewritten)."""
    return config.num_labels if config.num_labels is not None else len(config.id2label)


def label_name(config: BertTaskConfig, index: int) -> Any:
    """The label of class ``index`` from ``id2label`` (int or digit-string keys), or ``LABEL_<index>`` without one."""
    id2label = config.id2label or {}
    if index in id2label:
        return id2label[index]
    return id2label.get(str(index), f"LABEL_{index}")


def find_tokenizer(preprocessor: Any, name: str = "wordpiece_tokenizer"):
    """Return the tokenizer among a model's preprocessor(s).

    Args:
        preprocessor: a ``Tokenizer``, or a ``PreprocessorsContainer`` (name -> preprocessor) holding one.
        name: the registry name to prefer inside a container.

    Returns:
        The tokenizer.

    Raises:
        ValueError: no preprocessor is attached, or the container holds no tokenizer.
    """
    from ...preprocessors.tokenizers import Tokenizer

    if isinstance(preprocessor, Tokenizer):
        return preprocessor
    if isinstance(preprocessor, dict):
        if isinstance(preprocessor.get(name), Tokenizer):
            return preprocessor[name]
        for value in preprocessor.values():
            if isinstance(value, Tokenizer):
                return value
    raise ValueError(
        "This model needs a tokenizer for preprocess()/predict(), but its preprocessor is "
        f"{type(preprocessor).__name__}. "
        "Attach one: `model.preprocessor = WordPieceTokenizer.load(path)` (or load a model folder with preprocessor/)."
    )
