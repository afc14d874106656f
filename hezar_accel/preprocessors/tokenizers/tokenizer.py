"""The ``Tokenizer`` base: a 🤗 ``tokenizers.Tokenizer`` saved in Hezar's format (``preprocessor/tokenizer.json`` +
``preprocessor/tokenizer_config.yaml``), returning Hezar's input names ``token_ids``, ``attention_mask``,
``token_type_ids`` (and ``word_ids`` on request)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from tokenizers import Regex, normalizers
from tokenizers import Tokenizer as HFTokenizer

from ...configs import PreprocessorConfig
from ...constants import TOKENIZER_CONFIG_FILE, TOKENIZER_FILE
from ...hub import HubError
from ..preprocessor import Preprocessor

__all__ = ["Tokenizer", "TokenizerConfig", "TrainableTokenizerConfig", "clean_text_normalizers"]

# Newer Hezar writes this for settings it moved from the config to call arguments; it means "not set".
_DEPRECATED = "deprecated"
_TRUNCATIONS = ("longest_first", "only_first", "only_second")
_NO_TRUNCATION = (False, "no_truncation", "do_not_truncate")
_PADDINGS = ("longest", "max_length")
_SIDES = ("left", "right")
_NO_PADDING = (False, "no_padding", "do_not_pad")
_SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Older Hezar key -> current key; an older key that is set wins over the current key's default.
_LEGACY = {"truncation_strategy": "truncation", "truncation_direction": "truncation_side",
           "padding_strategy": "padding", "padding_direction": "padding_side"}
_LEGACY_FIELDS = (*_LEGACY, "pad_token_id", "special_tokens")
_KEY_OF = {"type_ids": "token_type_ids"}  # backend Encoding attribute -> Hezar's output key
# Control characters and U+FFFD. Unlike BertNormalizer's clean_text this keeps format characters (Unicode Cf), among
# them the zero-width non-joiner that Persian writes inside words (می‌روم).
_CONTROL_CHARS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x{FFFD}]"


def clean_text_normalizers() -> list:
    """The normalisation steps the WordPiece and Unigram tokenizers share: NFKC, control characters and U+FFFD
    removed (format characters such as Persian's ZWNJ kept), whitespace runs folded to one space, the ends stripped."""
    return [normalizers.NFKC(), normalizers.Replace(Regex(_CONTROL_CHARS), ""),
            normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]


@dataclass
class TokenizerConfig(PreprocessorConfig):
    """Tokenizer settings with Hezar's keys, current and older, so any Hezar ``tokenizer_config.yaml`` loads.

    Args:
        max_length: default maximum length, special tokens included. truncation: ``longest_first`` | ``only_first`` |
            ``only_second`` (None/``no_truncation``: off). padding: ``longest`` | ``max_length`` (None/``no_padding``:
            off). truncation_side / padding_side: ``right`` | ``left``. stride: kept for Hezar (overflow is never
            returned). pad_to_multiple_of: round padded lengths up (0/None: off). pad_token_type_id: segment id of pads.
        bos_token ... mask_token, additional_special_tokens: the special tokens.
        truncation_strategy, truncation_direction, padding_strategy, padding_direction, pad_token_id, special_tokens:
            older Hezar names of the same settings; when set they take precedence.
    """

    max_length: int | str | None = None
    truncation: bool | str | None = None
    truncation_side: str | None = None
    padding: bool | str | None = None
    padding_side: str | None = None
    stride: int | None = None
    pad_to_multiple_of: int | str | None = None
    pad_token_type_id: int | None = 0
    bos_token: str | None = None
    eos_token: str | None = None
    unk_token: str | None = None
    sep_token: str | None = None
    pad_token: str | None = None
    cls_token: str | None = None
    mask_token: str | None = None
    additional_special_tokens: list[str] | None = None
    truncation_strategy: bool | str | None = None
    truncation_direction: str | None = None
    padding_strategy: bool | str | None = None
    padding_direction: str | None = None
    pad_token_id: int | None = None
    special_tokens: list[str] | None = None

    def validate(self) -> list[str]:
        """Every problem with the settings (types, then allowed values)."""
        problems = super().validate()
        for key, allowed in (("truncation", (True, *_TRUNCATIONS, *_NO_TRUNCATION)), ("truncation_side", _SIDES),
                             ("padding", (True, *_PADDINGS, *_NO_PADDING)), ("padding_side", _SIDES)):
            for name in (key, *[old for old, new in _LEGACY.items() if new == key]):
                value = getattr(self, name)
                if value not in (None, _DEPRECATED, *allowed):
                    problems.append(f"{name}: {value!r} is not valid; use one of {', '.join(map(str, allowed))}")
        for name in ("max_length", "pad_to_multiple_of"):
            value = getattr(self, name)
            if isinstance(value, str) and value != _DEPRECATED or isinstance(value, int) and value < 0:
                problems.append(f"{name}: {value!r} must be a non-negative integer or null")
        return problems

    def to_dict(self) -> dict:
        """Fields as plain Python; older Hezar keys are written only when set (they are read back as None)."""
        data = super().to_dict()
        return {k: v for k, v in data.items() if not (k in _LEGACY_FIELDS and v is None)}

    def setting(self, name: str) -> Any:
        """Effective value of a setting: an older Hezar key when set, else the current one ("deprecated"/0 -> None)."""
        value = getattr(self, name)
        for old, new in _LEGACY.items():
            if new == name and getattr(self, old) is not None:
                value = getattr(self, old)
        if value == _DEPRECATED or (name in ("max_length", "pad_to_multiple_of") and not value):
            return None
        return value

    def ordered_special_tokens(self, names: Sequence[str]) -> list[str]:
        """The effective special tokens ``names`` in that order, then ``additional_special_tokens`` and the older
        ``special_tokens``; unset ones and repeats left out. A trained vocabulary gives them ids 0, 1, ..."""
        tokens = [self.setting(n) for n in names] + list(self.additional_special_tokens or [])
        tokens += list(self.special_tokens or [])
        return list(dict.fromkeys(t for t in tokens if t))


@dataclass
class TrainableTokenizerConfig(TokenizerConfig):
    """The length settings Hezar's WordPiece, BPE and SentencePiece Unigram configs share (the fields stay where
    :class:`TokenizerConfig` puts them, so saved files keep their key order).

    Args:
        max_length: 512. truncation / truncation_side: ``longest_first`` on the ``right``. padding / padding_side:
            ``longest`` on the ``right``. stride / pad_to_multiple_of: 0 (off).
        (Other fields: see :class:`TokenizerConfig`.)
    """

    max_length: int | str | None = 512
    truncation: bool | str | None = "longest_first"
    truncation_side: str | None = "right"
    padding: bool | str | None = "longest"
    padding_side: str | None = "right"
    stride: int | None = 0
    pad_to_multiple_of: int | str | None = 0


class Tokenizer(Preprocessor):
    """Base tokenizer over a 🤗 ``tokenizers.Tokenizer`` (subclasses implement ``build``).

    Args:
        config: the tokenizer config.
        tokenizer: a ready backend tokenizer; else ``tokenizer_file`` is read, else ``build()`` makes an empty one.
        tokenizer_file: path to a ``tokenizer.json``.
    """

    config_filename = TOKENIZER_CONFIG_FILE
    tokenizer_filename = TOKENIZER_FILE
    token_ids_name = "token_ids"
    uncastable_keys = ("word_ids",)

    def __init__(self, config: TokenizerConfig, tokenizer: HFTokenizer | None = None,
                 tokenizer_file: str | None = None, **kwargs):
        super().__init__(config, **kwargs)
        if tokenizer is None:
            tokenizer = HFTokenizer.from_file(tokenizer_file) if tokenizer_file else self.build()
        # Truncation/padding stored in a tokenizer.json would silently override the config; every call sets its own.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def build(self) -> HFTokenizer:  # pragma: no cover - per subclass
        """Return a new (untrained) backend tokenizer for ``self.config``."""
        raise NotImplementedError(f"{type(self).__name__} cannot build a tokenizer; load one from a folder.")

    @property
    def backend(self) -> HFTokenizer:
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        """Number of tokens, added special tokens included."""
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or None when it is not in the vocabulary."""
        return self._tokenizer.token_to_id(token)

    def id_to_token(self, index: int) -> str | None:
        """The token of id ``index``, or None when out of range."""
        return self._tokenizer.id_to_token(int(index))

    @property
    def special_tokens(self) -> list[str]:
        """Configured special tokens that exist in the vocabulary (pad, unk, cls, sep, mask ... then additional)."""
        tokens = [self.config.setting(name) for name in _SPECIAL_NAMES]
        tokens += list(self.config.additional_special_tokens or []) + list(self.config.special_tokens or [])
        present = [t for t in tokens if t is not None and self.token_to_id(t) is not None]
        return list(dict.fromkeys(present))

    @property
    def special_ids(self) -> list[int]:
        """Sorted ids of ``special_tokens``."""
        return sorted({self.token_to_id(t) for t in self.special_tokens})

    @property
    def pad_token_id(self) -> int | None:
        """Id of the pad token (``pad_token``, else the legacy ``pad_token_id``), or None without one."""
        pad = self.config.setting("pad_token")
        found = self.token_to_id(pad) if pad is not None else None
        return found if found is not None else self.config.pad_token_id

    @property
    def mask_token(self) -> str | None:
        """The mask token (``[MASK]``, ``<mask>`` ...) of the config, or None without one."""
        return self.config.setting("mask_token")

    @property
    def mask_token_id(self) -> int | None:
        """Id of the mask token, or None when it is unset or not in the vocabulary (as Hezar's property)."""
        return self.token_to_id(self.mask_token) if self.mask_token is not None else None

    def __call__(self, inputs: Any, is_split_into_words: bool = False, padding: bool | str | None = None,
                 truncation: bool | str | None = None, max_length: int | None = None,
                 return_tensors: str | None = None, return_word_ids: bool = False,
                 return_attention_mask: bool = True, return_token_type_ids: bool = True,
                 device: str | torch.device | None = None, add_special_tokens: bool = True, pair: Any = None,
                 pad_to_multiple_of: int | None = None) -> dict[str, Any]:
        """Tokenize a batch of texts, of pre-split word lists, or of sentence pairs.

        Args:
            inputs: a text, a list of texts or of ``(text, text_pair)`` tuples; with ``is_split_into_words`` a word
                list or a list of word lists (``word_ids`` then index those words).
            padding / truncation / max_length / pad_to_multiple_of: None uses the config. padding: ``longest`` |
                ``max_length`` | True | False. truncation: ``longest_first`` | ``only_first`` | ``only_second`` | True |
                False; it keeps at most ``max_length`` tokens, special tokens included.
            return_tensors: None/``list`` or ``pt`` (``word_ids`` stays a list); ``device`` moves tensors.
            return_*: which keys to return. add_special_tokens: frame with [CLS]/[SEP].
            pair: one second sequence per input (sentence-pair tasks); its ``token_type_ids`` are 1.

        Returns:
            ``token_ids`` and the requested ``attention_mask``, ``token_type_ids``, ``word_ids``: one row per input.

        Raises:
            ValueError: malformed inputs, a max_length below the special tokens, ragged rows with ``pt``, or
                ``padding="max_length"`` without a max_length.
        """
        batch = _as_batch(inputs, pair, is_split_into_words)
        max_length = max_length if max_length is not None else self.config.setting("max_length")
        with self._truncation(truncation, max_length):
            try:
                encodings = self._tokenizer.encode_batch(batch, is_pretokenized=is_split_into_words,
                                                         add_special_tokens=add_special_tokens)
            except Exception as e:  # the backend raises plain Exceptions (e.g. max_length below the special tokens)
                raise ValueError(f"Tokenization failed (max_length={max_length}): {e}") from e
        wanted = {"attention_mask": return_attention_mask, "type_ids": return_token_type_ids,
                  "word_ids": return_word_ids}
        columns = {self.token_ids_name: [e.ids for e in encodings]}
        columns.update({_KEY_OF.get(a, a): [getattr(e, a) for e in encodings] for a, on in wanted.items() if on})
        padding = self.config.setting("padding") if padding is None else padding
        columns = self._pad_columns(columns, padding, max_length, pad_to_multiple_of)
        return self._convert(columns, return_tensors, device)

    def encode(self, text: Any, pair: Any = None, is_split_into_words: bool = False,
               add_special_tokens: bool = True) -> list[int]:
        """Token ids of one text (or one word list), truncated as the config says, without padding.

        Args:
            text: a text, or a word list with ``is_split_into_words``. pair: an optional second sequence.

        Returns:
            The ids, special tokens included when ``add_special_tokens``.
        """
        outputs = self([text] if not is_split_into_words else [list(text)], pair=None if pair is None else [pair],
                       is_split_into_words=is_split_into_words, padding=False, add_special_tokens=add_special_tokens,
                       return_attention_mask=False, return_token_type_ids=False)
        return outputs[self.token_ids_name][0]

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str | list[str]:
        """Text of one id sequence.

        Args:
            ids: a list, 1-D tensor or array of ids; a 2-D input is decoded row by row (``batch_decode``).
            skip_special_tokens: leave out [CLS], [SEP], [PAD] ...

        Returns:
            The text (a list of texts for a 2-D input).
        """
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if ids and isinstance(ids[0], (list, tuple)):
            return self.batch_decode(ids, skip_special_tokens=skip_special_tokens)
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = True) -> list[str]:
        """Texts of several id sequences (lists, or a 2-D tensor/array)."""
        rows = sequences.tolist() if hasattr(sequences, "tolist") else [list(s) for s in sequences]
        return self._tokenizer.decode_batch([[int(i) for i in r] for r in rows],
                                            skip_special_tokens=skip_special_tokens)

    @contextmanager
    def _truncation(self, truncation, max_length):
        """Enable truncation on the backend for one call only, so no setting outlives it or reaches tokenizer.json."""
        truncation = self.config.setting("truncation") if truncation is None else truncation
        try:
            if truncation not in (None, *_NO_TRUNCATION) and max_length is not None:
                # stride only shapes overflowing windows, which are never returned, so it stays 0.
                self._tokenizer.enable_truncation(
                    max_length, stride=0, strategy="longest_first" if truncation is True else truncation,
                    direction=self.config.setting("truncation_side") or "right")
            yield
        finally:
            self._tokenizer.no_truncation()

    def pad_encoded_batch(self, inputs: Sequence[Mapping] | Mapping[str, Sequence], padding: bool | str = "longest",
                          max_length: int | None = None, pad_to_multiple_of: int | None = None,
                          return_tensors: str | None = "pt", skip_keys: Sequence[str] = (),
                          label_pad_id: int = -100, device: str | torch.device | None = None) -> dict[str, Any]:
        """Pad already-encoded examples to one length (for data collators), on the config's ``padding_side``.

        Args:
            inputs: a list of example dicts, or a dict of per-key lists. Sequences are padded with: ``token_ids`` the
                pad id, ``attention_mask`` 0, ``token_type_ids`` ``pad_token_type_id``, ``labels`` ``label_pad_id``,
                ``word_ids`` None, others 0. Scalar keys (a class label) and ``skip_keys`` are only collected.
            padding: ``longest``, ``max_length`` (to ``max_length``, default the config's) or False.
            pad_to_multiple_of: round the length up (default the config's). return_tensors: ``pt`` or None/``list``.

        Returns:
            The batch: key -> rows (tensors with ``pt``, on ``device``).

        Raises:
            ValueError: an example is longer than ``max_length``, or ``max_length`` padding has no length.
        """
        rows = [dict(r) for r in inputs] if not isinstance(inputs, Mapping) else \
            [dict(zip(inputs, values)) for values in zip(*inputs.values())]
        if not rows:
            raise ValueError("pad_encoded_batch got an empty batch.")
        columns = {k: [_plain(r[k]) for r in rows] for k in rows[0]}
        max_length = max_length if max_length is not None else self.config.setting("max_length")
        columns = self._pad_columns(columns, padding, max_length, pad_to_multiple_of, skip_keys, label_pad_id)
        return self._convert(columns, return_tensors, device, skip=tuple(skip_keys))

    def _pad_columns(self, columns: dict, padding, max_length, multiple, skip_keys=(), label_pad_id=-100) -> dict:
        target = self._target_length(columns[self.token_ids_name], padding, max_length, multiple)
        if target is None:
            return columns
        if self.pad_token_id is None:
            raise ValueError("This tokenizer has no pad token; set `pad_token` in its config to pad.")
        pad_values = {self.token_ids_name: self.pad_token_id, "attention_mask": 0, "special_tokens_mask": 1,
                      "token_type_ids": self.config.pad_token_type_id or 0, "labels": label_pad_id, "word_ids": None}
        left = self.config.setting("padding_side") == "left"
        padded = {}
        for key, values in columns.items():
            if key in skip_keys or not all(isinstance(v, list) for v in values):
                padded[key] = values
                continue
            if any(len(v) > target for v in values):
                raise ValueError(f"`{key}` has a row of {max(map(len, values))} items, longer than the padded length "
                                 f"{target}; tokenize with truncation=True and max_length={target}.")
            pads = [[pad_values.get(key, 0)] * (target - len(v)) for v in values]
            padded[key] = [p + v if left else v + p for v, p in zip(values, pads)]
        return padded

    def _target_length(self, token_rows, padding, max_length, multiple) -> int | None:
        if padding in (None, *_NO_PADDING):
            return None
        if padding == "max_length":
            if max_length is None:
                raise ValueError("padding='max_length' needs a max_length (argument or config).")
            target = max_length
        elif padding in (True, "longest"):
            target = max(len(r) for r in token_rows)
        else:
            raise ValueError(f"padding={padding!r} is not valid; use 'longest', 'max_length', True or False")
        multiple = multiple if multiple is not None else self.config.setting("pad_to_multiple_of")
        return -(-target // multiple) * multiple if multiple else target

    def _convert(self, outputs: dict, return_tensors, device, skip: tuple = ()) -> dict[str, Any]:
        if return_tensors in (None, "list"):
            return outputs
        if return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r} is not supported; use None, 'list' or 'pt'")
        converted = {}
        for key, rows in outputs.items():
            if key in self.uncastable_keys or key in skip or _holds_none_or_str(rows):
                converted[key] = rows
                continue
            if rows and isinstance(rows[0], list) and len({len(r) for r in rows}) > 1:
                raise ValueError(f"Cannot make a tensor of `{key}`: rows have different lengths "
                                 f"{sorted({len(r) for r in rows})}; pass padding='longest' or 'max_length'.")
            converted[key] = torch.tensor(rows, device=device)
        return converted

    def save(self, path: str | os.PathLike, subfolder: str | None = None) -> str:
        """Write ``tokenizer_config.yaml`` and ``tokenizer.json`` into ``path/<subfolder>`` (default: preprocessor).

        Returns:
            The folder written to.
        """
        folder = super().save(path, subfolder=subfolder)
        self._tokenizer.save(os.path.join(folder, self.tokenizer_filename))
        return folder

    @classmethod
    def _load_from_folder(cls, folder: str, **kwargs) -> "Tokenizer":
        """Build the tokenizer from ``tokenizer_config.yaml`` + ``tokenizer.json`` in ``folder``.

        Raises:
            HubError: ``tokenizer.json`` is missing. ConfigError: the config is invalid.
        """
        tokenizer_file = os.path.join(folder, cls.tokenizer_filename)
        if not os.path.isfile(tokenizer_file):
            raise HubError(f"`{tokenizer_file}` does not exist; a tokenizer folder needs `{cls.tokenizer_filename}` "
                           f"next to `{cls.config_filename}`.")
        config = cls._config_class().load(os.path.join(folder, cls.config_filename), **kwargs)
        return cls(config, tokenizer_file=tokenizer_file)


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else list(value) if isinstance(value, tuple) else value


def _holds_none_or_str(rows: list) -> bool:
    flat = [x for r in rows for x in (r if isinstance(r, list) else [r])]
    return any(x is None or isinstance(x, str) for x in flat)


def _as_batch(inputs: Any, pair: Any, is_split_into_words: bool) -> list:
    """Normalise ``inputs`` (+ ``pair``) to the list ``encode_batch`` takes: texts, word lists, or 2-tuples of them."""
    single = isinstance(inputs, str) or (is_split_into_words and _is_word_list(inputs)) \
        or (isinstance(inputs, tuple) and len(inputs) == 2 and not is_split_into_words)
    batch = [inputs] if single else list(inputs) if isinstance(inputs, (list, tuple)) else None
    if not batch:
        raise ValueError(f"Expected a text, a list of texts or (with is_split_into_words) word lists; got {inputs!r}")
    if pair is not None:
        pairs = [pair] if single else list(pair)
        if len(pairs) != len(batch):
            raise ValueError(f"`pair` has {len(pairs)} entries but there are {len(batch)} inputs; give one per input.")
        batch = list(zip(batch, pairs))
    if is_split_into_words:
        return [tuple(list(p) for p in x) if isinstance(x, tuple) else list(x) for x in batch]
    return [tuple(x) if isinstance(x, (tuple, list)) else x for x in batch]


def _is_word_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(w, str) for w in value)
