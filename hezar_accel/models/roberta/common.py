"""The RoBERTa config fields (Hezar's names and defaults): BERT's fields with RoBERTa's defaults, plus the three keys
Hezar's RoBERTa configs add (``bos_token_id``, ``eos_token_id``, ``gradient_checkpointing``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..bert.common import BertEncoderConfig
from ..labels import LabelsConfig

__all__ = ["RobertaEncoderConfig", "RobertaTaskConfig"]


@dataclass
class RobertaEncoderConfig(BertEncoderConfig):
    """RoBERTa's architecture fields with Hezar's defaults (the whole of ``RobertaMaskFillingConfig``).

    Args:
        max_position_embeddings: rows of the position table. Positions start after the padding id (fairseq's
            numbering), so the longest input is ``max_position_embeddings - pad_token_id - 1`` tokens (512 by default).
        pad_token_id: the padding id (1, ``<pad>``); padded positions get it as position id too.
        type_vocab_size: 1 (RoBERTa has no second segment).
        bos_token_id, eos_token_id: ``<s>``/``</s>`` ids, kept for Hezar (the tokenizer frames the texts).
        gradient_checkpointing: kept for Hezar; no effect here.
        (Other fields: see ``BertEncoderConfig``.)
    """

    max_position_embeddings: int = 514
    pad_token_id: int = 1
    type_vocab_size: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    gradient_checkpointing: bool = False

    @property
    def max_input_length(self) -> int:
        """The longest input in tokens, special tokens included (positions after the padding id)."""
        return self.max_position_embeddings - self.pad_token_id - 1

    def validate(self) -> list[str]:
        """BERT's checks, plus room in the position table after the padding id."""
        problems = super().validate()
        if all(isinstance(getattr(self, n), int) and not isinstance(getattr(self, n), bool)
               for n in ("max_position_embeddings", "pad_token_id")) and self.max_input_length < 1:
            problems.append(f"max_position_embeddings: {self.max_position_embeddings} leaves no position after "
                            f"pad_token_id={self.pad_token_id} (RoBERTa numbers positions from pad_token_id + 1); "
                            f"use at least {self.pad_token_id + 2}")
        return problems


@dataclass
class RobertaTaskConfig(LabelsConfig, RobertaEncoderConfig):
    """RoBERTa fields plus ``num_labels``/``id2label``, shared by the classification and labeling configs."""

