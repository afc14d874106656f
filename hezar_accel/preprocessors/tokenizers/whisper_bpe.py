"""Whisper's byte-level BPE tokenizer with Hezar's name (``whisper_bpe_tokenizer``) and config keys.

The vocabulary is laid out as Whisper's: the text tokens first, then ``<|endoftext|>``, ``<|startoftranscript|>``,
one ``<|xx|>`` token per language, ``<|translate|>``, ``<|transcribe|>``, ``<|startoflm|>``, ``<|startofprev|>``,
``<|nocaptions|>`` and ``<|notimestamps|>`` last. 🤗's Whisper ``generate`` reads every id above ``<|notimestamps|>`` as
a timestamp, so a vocabulary trained here ends there. A transcript is decoded behind the decoder prompt
``<|startoftranscript|> <|language|> <|task|> <|notimestamps|>`` (:meth:`WhisperBPETokenizer.decoder_prompt_ids`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from ...registry import register_preprocessor
from .bpe import BPEConfig, BPETokenizer
from .whisper_languages import LANGUAGES, SPECIAL_TOKENS, TO_LANGUAGE_CODE

__all__ = ["WhisperBPEConfig", "WhisperBPETokenizer", "language_token", "TASKS"]

TASKS = ("transcribe", "translate")
_START = "<|startoftranscript|>"


def language_token(language: str) -> str:
    """``<|xx|>`` for a language code (``fa``), name (``persian``) or token (``<|fa|>``), case-insensitive.

    Raises:
        ValueError: an unknown language, with the valid codes.
    """
    key = language.lower()
    if key.startswith("<|") and key.endswith("|>") and key[2:-2] in LANGUAGES:
        return key
    code = TO_LANGUAGE_CODE.get(key, key)
    if code not in LANGUAGES:
        raise ValueError(f"language: unknown Whisper language {language!r}; use a code such as 'fa' or a name such as "
                         f"'persian' (codes: {', '.join(LANGUAGES)})")
    return f"<|{code}|>"


@dataclass
class WhisperBPEConfig(BPEConfig):
    """Config of :class:`WhisperBPETokenizer`: Hezar's ``WhisperBPEConfig`` keys and defaults.

    Args:
        pad_token, unk_token, bos_token, eos_token: all ``<|endoftext|>``, as in Whisper.
        translate_token, transcribe_token, notimestamps_token: the task and no-timestamps tokens.
        additional_special_tokens: Whisper's special tokens in id order (they follow the text tokens).
        language: the transcripts' language (code or name) put in the decoder prompt; None = no language token.
        task: ``transcribe`` or ``translate`` for the decoder prompt; None = no task token.
        predict_timestamps: leave ``<|notimestamps|>`` out of the prompt. Only false is supported for training here.
        add_bos_token, model_max_length: kept for Hezar; no effect here.
        vocab_size: size of the text vocabulary that :meth:`WhisperBPETokenizer.train` learns (the 256 bytes
            included); the special tokens come on top of it.
        (Other fields: see :class:`BPEConfig`; sep/cls/mask tokens are unused by Whisper and off.)
    """

    name: str = "whisper_bpe_tokenizer"
    pad_token: str | None = "<|endoftext|>"
    unk_token: str | None = "<|endoftext|>"
    bos_token: str | None = "<|endoftext|>"
    eos_token: str | None = "<|endoftext|>"
    sep_token: str | None = None
    cls_token: str | None = None
    mask_token: str | None = None
    translate_token: str = "<|translate|>"
    transcribe_token: str = "<|transcribe|>"
    notimestamps_token: str = "<|notimestamps|>"
    additional_special_tokens: list[str] | None = field(default_factory=lambda: list(SPECIAL_TOKENS))
    add_prefix_space: bool = False
    add_bos_token: bool = False
    model_max_length: int = 1024
    language: str | None = None
    task: str | None = None
    predict_timestamps: bool | str = False

    def validate(self) -> list[str]:
        problems = super().validate()
        if isinstance(self.language, str):
            try:
                language_token(self.language)
            except ValueError as e:
                problems.append(str(e))
        if self.task is not None and self.task not in TASKS:
            problems.append(f"task: {self.task!r}; use one of {TASKS} or null")
        return problems

    def specials_within_vocab_size(self) -> list[str]:
        """None: Whisper's special tokens are appended after the learnt text vocabulary."""
        return []


@register_preprocessor("whisper_bpe_tokenizer", WhisperBPEConfig)
class WhisperBPETokenizer(BPETokenizer):
    """A Whisper tokenizer: byte-level BPE text tokens followed by Whisper's special tokens.

    Args:
        config: the tokenizer config.
        tokenizer: a ready backend; else ``tokenizer_file`` is read; else an untrained one (special tokens only).
        tokenizer_file: path to a ``tokenizer.json``.
    """

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 30000, min_frequency: int = 2,
              **config_overrides) -> "WhisperBPETokenizer":
        """Learn byte-level BPE merges from texts, then append Whisper's special tokens after them.

        Args:
            texts: training texts (or batches of texts).
            vocab_size: size of the text vocabulary (the 256 bytes included), special tokens not counted.
            min_frequency: least count for a merge to be learnt.
            **config_overrides: other :class:`WhisperBPEConfig` fields (e.g. ``language="fa"``,
                ``task="transcribe"``).

        Returns:
            The trained tokenizer.

        Raises:
            ConfigError: an unknown or invalid config field.
        """
        config = WhisperBPEConfig.from_dict({"vocab_size": vocab_size, "min_frequency": min_frequency,
                                             **config_overrides})
        backend = HFTokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=config.add_prefix_space)
        backend.decoder = decoders.ByteLevel()
        backend.post_processor = processors.ByteLevel(trim_offsets=False)
        alphabet = sorted(set(pre_tokenizers.ByteLevel.alphabet()) | set(config.initial_alphabet))
        trainer = trainers.BpeTrainer(vocab_size=config.vocab_size, min_frequency=config.min_frequency,
                                      show_progress=config.show_progress, special_tokens=[],
                                      initial_alphabet=alphabet, limit_alphabet=max(config.limit_alphabet, len(alphabet)))
        backend.train_from_iterator(iter(texts), trainer=trainer)
        backend.add_special_tokens(config.special_token_list())
        return cls(config, tokenizer=backend)

    def _required_id(self, token: str, what: str) -> int:
        token_id = self.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{what}: `{token}` is not in this tokenizer's vocabulary; a Whisper tokenizer needs it.")
        return token_id

    def decoder_prompt_ids(self, language: str | None = None, task: str | None = None,
                           predict_timestamps: bool | None = None) -> list[int]:
        """Whisper's decoder prompt: ``<|startoftranscript|>``, the language token, the task token and
        ``<|notimestamps|>`` (each optional part left out when unset).

        Args:
            language / task / predict_timestamps: None = the config's.

        Returns:
            The prompt's ids.

        Raises:
            ValueError: an unknown language or task, or a prompt token missing from the vocabulary.
        """
        c = self.config
        language = c.language if language is None else language
        task = c.task if task is None else task
        predict_timestamps = c.predict_timestamps if predict_timestamps is None else predict_timestamps
        ids = [self._required_id(_START, "decoder prompt")]
        if language is not None:
            ids.append(self._required_id(language_token(language), "language"))
        if task is not None:
            if task not in TASKS:
                raise ValueError(f"task: {task!r}; use one of {TASKS}")
            ids.append(self._required_id(c.transcribe_token if task == "transcribe" else c.translate_token, "task"))
        if not predict_timestamps:
            ids.append(self._required_id(c.notimestamps_token, "notimestamps_token"))
        return ids

    def generation_settings(self) -> dict:
        """Hezar's ``generation_config`` block for a Whisper model using this tokenizer: its special ids, every
        language token it has (``lang_to_id``), the task ids, the config's language and task, and the
        ``begin_suppress_tokens`` Whisper uses (a lone space and EOS may not start a transcript).

        Raises:
            ValueError: a prompt token is missing from the vocabulary.
        """
        c = self.config
        eos = self._required_id(c.eos_token, "eos_token")
        space = self.token_to_id("Ġ")  # byte-level BPE's token for a lone space
        languages = {f"<|{code}|>": self.token_to_id(f"<|{code}|>") for code in LANGUAGES}
        return {
            "begin_suppress_tokens": [t for t in (space, eos) if t is not None],
            "bos_token_id": self._required_id(c.bos_token, "bos_token"),
            "decoder_start_token_id": self._required_id(_START, "decoder start"),
            "eos_token_id": eos,
            "task": c.task or "transcribe",
            "language": c.language,
            "lang_to_id": {token: i for token, i in languages.items() if i is not None},
            "no_timestamps_token_id": self._required_id(c.notimestamps_token, "notimestamps_token"),
            "pad_token_id": self._required_id(c.pad_token, "pad_token"),
            "prev_sot_token_id": self._required_id("<|startofprev|>", "prev_sot_token"),
            "task_to_id": {"transcribe": self._required_id(c.transcribe_token, "transcribe_token"),
                           "translate": self._required_id(c.translate_token, "translate_token")},
        }
