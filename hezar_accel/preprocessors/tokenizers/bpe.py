"""Byte-level BPE (GPT-2 style) with Hezar's name and config keys, trainable from an iterator of texts.

Byte-level means every string is representable (no unknown tokens) and decoding gives back the exact text, Persian
letters, ZWNJ (U+200C) and emoji included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from ...registry import register_preprocessor
from .tokenizer import Tokenizer, TrainableTokenizerConfig

__all__ = ["BPEConfig", "BPETokenizer", "encode_prompts"]


@dataclass
class BPEConfig(TrainableTokenizerConfig):
    """Config of :class:`BPETokenizer`: Hezar's ``BPEConfig`` keys and defaults.

    Args:
        bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token, additional_special_tokens: the
            special tokens; a trained vocabulary gives them ids 0.. in :meth:`special_token_list` order
            (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ``<sep>`` 4, ``<cls>`` 5, ``<mask>`` 6 by default).
        dropout: BPE dropout (training-time merge skipping); None = off.
        continuing_subword_prefix / end_of_word_suffix / fuse_unk: ``tokenizers.models.BPE`` options.
        vocab_size, min_frequency, limit_alphabet, initial_alphabet, show_progress: ``BpeTrainer`` settings (the 256
            byte symbols are always in the alphabet).
        add_prefix_space: treat the first word like the others (a leading space), as GPT-2's ``add_prefix_space``.
        (Other fields: see :class:`TrainableTokenizerConfig`.)
    """

    name: str = "bpe_tokenizer"
    bos_token: str | None = "<s>"
    eos_token: str | None = "</s>"
    unk_token: str | None = "<unk>"
    sep_token: str | None = "<sep>"
    pad_token: str | None = "<pad>"
    cls_token: str | None = "<cls>"
    mask_token: str | None = "<mask>"
    dropout: float | None = None
    continuing_subword_prefix: str | None = ""
    end_of_word_suffix: str | None = ""
    fuse_unk: bool = False
    vocab_size: int = 30000
    min_frequency: int = 2
    limit_alphabet: int = 1000
    initial_alphabet: list = field(default_factory=list)
    show_progress: bool = False
    add_prefix_space: bool = False

    def validate(self) -> list[str]:
        """Every problem with the config; a byte-level vocabulary needs room for 256 bytes plus the special tokens."""
        problems = super().validate()
        counted = len(self.specials_within_vocab_size())
        if isinstance(self.vocab_size, int) and self.vocab_size <= 256 + counted:
            problems.append(f"vocab_size: {self.vocab_size} leaves no room for merges; a byte-level BPE needs more "
                            f"than 256 + {counted} (bytes + special tokens)")
        if isinstance(self.min_frequency, int) and self.min_frequency < 1:
            problems.append(f"min_frequency: {self.min_frequency} must be a positive integer")
        if isinstance(self.dropout, (int, float)) and not 0 <= self.dropout < 1:
            problems.append(f"dropout: {self.dropout} must be in [0, 1) or null")
        return problems

    def specials_within_vocab_size(self) -> list[str]:
        """The special tokens that ``vocab_size`` counts (all of them here: a trained vocabulary starts with them)."""
        return self.special_token_list()

    def special_token_list(self) -> list[str]:
        """Special tokens in id order: bos, pad, eos, unk, sep, cls, mask, then additional ones."""
        names = ("bos_token", "pad_token", "eos_token", "unk_token", "sep_token", "cls_token", "mask_token")
        return self.ordered_special_tokens(names)


@register_preprocessor("bpe_tokenizer", BPEConfig)
class BPETokenizer(Tokenizer):
    """A byte-level BPE tokenizer (GPT-2 style): no normalization, byte-level pre-tokenization and decoding, no
    special tokens added around texts (``add_special_tokens`` has no effect).

    Args:
        config: the tokenizer config.
        tokenizer: a ready backend; else ``tokenizer_file`` is read; else an untrained one (special tokens only)
            is built — use :meth:`train` to learn merges.
        tokenizer_file: path to a ``tokenizer.json``.
    """

    def build(self) -> HFTokenizer:
        """An untrained backend whose vocabulary holds only the special tokens."""
        config = self.config
        specials = config.special_token_list()
        options = {"dropout": config.dropout, "unk_token": config.setting("unk_token"),
                   "continuing_subword_prefix": config.continuing_subword_prefix or None,
                   "end_of_word_suffix": config.end_of_word_suffix or None}
        # The backend rejects explicit None for its optional string settings: pass only those that are set.
        model = models.BPE(vocab={t: i for i, t in enumerate(specials)}, merges=[], fuse_unk=config.fuse_unk,
                           **{k: v for k, v in options.items() if v is not None})
        backend = HFTokenizer(model)
        backend.add_special_tokens(specials)
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=config.add_prefix_space)
        backend.decoder = decoders.ByteLevel()
        backend.post_processor = processors.ByteLevel(trim_offsets=False)
        return backend

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 30000, min_frequency: int = 2,
              **config_overrides) -> "BPETokenizer":
        """Learn byte-level BPE merges from texts (any iterable; no files needed).

        Args:
            texts: training texts (or batches of texts).
            vocab_size: largest vocabulary size, the 256 bytes and the special tokens included.
            min_frequency: least count for a merge to be learnt.
            **config_overrides: other :class:`BPEConfig` fields (e.g. ``max_length``, ``eos_token``).

        Returns:
            The trained tokenizer (special tokens first, in :meth:`BPEConfig.special_token_list` order).

        Raises:
            ConfigError: an unknown or invalid config field.
        """
        config = BPEConfig.from_dict({"vocab_size": vocab_size, "min_frequency": min_frequency, **config_overrides})
        tokenizer = cls(config)
        alphabet = sorted(set(pre_tokenizers.ByteLevel.alphabet()) | set(config.initial_alphabet))
        trainer = trainers.BpeTrainer(
            vocab_size=config.vocab_size, min_frequency=config.min_frequency, show_progress=config.show_progress,
            special_tokens=config.special_token_list(), initial_alphabet=alphabet,
            limit_alphabet=max(config.limit_alphabet, len(alphabet)),
        )
        tokenizer.backend.train_from_iterator(iter(texts), trainer=trainer)
        return tokenizer


def encode_prompts(tokenizer: Tokenizer, prompts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
    """Token ids of prompts as the text generation models and datasets here frame them: the prompt's tokens (no
    special tokens), truncated to leave room, then the tokenizer's ``sep_token`` when it has one.

    The separator tells a decoder-only model where the prompt ends and the answer starts; training data
    (``TextGenerationDataset``) and ``predict`` both use this function so the two framings never differ.

    Args:
        tokenizer: any :class:`Tokenizer`.
        prompts: the prompt texts.
        max_length: most ids per prompt, separator included; None = no limit.

    Returns:
        One id list per prompt.
    """
    sep = tokenizer.config.setting("sep_token")
    sep_id = tokenizer.token_to_id(sep) if sep else None
    suffix = [sep_id] if sep_id is not None else []
    limit = None if max_length is None else max(max_length - len(suffix), 1)
    encoded = tokenizer([str(p) for p in prompts], add_special_tokens=False, padding=False, truncation=False,
                        return_attention_mask=False, return_token_type_ids=False)["token_ids"]
    return [(ids[:limit] if limit is not None else ids) + suffix for ids in encoded]
