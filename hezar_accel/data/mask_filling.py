"""Mask filling (masked-LM pretraining): CSV/JSON/Parquet rows of text -> token ids, masked per batch by
:class:`~hezar_accel.data.masking.MaskedLMCollator`.

The texts are tokenized once (a batched ``datasets.map``); masking happens when a batch is built, so every epoch masks
other positions (dynamic masking, as RoBERTa) while each mask stays a pure function of (seed, epoch, row).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

from ..configs import DatasetConfig
from ..constants import TaskType
from ..errors import DataError
from ..registry import register_dataset
from .cells import empty_cell_rows, without_rows
from .dataset import Dataset, check_not_empty, preprocessor_fingerprint
from .loading import load_split, require_columns
from .masking import MASKING_KEY, MaskedLMCollator
from .text_classification import tokenizer_of

__all__ = ["MaskFillingDatasetConfig", "MaskFillingDataset"]

_SHARES = ("mlm_probability", "mask_replace_prob", "random_replace_prob")


@dataclass
class MaskFillingDatasetConfig(DatasetConfig):
    """Text column and masking settings of a mask filling dataset.

    Args:
        text_field: column holding the text.
        tokenizer_path: model folder or Hub id whose tokenizer encodes the texts (when no preprocessor is passed).
        max_length: truncate encodings to this many tokens, special tokens included.
        data_files: split name -> file name in the folder; None = ``<split>.<ext>``.
        skip_invalid_rows: drop rows with an empty text cell (counted in ``num_skipped``) instead of raising.
        mlm_probability: share of each text's maskable (non-special) tokens the model must predict; at least one
            per text. In (0, 1].
        mask_replace_prob: share of those replaced by the mask token (BERT: 0.8).
        random_replace_prob: share replaced by a random non-special token (BERT: 0.1); the rest keep their token.
            ``mask_replace_prob + random_replace_prob`` is at most 1.
        seed: masking seed (>= 0). A sample's mask is a function of (seed, epoch, row) only; an evaluation split is
            always masked as epoch 0, so every evaluation scores the same positions.
    """

    name: str = "mask_filling"
    task: str = TaskType.MASK_FILLING
    text_field: str = "text"
    tokenizer_path: str | None = None
    max_length: int = 512
    data_files: dict | None = None
    skip_invalid_rows: bool = False
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    seed: int = 42

    def validate(self) -> list[str]:
        problems = super().validate()
        if isinstance(self.max_length, int) and self.max_length < 2:
            problems.append(f"max_length: {self.max_length} is too small; use at least 2 (room for a token to mask)")
        shares = {name: getattr(self, name) for name in _SHARES}
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in shares.values()):
            if not 0 < self.mlm_probability <= 1:
                problems.append(f"mlm_probability: {self.mlm_probability} must be in (0, 1], e.g. 0.15")
            for name in _SHARES[1:]:
                if not 0 <= shares[name] <= 1:
                    problems.append(f"{name}: {shares[name]} must be in [0, 1]")
            if self.mask_replace_prob + self.random_replace_prob > 1:
                problems.append(f"random_replace_prob: mask_replace_prob + random_replace_prob = "
                                f"{self.mask_replace_prob + self.random_replace_prob} exceeds 1; lower one of them "
                                "(BERT: 0.8 and 0.1)")
        if isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed < 0:
            problems.append(f"seed: {self.seed} must be a non-negative integer")
        return problems


@register_dataset("mask_filling", MaskFillingDatasetConfig)
class MaskFillingDataset(Dataset):
    """Rows of ``text_field`` tokenized once; each sample is ``{"token_ids", "masking_key"}`` and ``data_collator``
    (a :class:`MaskedLMCollator`) masks and pads a batch into ``token_ids``, ``attention_mask`` and ``labels``.

    The Trainer calls :meth:`set_train_epoch` on its training dataset before every epoch; an evaluation dataset is
    never told an epoch and keeps epoch 0. Give the Trainer two distinct objects for training and evaluation.

    Raises:
        DataError: the tokenizer has no mask or pad token, the split or column is missing, or a text cell is empty.
    """

    def __init__(self, config: MaskFillingDatasetConfig, split: str | None = None, preprocessor=None, **kwargs):
        super().__init__(config, split=split, preprocessor=preprocessor)
        self.tokenizer = tokenizer_of(preprocessor, "MaskFillingDataset")
        mask_id, pad_id = getattr(self.tokenizer, "mask_token_id", None), self.tokenizer.pad_token_id
        if mask_id is None or pad_id is None:
            raise DataError(f"MaskFillingDataset needs a tokenizer with a mask and a pad token (mask id {mask_id}, pad "
                            f"id {pad_id}); set mask_token and pad_token in its tokenizer_config.yaml to special "
                            "tokens of its vocabulary ([MASK]/[PAD] or <mask>/<pad>).")
        table, source = load_split(config.path, split, config.data_files)
        check_not_empty(table, source)
        require_columns(table, {"text_field": config.text_field}, source)
        empty = empty_cell_rows(table, {"text_field": config.text_field}, source, skip=config.skip_invalid_rows)
        table, self.num_skipped = without_rows(table, empty), len(empty)
        check_not_empty(table, source)
        self.data = self._encode(table)
        special = [i for i in getattr(self.tokenizer, "special_ids", []) if i is not None]
        self.data_collator = MaskedLMCollator(pad_id, mask_id, special, self.tokenizer.vocab_size,
                                              config.mlm_probability, config.mask_replace_prob,
                                              config.random_replace_prob)
        # In shared memory: dataloader worker processes hold copies of this object and must see the epoch change.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def fingerprint(self) -> str:
        """The processed texts' fingerprint combined with the masking settings: resuming with another seed or other
        shares would train on other masks, so the Trainer refuses it like a change of the data."""
        parts = [super().fingerprint, *(getattr(self.config, name) for name in ("seed", *_SHARES))]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]

    def set_train_epoch(self, epoch: int) -> None:
        """Mask later samples as epoch ``epoch`` (the Trainer calls it on its training dataset before each epoch)."""
        self._epoch.fill_(int(epoch))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._keyed(super().__getitem__(index), int(index), int(self._epoch))

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        epoch = int(self._epoch)
        return [self._keyed(row, int(i), epoch) for i, row in zip(indices, super().__getitems__(indices))]

    def _keyed(self, row: dict, index: int, epoch: int) -> dict[str, Any]:
        return {**row, MASKING_KEY: [self.config.seed, epoch, index]}

    def _encode(self, table):
        config, tokenizer = self.config, self.tokenizer

        def encode(rows):
            encoded = tokenizer([str(t) for t in rows[config.text_field]], truncation=True,
                                max_length=config.max_length, padding=False, return_tensors=None)
            return {"token_ids": encoded["token_ids"]}

        # The fingerprint names the raw data + tokenizer + settings, so datasets' cache is reused exactly when valid.
        key = json.dumps([table._fingerprint, preprocessor_fingerprint(tokenizer), config.text_field,
                          config.max_length], sort_keys=True)
        return table.map(encode, batched=True, batch_size=1000, remove_columns=table.column_names,
                         new_fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16], desc=None)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.data["token_ids"]]
