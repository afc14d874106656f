"""Sequence labeling (NER, POS): word lists + one tag per word -> sub-word token ids + aligned tag ids.

Reads CoNLL files (``token<TAB>tag`` lines, a blank line between sentences; ``<split>.txt|.conll|.tsv``) and tables
(``<split>.json|.jsonl|.csv|.parquet`` or a Hub dataset) with a word-list column and a tag-list column.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Iterator

from ..configs import DatasetConfig
from ..constants import TaskType
from ..errors import DataError, closest
from ..preprocessors.word_chars import token_word_chars
from ..registry import register_dataset
from ..tag_schemes import TAG_SCHEMES, scheme_problem
from .cells import is_empty_cell
from .collators import PaddingCollator
from .conll import read_conll
from .dataset import Dataset, preprocessor_fingerprint
from .loading import find_split_file, load_split, read_table, require_columns
from .splits import parse_split
from .text_classification import tokenizer_of

__all__ = ["SequenceLabelingDatasetConfig", "SequenceLabelingDataset", "align_tags", "WordTagData", "read_word_tags"]

CONLL_EXTENSIONS = (".txt", ".conll", ".tsv")
TABLE_EXTENSIONS = (".json", ".jsonl", ".csv", ".parquet")
_FORMATS = ("conll", "table")


@dataclass
class SequenceLabelingDatasetConfig(DatasetConfig):
    """Where the words and tags are and how they become model inputs (Hezar's keys plus reading options).

    Args:
        tokens_field / tags_field: table columns holding the word list and the tag list of a sentence (a list, or in
            CSV a whitespace-separated or JSON-list string). CoNLL files are read into these two columns.
        id2label: tag id -> tag. None = the sorted distinct tags of ``label_split`` (the same map for every split).
        label_split: the split whose tags make id2label when it is not given (e.g. ``dev`` for UD PerDT, which
            ships no train split).
        tokenizer_path: model folder or Hub id whose tokenizer encodes the words (when no preprocessor is passed).
        max_length: keep at most this many tokens, special tokens included; words that do not fit are dropped and
            their tags are not scored (a word counts while its first sub-token fits).
        data_files: split name -> file name in the folder; None = ``<split>.<ext>``.
        file_format: ``conll`` or ``table``; None = by extension (.txt/.conll/.tsv are CoNLL).
        tag_column: 0-based column of the tag in CoNLL lines (the word is column 0); e.g. 2 for PerDT's XPOS.
        conll_separator: CoNLL column separator; None = any whitespace.
        label_all_tokens: tag every sub-token of a word (Hezar's option); False = only the first, -100 on the rest.
        ignore_index: label of positions that are not scored (special tokens, later sub-tokens, padding).
        is_iob_schema: kept for Hezar configs (informational; ``tag_scheme`` is what decides the metrics).
        tag_scheme: how the tags are written: ``iob2`` / ``iobes`` (entity chunks: scored with seqeval's entity
            P/R/F1 and token accuracy) or ``none`` (plain tags such as POS: token accuracy only). None = detected
            from the tag set (every tag ``O`` or ``B-``/``I-`` (+ ``E-``/``S-``) + a type means iob2 (iobes)).
        max_word_chars: give each sample a ``word_chars`` input, one row per token holding the Unicode code points of
            its word (this many; longer words keep their first and last halves), for models with a character CNN
            (``char_cnn_filters``). None = off (no such input).
        skip_unknown_labels: drop sentences with a tag outside id2label (counted in ``num_skipped``) instead of raising.
    """

    name: str = "sequence_labeling"
    task: str = TaskType.SEQUENCE_LABELING
    tokens_field: str = "tokens"
    tags_field: str = "tags"
    id2label: dict | None = None
    label_split: str = "train"
    tokenizer_path: str | None = None
    max_length: int = 512
    data_files: dict | None = None
    file_format: str | None = None
    tag_column: int = 1
    conll_separator: str | None = "\t"
    label_all_tokens: bool = False
    ignore_index: int = -100
    is_iob_schema: bool = False
    skip_unknown_labels: bool = False
    tag_scheme: str | None = None
    max_word_chars: int | None = None

    def validate(self) -> list[str]:
        problems = super().validate()
        if isinstance(self.max_length, int) and self.max_length < 3:
            problems.append(f"max_length: {self.max_length} is too small; use at least 3 ([CLS], a word, [SEP])")
        if self.file_format not in (None, *_FORMATS):
            problems.append(f"file_format: {self.file_format!r}{closest(str(self.file_format), _FORMATS)}; "
                            f"use one of {list(_FORMATS)} or null (by extension)")
        if isinstance(self.tag_column, int) and self.tag_column < 1:
            problems.append(f"tag_column: {self.tag_column} must be >= 1 (column 0 holds the word)")
        if isinstance(self.max_word_chars, int) and self.max_word_chars < 1:
            problems.append(f"max_word_chars: {self.max_word_chars} must be >= 1 (characters per word), or null (off)")
        if self.tag_scheme is not None and self.tag_scheme not in TAG_SCHEMES:
            problems.append(f"tag_scheme: {self.tag_scheme!r}{closest(str(self.tag_scheme), TAG_SCHEMES)}; use one of "
                            f"{list(TAG_SCHEMES)} or null (detected from the tags)")
        if isinstance(self.id2label, dict) and self.tag_scheme in TAG_SCHEMES:
            problem = scheme_problem(self.tag_scheme, [str(v) for v in self.id2label.values()])
            if problem:
                problems.append(problem)
        return problems


@dataclass
class WordTagData:
    """Sentences of one split: ``tokens[i]`` words, ``tags[i]`` their tags, ``where[i]`` for error messages."""

    tokens: list[list[str]]
    tags: list[list[str]]
    where: list[str]
    source: str


def align_tags(word_ids: list[int | None], tag_ids: list[int], label_all_tokens: bool = False,
               ignore_index: int = -100) -> list[int]:
    """Labels per token from tags per word, using the tokenizer's ``word_ids``.

    Args:
        word_ids: per token, the index of its word, or None for special tokens.
        tag_ids: per word, its tag id.
        label_all_tokens: give every sub-token its word's tag instead of only the first.
        ignore_index: label of special tokens (and of later sub-tokens unless ``label_all_tokens``).

    Returns:
        One label per token. Words with no token (truncated away, or emptied by normalization) get none.
    """
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(ignore_index)
        elif word != previous or label_all_tokens:
            labels.append(tag_ids[word])
        else:
            labels.append(ignore_index)
        previous = word
    return labels


def _split_file(config: SequenceLabelingDatasetConfig, split: str) -> str | None:
    """The file holding ``split``, or None when ``path`` is a Hub dataset id."""
    path = os.fspath(config.path)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        return None
    if config.data_files:
        if split not in config.data_files:
            raise DataError(f"split: `{split}` is not in the dataset's data_files{closest(split, config.data_files)}; "
                            f"valid: {sorted(config.data_files)}")
        return os.path.join(path, config.data_files[split])
    return find_split_file(path, split, CONLL_EXTENSIONS + TABLE_EXTENSIONS)


def read_word_tags(config: SequenceLabelingDatasetConfig, split: str) -> WordTagData:
    """Read the words and tags of ``split`` (CoNLL file, table file, or Hub dataset).

    Args:
        config: where the data is and how to read it.
        split: a split name, or a contiguous slice of one in 🤗 datasets' syntax (``dev[:90%]``, ``dev[90%:]``,
            ``train[:500]``; see :mod:`hezar_accel.data.splits`), e.g. to carve a dev set out of a treebank's only
            labelled file.

    Raises:
        DataError: no such split, a malformed or empty slice, unreadable lines, missing columns, empty sentences, or
            words and tags of different lengths (naming the file and the sentence).
    """
    part = parse_split(split)
    found = _read_whole_split(config, part.name)
    if part.is_whole:
        return found
    kept = part.kept(len(found.tokens), found.source, unit="sentences")
    rows = slice(kept.start, kept.stop)
    return WordTagData(found.tokens[rows], found.tags[rows], found.where[rows], found.source)


def _read_whole_split(config: SequenceLabelingDatasetConfig, split: str) -> WordTagData:
    file_path = _split_file(config, split)
    is_conll = config.file_format == "conll" or (
        config.file_format is None and file_path is not None and os.path.splitext(file_path)[1].lower() in CONLL_EXTENSIONS)
    if is_conll:
        found = read_conll(file_path, tag_column=config.tag_column, separator=config.conll_separator)
        where = [f"sentence {i} (line {line})" for i, line in enumerate(found.first_lines)]
        return WordTagData(found.tokens, found.tags, where, file_path)
    table, source = (read_table(file_path), file_path) if file_path else load_split(config.path, split)
    require_columns(table, {"tokens_field": config.tokens_field, "tags_field": config.tags_field}, source)
    tokens = [_as_list(v) for v in table[config.tokens_field]]
    tags = [_as_list(v) for v in _tag_names(table, config.tags_field)]
    where = [f"sentence {i} (row {i})" for i in range(len(tokens))]
    for i, (words, sentence_tags) in enumerate(zip(tokens, tags)):
        if not words or len(words) != len(sentence_tags):
            raise DataError(f"`{source}` {where[i]}: {len(words)} words but {len(sentence_tags)} tags; every "
                            "sentence needs at least one word and exactly one tag per word.")
        _check_no_empty_items(words, sentence_tags, config, f"`{source}` {where[i]}")
    tokens, tags = [[str(w) for w in row] for row in tokens], [[str(t) for t in row] for row in tags]
    return WordTagData(tokens, tags, where, source)


def _check_no_empty_items(words: list, tags: list, config: SequenceLabelingDatasetConfig, where: str) -> None:
    """Raise when a word or tag of a sentence is null or blank: as text it would become the word (or tag) 'None'."""
    problems = []
    columns = (("tokens_field", config.tokens_field, words), ("tags_field", config.tags_field, tags))
    for field_name, column, items in columns:
        empty = [j for j, item in enumerate(items) if is_empty_cell(item)]
        if empty:
            problems.append(f"`{column}` ({field_name}) has empty item(s) at position(s) {empty[:5]}"
                            + (f" and {len(empty) - 5} more" if len(empty) > 5 else ""))
    if problems:
        raise DataError(f"{where}: " + "; ".join(problems) + ". Fill them in (one word and one tag per position) or "
                        "remove the sentence.")


def _as_list(value) -> list:
    if isinstance(value, str):  # CSV cells: a JSON list, or words separated by spaces
        return json.loads(value) if value.lstrip().startswith("[") else value.split()
    return list(value) if value is not None else []


def _tag_names(table, column: str) -> list:
    """Tag columns stored as ClassLabel ids (Hub datasets) are turned back into their names."""
    names = getattr(getattr(table.features[column], "feature", None), "names", None)
    if not names:
        return table[column]
    return [[names[int(t)] for t in row] for row in table[column]]


@register_dataset("sequence_labeling", SequenceLabelingDatasetConfig)
class SequenceLabelingDataset(Dataset):
    """Sentences tokenized once with a batched map; each sample is ``{"token_ids", "attention_mask",
    "token_type_ids", "labels"}`` with one label per token (-100 where not scored), plus ``word_chars``
    (``(tokens, max_word_chars)`` character codes) when ``max_word_chars`` is set. ``data_collator`` pads
    ``token_ids`` with the pad id, ``labels`` with -100 and ``word_chars`` with 0.

    Attributes:
        num_skipped: sentences dropped for unknown tags (``skip_unknown_labels``).
        num_unscored_words: words left without a label (truncated at max_length, or no token after normalization).

    Raises:
        DataError: unreadable data, unknown tags (unless skipped), an empty split, or no tokenizer.
    """

    def __init__(self, config: SequenceLabelingDatasetConfig, split: str | None = None, preprocessor=None, **kwargs):
        super().__init__(config, split=split, preprocessor=preprocessor)
        self.tokenizer = tokenizer_of(preprocessor, "SequenceLabelingDataset")
        found = read_word_tags(config, split)
        if config.id2label is None:
            # replace() validates again: a declared tag_scheme that does not fit the tags read is refused here.
            self.config = config.replace(id2label=self._id2label_from_train(found, split))
        self.id2label = {int(k): str(v) for k, v in self.config.id2label.items()}
        self.label2id = {v: k for k, v in self.id2label.items()}
        tokens, tag_ids, self.num_skipped = self._tag_ids(found)
        self.data, self.num_unscored_words = self._encode(tokens, tag_ids)
        self.data_collator = PaddingCollator({"token_ids": self.tokenizer.pad_token_id,
                                              "labels": self.config.ignore_index})

    def _id2label_from_train(self, found: WordTagData, split: str) -> dict[int, str]:
        label_split = self.config.label_split
        if split != label_split:
            try:
                found = read_word_tags(self.config, label_split)
            except DataError as e:
                raise DataError(f"id2label is not set and the `{label_split}` split cannot be read to build it ({e}) "
                                "Set id2label or label_split (the training split) in the dataset config, or load the "
                                "training split first and pass its config (config=train.config).") from None
        return {i: tag for i, tag in enumerate(sorted({t for tags in found.tags for t in tags}))}

    def _tag_ids(self, found: WordTagData) -> tuple[list, list, int]:
        tokens, tag_ids, bad = [], [], []
        for words, tags, where in zip(found.tokens, found.tags, found.where):
            unknown = sorted({t for t in tags if t not in self.label2id})
            if unknown:
                bad.append(f"{where}: {unknown}")
                continue
            tokens.append(words)
            tag_ids.append([self.label2id[t] for t in tags])
        if bad and not self.config.skip_unknown_labels:
            raise DataError(
                f"`{found.source}`: {len(bad)} sentence(s) have tags not in id2label {sorted(self.label2id)}: "
                f"{'; '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}. Fix the data, add the tags to the dataset "
                "config's id2label, or set skip_unknown_labels: true to drop those sentences."
            )
        if not tokens:
            raise DataError(f"`{found.source}`: no sentence is left (all {len(bad)} had unknown tags).")
        return tokens, tag_ids, len(bad)

    def _encode(self, tokens: list, tag_ids: list):
        import datasets

        config, tokenizer = self.config, self.tokenizer

        def encode(rows):
            enc = tokenizer(rows["tokens"], is_split_into_words=True, return_word_ids=True, truncation=True,
                            max_length=config.max_length, padding=False, return_tensors=None)
            labels = [align_tags(w, t, config.label_all_tokens, config.ignore_index)
                      for w, t in zip(enc["word_ids"], rows["tag_ids"])]
            unscored = [len(t) - len({w for w in word_ids if w is not None})
                        for word_ids, t in zip(enc["word_ids"], rows["tag_ids"])]
            encoded = {"token_ids": enc["token_ids"], "attention_mask": enc["attention_mask"],
                       "token_type_ids": enc["token_type_ids"], "labels": labels, "__unscored": unscored}
            if config.max_word_chars:
                encoded["word_chars"] = [token_word_chars(words, word_ids, config.max_word_chars)
                                         for words, word_ids in zip(rows["tokens"], enc["word_ids"])]
            return encoded

        content = hashlib.sha256(json.dumps([tokens, tag_ids], ensure_ascii=False).encode()).hexdigest()
        key = json.dumps([content, preprocessor_fingerprint(tokenizer), config.max_length, config.label_all_tokens,
                          config.ignore_index, config.max_word_chars], sort_keys=True)
        table = datasets.Dataset.from_dict({"tokens": tokens, "tag_ids": tag_ids})
        data = table.map(encode, batched=True, batch_size=1000, remove_columns=table.column_names,
                         new_fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16], desc=None)
        unscored = int(sum(data["__unscored"]))
        return data.remove_columns("__unscored"), unscored

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.data["token_ids"]]

    @classmethod
    def training_texts(cls, path: str, split: str = "train", **config_fields) -> Iterator[str]:
        """The sentences of ``split`` as space-joined words, to train a tokenizer on (used by the YAML recipe).

        Args:
            path: the dataset folder/file. split: which split. **config_fields: dataset config fields (columns,
                CoNLL options); others are ignored.
        """
        names = set(SequenceLabelingDatasetConfig.field_names())
        config = SequenceLabelingDatasetConfig.from_dict({k: v for k, v in config_fields.items() if k in names},
                                                         path=path)
        return (" ".join(words) for words in read_word_tags(config, split).tokens)
