"""Text (and sentence-pair) classification: CSV/JSON/Parquet rows of text + label -> token ids + class id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..configs import DatasetConfig
from ..constants import TaskType
from ..errors import DataError
from ..registry import register_dataset
from .cells import empty_cell_rows, is_empty_cell, without_rows
from .collators import PaddingCollator
from .dataset import Dataset, check_not_empty, preprocessor_fingerprint
from .loading import load_split, require_columns


@dataclass
class TextClassificationDatasetConfig(DatasetConfig):
    """Columns and label map of a text classification dataset.

    Args:
        text_field: column holding the text.
        text_pair_field: second text column for sentence-pair tasks (e.g. NLI premise/hypothesis); None = off.
        label_field: column holding the label (a name or an integer id).
        id2label: class id -> label name. None = built from the sorted label names of the train split, so every
            split of the same folder gets the same map.
        tokenizer_path: model folder or Hub id whose tokenizer encodes the texts (when no preprocessor is passed).
        max_length: truncate encodings to this many tokens, special tokens included.
        data_files: split name -> file name in the folder; None = ``<split>.<ext>``.
        skip_unknown_labels: drop rows whose label is not in id2label (counted in ``num_skipped``) instead of raising.
        skip_invalid_rows: drop rows with an empty text, text pair or label cell (counted in ``num_skipped``) instead
            of raising.
    """

    name: str = "text_classification"
    task: str = TaskType.TEXT_CLASSIFICATION
    text_field: str = "text"
    text_pair_field: str | None = None
    label_field: str = "label"
    id2label: dict | None = None
    tokenizer_path: str | None = None
    max_length: int = 512
    data_files: dict | None = None
    skip_unknown_labels: bool = False
    skip_invalid_rows: bool = False

    def validate(self) -> list[str]:
        problems = super().validate()
        if isinstance(self.max_length, int) and self.max_length < 2:
            problems.append(f"max_length: {self.max_length} is too small; use at least 2 (room for [CLS] and [SEP])")
        return problems


def tokenizer_of(preprocessor, owner: str):
    """The tokenizer inside ``preprocessor`` (itself, or the container's tokenizer).

    Raises:
        DataError: when there is none.
    """
    from ..preprocessors.tokenizers import Tokenizer

    def is_tokenizer(obj) -> bool:  # ours, or a Hezar tokenizer (same call contract and pad_token_id)
        return isinstance(obj, Tokenizer) or (callable(obj) and hasattr(obj, "pad_token_id") and hasattr(obj, "decode"))

    if is_tokenizer(preprocessor):
        return preprocessor
    if isinstance(preprocessor, dict):
        for value in preprocessor.values():
            if is_tokenizer(value):
                return value
    raise DataError(f"{owner} needs a tokenizer: pass preprocessor= or tokenizer_path= (a model folder with preprocessor/).")


def build_id2label(labels: list) -> dict[int, str]:
    """Class ids for the sorted distinct labels (integer labels keep their own value as id). Empty cells are no
    class: the dataset refuses (or drops) their rows."""
    distinct = sorted({x for x in labels if not is_empty_cell(x)}, key=lambda x: (isinstance(x, str), x))
    if all(isinstance(x, int) and not isinstance(x, bool) for x in distinct):
        return {int(x): str(x) for x in distinct}
    return {i: str(x) for i, x in enumerate(distinct)}


@register_dataset("text_classification", TextClassificationDatasetConfig)
class TextClassificationDataset(Dataset):
    """Rows of ``text_field`` (+ ``text_pair_field``) and ``label_field``, tokenized once with a batched map.

    Each sample is ``{"token_ids", "attention_mask", "token_type_ids", "labels"}``; ``data_collator`` pads a batch to
    its longest sample.
    """

    def __init__(self, config: TextClassificationDatasetConfig, split: str | None = None, preprocessor=None, **kwargs):
        super().__init__(config, split=split, preprocessor=preprocessor)
        self.tokenizer = tokenizer_of(preprocessor, "TextClassificationDataset")
        table, source = load_split(config.path, split, config.data_files)
        check_not_empty(table, source)
        columns = {"text_field": config.text_field, "text_pair_field": config.text_pair_field,
                   "label_field": config.label_field}
        require_columns(table, columns, source)
        empty = empty_cell_rows(table, columns, source, skip=config.skip_invalid_rows)
        if config.id2label is None:
            train_table = table if split == "train" else load_split(config.path, "train", config.data_files)[0]
            self.config = config.replace(id2label=build_id2label(train_table[config.label_field]))
        self.id2label = {int(k): str(v) for k, v in self.config.id2label.items()}
        self.label2id = {v: k for k, v in self.id2label.items()}
        table, self.num_skipped = self._label_rows(table, source, empty)
        check_not_empty(table, source)
        self.data = self._encode(table)
        self.data_collator = PaddingCollator({"token_ids": self.tokenizer.pad_token_id, "labels": -100})

    def _label_rows(self, table, source: str, empty: set[int]):
        """Add the class ids; rows with an empty cell (``empty``, already allowed by skip_invalid_rows) are dropped,
        rows whose label is unknown raise or are dropped with skip_unknown_labels. Row numbers are the file's."""
        names = [str(v) for v in table[self.config.label_field]]
        bad = [i for i, name in enumerate(names) if i not in empty and name not in self.label2id]
        if bad and not self.config.skip_unknown_labels:
            shown = ", ".join(f"row {i} ({names[i]!r})" for i in bad[:5])
            raise DataError(
                f"`{source}`: {len(bad)} label(s) not in id2label {sorted(self.label2id)}: {shown}. "
                "Fix the data, add the label to the dataset config's id2label, or set skip_unknown_labels: true."
            )
        dropped = empty.union(bad)
        table = without_rows(table, dropped)
        ids = [self.label2id[str(v)] for v in table[self.config.label_field]]
        return table.add_column("__label_id", ids), len(dropped)

    def _encode(self, table):
        config, tokenizer = self.config, self.tokenizer

        def encode(rows):
            pair = rows[config.text_pair_field] if config.text_pair_field else None
            enc = tokenizer([str(t) for t in rows[config.text_field]],
                            pair=[str(t) for t in pair] if pair is not None else None,
                            truncation=True, max_length=config.max_length, padding=False, return_tensors=None)
            # Hezar's tokenizers return no segment ids unless asked: single-segment texts are all segment 0.
            segments = enc["token_type_ids"] if "token_type_ids" in enc else [[0] * len(x) for x in enc["token_ids"]]
            return {"token_ids": enc["token_ids"], "attention_mask": enc["attention_mask"],
                    "token_type_ids": segments, "labels": rows["__label_id"]}

        # The fingerprint names the raw data + tokenizer + settings, so datasets' cache is reused exactly when valid.
        key = json.dumps([table._fingerprint, preprocessor_fingerprint(tokenizer), config.text_field, config.text_pair_field,
                          config.max_length], sort_keys=True)
        fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]
        return table.map(encode, batched=True, batch_size=1000, remove_columns=table.column_names,
                         new_fingerprint=fingerprint, desc=None)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.data["token_ids"]]
