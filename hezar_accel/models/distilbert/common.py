"""The DistilBERT config fields, with Hezar's names and defaults (which are 🤗 ``DistilBertConfig``'s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...configs import ModelConfig
from ..bert.encoder import ACTIVATIONS
from ..encoder_checks import encoder_problems
from ..labels import LabelsConfig

__all__ = ["DistilBertEncoderConfig", "DistilBertTaskConfig", "DISTILBERT_LAYER_NORM_EPS"]

# 🤗 DistilBERT hard-codes its LayerNorm epsilon (there is no config key for it).
DISTILBERT_LAYER_NORM_EPS = 1e-12

_POSITIVE_INTS = ("vocab_size", "dim", "n_layers", "n_heads", "hidden_dim", "max_position_embeddings")


@dataclass
class DistilBertEncoderConfig(ModelConfig):
    """DistilBERT's architecture fields (the whole of Hezar's ``DistilBertMaskFillingConfig``).

    Args:
        activation: the feed-forward (and masked-LM head) activation: one of ``ACTIVATIONS``.
        attention_dropout: dropout on the attention probabilities.
        dim: hidden width; a multiple of ``n_heads``.
        dropout: dropout after the embeddings and each feed-forward block.
        hidden_dim: feed-forward inner width.
        initializer_range: std of the normal init of weights.
        max_position_embeddings: longest input in tokens, special tokens included.
        n_heads, n_layers: attention heads per layer, transformer layers.
        pad_token_id: the padding id (its word-embedding row is zero and never trained).
        vocab_size: rows of the word table.
        output_past, qa_dropout, tie_weights_: kept so Hezar configs load; no effect here (the masked-LM projection
            is always tied to the word embeddings, as in Hezar).
    """

    activation: str = "gelu"
    attention_dropout: float = 0.1
    dim: int = 768
    dropout: float = 0.1
    hidden_dim: int = 3072
    initializer_range: float = 0.02
    max_position_embeddings: int = 512
    n_heads: int = 12
    n_layers: int = 6
    output_past: bool = True
    pad_token_id: int = 0
    qa_dropout: float = 0.1
    tie_weights_: bool = True
    vocab_size: int = 42000

    # A concrete config loads itself; only ModelConfig dispatches on the registry.
    is_generic: ClassVar[bool] = False
    # Fields that must be probabilities; task configs add their own dropouts.
    probability_fields: ClassVar[tuple[str, ...]] = ("attention_dropout", "dropout", "qa_dropout")

    def validate(self) -> list[str]:
        """Every problem with the config (types first, then sizes, dropouts, the attention geometry)."""
        return super().validate() + encoder_problems(
            self, _POSITIVE_INTS, self.probability_fields, width="dim", heads="n_heads", activation="activation",
            activations=ACTIVATIONS)


@dataclass
class DistilBertTaskConfig(LabelsConfig, DistilBertEncoderConfig):
    """DistilBERT fields plus ``num_labels``/``id2label``, shared by the classification and labeling configs."""
