"""Text generation: prompt/target pairs (translation, summarization ...) or plain text, framed for a decoder-only
model (GPT-2) or an encoder-decoder model (T5).

Decoder-only: a pair becomes ``token_ids = prompt + <sep> + target + eos`` with ``labels`` -100 on the prompt (only the
target is learnt); plain text becomes ``token_ids = text + eos`` with ``labels = token_ids``. Labels are aligned with
``token_ids``; the model shifts them. Evaluation splits also carry the prompt alone (``prompt_ids``, left-padded)
so ``generate`` answers it while the same batch gives the teacher-forced loss.

Encoder-decoder (``encoder_decoder: true``): ``token_ids`` is the prompt (``prefix`` first) with the tokenizer's own
special tokens (T5's tokenizer ends it with ``</s>``), and ``labels`` the target + eos; the model feeds the labels,
shifted right behind its decoder start token, to its decoder. ``generate`` reads ``token_ids`` directly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import torch

from ..configs import DatasetConfig
from ..constants import TaskType
from ..errors import DataError
from ..preprocessors.tokenizers.bpe import encode_prompts
from ..registry import register_dataset
from .cells import empty_cell_rows, without_rows
from .collators import PaddingCollator
from .dataset import Dataset, check_not_empty, preprocessor_fingerprint
from .loading import load_split, require_columns
from .text_classification import tokenizer_of

__all__ = ["TextGenerationDatasetConfig", "TextGenerationDataset", "TextGenerationCollator"]

IGNORE_INDEX = -100
PROMPT_KEYS = ("prompt_ids", "prompt_attention_mask")


@dataclass
class TextGenerationDatasetConfig(DatasetConfig):
    """Columns and lengths of a text generation dataset (CSV/JSON/Parquet file or folder, or a Hub dataset).

    Args:
        text_field: column of the text to learn (the target of a pair, or the whole text).
        prompt_field: column of the prompt (e.g. ``text_en`` for English -> Persian); None = plain causal LM.
        tokenizer_path: model folder or Hub id whose tokenizer encodes the texts (when no preprocessor is passed).
        max_length: most tokens of a whole sequence (prompt, separator, target and eos).
        max_prompt_length: most prompt tokens, separator included; None = half of max_length. The target is cut to
            fit what is left, and always ends with eos.
        data_files: split name -> file name in the folder; None = ``<split>.<ext>``.
        generation_eval: add ``prompt_ids``/``prompt_attention_mask`` (the prompt alone, for ``generate``); None =
            for every split but ``train`` when ``prompt_field`` is set. Decoder-only framing only.
        skip_invalid_rows: drop rows with an empty text or prompt cell (counted in ``num_skipped``) instead of raising.
        encoder_decoder: frame pairs for an encoder-decoder model (T5): ``token_ids`` = the prompt, ``labels`` = the
            target + eos. Needs ``prompt_field``. False = decoder-only framing.
        prefix: text put before every prompt in the encoder-decoder framing (Hezar's ``prefix``, e.g.
            ``"summarize: "``); None = none.
        max_target_length: encoder-decoder framing: most target tokens, eos included; None = ``max_length``. There
            ``max_length`` caps the prompt (its special tokens included).
    """

    name: str = "text_generation"
    task: str = TaskType.TEXT_GENERATION
    text_field: str = "text"
    prompt_field: str | None = None
    tokenizer_path: str | None = None
    max_length: int = 512
    max_prompt_length: int | None = None
    data_files: dict | None = None
    generation_eval: bool | None = None
    skip_invalid_rows: bool = False
    encoder_decoder: bool = False
    prefix: str | None = None
    max_target_length: int | None = None

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.encoder_decoder and not self.prompt_field:
            problems.append("encoder_decoder: true needs prompt_field (the column the encoder reads), e.g. "
                            "prompt_field: text for a summary in text_field: summary")
        if self.encoder_decoder and self.generation_eval:
            problems.append("generation_eval: an encoder-decoder model generates from token_ids itself; leave it unset")
        if self.prefix is not None and not self.encoder_decoder:
            problems.append("prefix: only the encoder-decoder framing uses it; set encoder_decoder: true or drop it")
        if isinstance(self.max_target_length, int) and self.max_target_length < 2:
            problems.append(f"max_target_length: {self.max_target_length} leaves no room for a token and eos; use "
                            "at least 2")
        if isinstance(self.max_length, int) and self.max_length < 4:
            problems.append(f"max_length: {self.max_length} is too small; use at least 4")
        prompt = self.max_prompt_length
        if isinstance(prompt, int) and isinstance(self.max_length, int) and not 1 <= prompt <= self.max_length - 2:
            problems.append(f"max_prompt_length: {prompt} must be in [1, max_length - 2 = {self.max_length - 2}] so "
                            "a target token and eos still fit")
        return problems


class TextGenerationCollator:
    """Pad a batch: ``token_ids`` (pad id), ``attention_mask`` (0) and ``labels`` (-100) on the right; the prompt
    keys (``prompt_ids``, ``prompt_attention_mask``) on the left, so every prompt ends at the last position.

    Args:
        pad_token_id: id used to pad ``token_ids`` and ``prompt_ids``.
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id
        self.right = PaddingCollator({"token_ids": pad_token_id, "labels": IGNORE_INDEX})

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch = self.right([{k: v for k, v in s.items() if k not in PROMPT_KEYS} for s in samples])
        for key, value in zip(PROMPT_KEYS, (self.pad_token_id, 0)):
            if key in samples[0]:
                rows = [list(s[key]) for s in samples]
                longest = max(len(r) for r in rows)
                batch[key] = torch.tensor([[value] * (longest - len(r)) + r for r in rows], dtype=torch.long)
        return batch


@register_dataset("text_generation", TextGenerationDatasetConfig)
class TextGenerationDataset(Dataset):
    """Rows of ``text_field`` (and ``prompt_field``), tokenized once with a batched map.

    Each sample is ``{"token_ids", "attention_mask", "labels"}`` plus, when ``generation_eval`` applies,
    ``{"prompt_ids", "prompt_attention_mask"}``; ``data_collator`` is a :class:`TextGenerationCollator`.
    ``num_skipped`` counts the rows dropped under ``skip_invalid_rows``.

    Raises:
        DataError: missing split/columns, an empty split, empty text or prompt cells (unless ``skip_invalid_rows``),
            or a tokenizer without a pad (or eos) token.
    """

    def __init__(self, config: TextGenerationDatasetConfig, split: str | None = None, preprocessor=None, **kwargs):
        super().__init__(config, split=split, preprocessor=preprocessor)
        self.tokenizer = tokenizer_of(preprocessor, "TextGenerationDataset")
        table, source = load_split(config.path, split, config.data_files)
        check_not_empty(table, source)
        columns = {"text_field": config.text_field, "prompt_field": config.prompt_field}
        require_columns(table, columns, source)
        empty = empty_cell_rows(table, columns, source, skip=config.skip_invalid_rows)
        table, self.num_skipped = without_rows(table, empty), len(empty)
        check_not_empty(table, source)
        eos = self.tokenizer.config.setting("eos_token")
        self.eos_token_id = self.tokenizer.token_to_id(eos) if eos else None
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else self.eos_token_id
        if pad is None:
            raise DataError(f"TextGenerationDataset needs a tokenizer with a pad or eos token to pad batches; "
                            f"{type(self.tokenizer).__name__} has neither (set pad_token / eos_token in its config).")
        generation_eval = config.generation_eval
        self.generation_eval = (split != "train" and config.prompt_field is not None
                                and not config.encoder_decoder) if generation_eval is None else generation_eval
        self.data = self._encode_pairs(table) if config.encoder_decoder else self._encode(table)
        self.data_collator = TextGenerationCollator(pad)

    def _encode(self, table):
        config, tokenizer, eos = self.config, self.tokenizer, self.eos_token_id
        max_prompt = config.max_prompt_length or config.max_length // 2
        suffix = [eos] if eos is not None else []

        def encode(rows):
            targets = tokenizer([str(t) for t in rows[config.text_field]], add_special_tokens=False, padding=False,
                                truncation=False, return_attention_mask=False,
                                return_token_type_ids=False)["token_ids"]
            prompts = encode_prompts(tokenizer, rows[config.prompt_field], max_prompt) if config.prompt_field \
                else [[] for _ in targets]
            out = {"token_ids": [], "attention_mask": [], "labels": []}
            for prompt, target in zip(prompts, targets):
                target = target[: config.max_length - len(prompt) - len(suffix)] + suffix
                out["token_ids"].append(prompt + target)
                out["attention_mask"].append([1] * (len(prompt) + len(target)))
                out["labels"].append([IGNORE_INDEX] * len(prompt) + target)
            if self.generation_eval:
                out["prompt_ids"] = prompts
                out["prompt_attention_mask"] = [[1] * len(p) for p in prompts]
            return out

        # The fingerprint names the raw data + tokenizer + settings, so datasets' cache is reused exactly when valid.
        key = json.dumps([table._fingerprint, preprocessor_fingerprint(tokenizer), config.text_field,
                          config.prompt_field, config.max_length, max_prompt, self.generation_eval], sort_keys=True)
        return table.map(encode, batched=True, batch_size=1000, remove_columns=table.column_names,
                         new_fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16], desc=None)

    def _encode_pairs(self, table):
        """Encoder-decoder framing: ``token_ids`` = prefix + prompt with the tokenizer's special tokens (cut to
        ``max_length``), ``labels`` = target ids cut to ``max_target_length - 1``, then eos."""
        config, tokenizer, eos = self.config, self.tokenizer, self.eos_token_id
        target_limit = (config.max_target_length or config.max_length) - (eos is not None)
        prefix = config.prefix or ""

        def encode(rows):
            sources = tokenizer([prefix + str(t) for t in rows[config.prompt_field]], add_special_tokens=True,
                                padding=False, truncation=True, max_length=config.max_length,
                                return_token_type_ids=False)
            targets = tokenizer([str(t) for t in rows[config.text_field]], add_special_tokens=False, padding=False,
                                truncation=False, return_attention_mask=False,
                                return_token_type_ids=False)["token_ids"]
            labels = [target[:target_limit] + ([eos] if eos is not None else []) for target in targets]
            return {"token_ids": sources["token_ids"], "attention_mask": sources["attention_mask"], "labels": labels}

        key = json.dumps([table._fingerprint, preprocessor_fingerprint(tokenizer), config.text_field,
                          config.prompt_field, config.max_length, config.max_target_length, prefix, "encoder_decoder"],
                         sort_keys=True)
        return table.map(encode, batched=True, batch_size=1000, remove_columns=table.column_names,
                         new_fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16], desc=None)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.data["token_ids"]]

    @classmethod
    def training_texts(cls, path: str, split: str = "train", text_field: str = "text", prompt_field: str | None = None,
                       data_files: dict | None = None, skip_invalid_rows: bool = False, **ignored) -> Iterator[str]:
        """The prompts and texts of ``split``, to train a tokenizer on (used by the YAML recipe).

        Args:
            path: the dataset folder/file or Hub id. split: which split. text_field / prompt_field / data_files /
                skip_invalid_rows: as in the dataset config; other config fields are ignored.

        Raises:
            DataError: missing columns, or empty text or prompt cells unless ``skip_invalid_rows`` (then their rows
                are left out, as the dataset leaves them out).
        """
        table, source = load_split(path, split, data_files)
        columns = {"text_field": text_field, "prompt_field": prompt_field}
        require_columns(table, columns, source)
        table = without_rows(table, empty_cell_rows(table, columns, source, skip=skip_invalid_rows))
        for row in table.select_columns([c for c in (prompt_field, text_field) if c]):
            yield from (str(row[c]) for c in (prompt_field, text_field) if c)
