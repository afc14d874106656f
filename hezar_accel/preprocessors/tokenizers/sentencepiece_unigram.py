"""SentencePiece-style Unigram tokenizer (T5's kind) over 🤗 tokenizers' ``Unigram`` model, with Hezar's name
(``sentencepiece_unigram_tokenizer``) and config keys, trainable from an iterator of texts.

Whitespace becomes the ``replacement`` symbol glued to the next word (``▁word``), so decoding restores the spaces;
every text ends with ``</s>`` (the T5 framing), which an encoder-decoder model's inputs and labels both use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import Tokenizer as HFTokenizer

from ...registry import register_preprocessor
from .tokenizer import Tokenizer, TrainableTokenizerConfig, clean_text_normalizers

__all__ = ["SentencePieceUnigramConfig", "SentencePieceUnigramTokenizer"]


@dataclass
class SentencePieceUnigramConfig(TrainableTokenizerConfig):
    """Config of :class:`SentencePieceUnigramTokenizer`: Hezar's keys.

    Args:
        pad_token, eos_token, unk_token, bos_token, sep_token, cls_token, mask_token, additional_special_tokens: the
            special tokens; a trained vocabulary gives them ids 0.. in :meth:`special_token_list` order (``<pad>`` 0,
            ``</s>`` 1, ``<unk>`` 2: T5's ids, which T5's config defaults expect).
        replacement: the word-start symbol (one character). Default ``▁`` (U+2581, SentencePiece's); Hezar's default
            ``_`` would make real underscores decode as spaces.
        add_prefix_space: give the first word the word-start symbol too (``prepend_scheme: always``).
        vocab_size, initial_alphabet, show_progress: ``UnigramTrainer`` settings; vocab_size counts every token.
        dropout, continuing_subword_prefix, end_of_word_suffix, fuse_unk, min_frequency, limit_alphabet: Hezar keys
            that a Unigram model does not use; kept so Hezar's configs load.
        (Other fields: see :class:`TrainableTokenizerConfig`.)
    """

    name: str = "sentencepiece_unigram_tokenizer"
    bos_token: str | None = "<s>"
    eos_token: str | None = "</s>"
    unk_token: str | None = "<unk>"
    sep_token: str | None = "<sep>"
    pad_token: str | None = "<pad>"
    cls_token: str | None = "<cls>"
    mask_token: str | None = "<mask>"
    dropout: float | None = None
    continuing_subword_prefix: str | None = ""
    replacement: str = "▁"
    add_prefix_space: bool = True
    end_of_word_suffix: str | None = ""
    fuse_unk: bool = False
    vocab_size: int = 8000
    min_frequency: int = 2
    limit_alphabet: int = 1000
    initial_alphabet: list = field(default_factory=list)
    show_progress: bool = False

    def validate(self) -> list[str]:
        """Every problem with the config; ``replacement`` must be one character and ``unk_token`` is required."""
        problems = super().validate()
        if isinstance(self.replacement, str) and len(self.replacement) != 1:
            problems.append(f"replacement: {self.replacement!r} must be exactly one character (e.g. '▁')")
        if not self.setting("unk_token"):
            problems.append("unk_token: a Unigram tokenizer needs one for characters it never saw, e.g. '<unk>'")
        if isinstance(self.vocab_size, int) and self.vocab_size <= len(self.special_token_list()):
            problems.append(f"vocab_size: {self.vocab_size} leaves no room beside the "
                            f"{len(self.special_token_list())} special tokens")
        return problems

    def special_token_list(self) -> list[str]:
        """Special tokens in id order: pad, eos, unk, bos, sep, cls, mask, then additional ones."""
        names = ("pad_token", "eos_token", "unk_token", "bos_token", "sep_token", "cls_token", "mask_token")
        return self.ordered_special_tokens(names)


@register_preprocessor("sentencepiece_unigram_tokenizer", SentencePieceUnigramConfig)
class SentencePieceUnigramTokenizer(Tokenizer):
    """A Unigram tokenizer: NFKC and whitespace normalisation, Metaspace word starts, ``$A </s>`` framing
    (``$A </s> $B </s>`` for pairs).

    Args:
        config: the tokenizer config.
        tokenizer: a ready backend; else ``tokenizer_file`` is read; else an untrained one (special tokens only)
            is built — use :meth:`train` to learn a vocabulary.
        tokenizer_file: path to a ``tokenizer.json``.
    """

    def build(self) -> HFTokenizer:
        """An untrained backend whose vocabulary holds only the special tokens."""
        specials = self.config.special_token_list()
        unk = self.config.setting("unk_token")
        backend = HFTokenizer(models.Unigram([(t, 0.0) for t in specials], unk_id=specials.index(unk)))
        backend.add_special_tokens(specials)
        self._set_pipeline(backend)
        return backend

    def _set_pipeline(self, backend: HFTokenizer) -> None:
        config = self.config
        scheme = "always" if config.add_prefix_space else "never"
        backend.normalizer = normalizers.Sequence(clean_text_normalizers())
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement=config.replacement, prepend_scheme=scheme)
        backend.decoder = decoders.Metaspace(replacement=config.replacement, prepend_scheme=scheme)
        eos = config.setting("eos_token")
        eos_id = backend.token_to_id(eos) if eos else None
        if eos_id is not None:
            # Re-read after training: the trainer lays the vocabulary out anew.
            backend.post_processor = processors.TemplateProcessing(
                single=f"$A {eos}", pair=f"$A {eos} $B:1 {eos}:1", special_tokens=[(eos, eos_id)])

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, **config_overrides) -> "SentencePieceUnigramTokenizer":
        """Learn a Unigram vocabulary from texts (any iterable; no files needed).

        Args:
            texts: training texts (or batches of texts).
            vocab_size: largest vocabulary size, special tokens included (a small corpus may give fewer).
            **config_overrides: other :class:`SentencePieceUnigramConfig` fields (e.g. ``max_length``).

        Returns:
            The trained tokenizer (special tokens first, in :meth:`SentencePieceUnigramConfig.special_token_list`
            order).

        Raises:
            ConfigError: an unknown or invalid config field.
        """
        config = SentencePieceUnigramConfig.from_dict({"vocab_size": vocab_size, **config_overrides})
        tokenizer = cls(config)
        trainer = trainers.UnigramTrainer(vocab_size=config.vocab_size, special_tokens=config.special_token_list(),
                                          unk_token=config.setting("unk_token"), show_progress=config.show_progress,
                                          initial_alphabet=list(config.initial_alphabet))
        tokenizer.backend.train_from_iterator(iter(texts), trainer=trainer)
        tokenizer._set_pipeline(tokenizer.backend)
        return tokenizer
