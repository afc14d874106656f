"""What the BERT models share: the config fields (Hezar's names and defaults) and the keys older saves carry.

Hezar's ``BertTextClassificationConfig``, ``BertSequenceLabelingConfig`` and ``BertMaskFillingConfig`` have the same
BERT fields (the first two also ``num_labels``/``id2label``); keeping them in one base here means one validation and
one place to change a default. RoBERTa's configs derive from it too (same fields, other defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...configs import ModelConfig
from ..encoder_checks import encoder_problems
from ..labels import LabelsConfig, label_name, resolve_num_labels
from ..tasks.tokenizer_lookup import find_tokenizer
from .encoder import ACTIVATIONS

__all__ = ["BertEncoderConfig", "BertTaskConfig", "POSITION_IDS_KEYS", "resolve_num_labels", "label_name",
           "find_tokenizer"]

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
class BertEncoderConfig(ModelConfig):
    """The BERT architecture fields, with Hezar's names and defaults (the whole of ``BertMaskFillingConfig``).

    Args:
        vocab_size ... classifier_dropout: the 🤗 ``BertConfig`` fields of the same names. ``classifier_dropout``
            defaults to ``hidden_dropout_prob`` when None. Only ``position_embedding_type: absolute`` is implemented;
            ``use_cache`` is kept for Hezar compatibility and has no effect on an encoder.
    """

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
        """Every problem with the config (types first, then ranges and the attention geometry)."""
        problems = super().validate()
        problems += encoder_problems(self, _POSITIVE_INTS, _PROBABILITIES, width="hidden_size",
                                     heads="num_attention_heads", activation="hidden_act", activations=ACTIVATIONS)
        if self.position_embedding_type != "absolute":
            problems.append(
                f"position_embedding_type: {self.position_embedding_type!r}; only 'absolute' is implemented")
        return problems


@dataclass
class BertTaskConfig(LabelsConfig, BertEncoderConfig):
    """BERT fields plus Hezar's ``num_labels``/``id2label`` (see :class:`~hezar_accel.models.labels.LabelsConfig`),
    shared by the classification and labeling configs."""
