"""BERT's WordPiece tokenizer for Persian (and any other language), trainable from an iterator of texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import Tokenizer as HFTokenizer

from ...registry import register_preprocessor
from .tokenizer import Tokenizer, TrainableTokenizerConfig, clean_text_normalizers

__all__ = ["WordPieceConfig", "WordPieceTokenizer"]


@dataclass
class WordPieceConfig(TrainableTokenizerConfig):
    """Config of :class:`WordPieceTokenizer`: Hezar's keys and defaults, plus ``lowercase``.

    Args:
        wordpieces_prefix: continuation prefix of sub-word pieces.
        vocab_size, min_frequency, limit_alphabet, initial_alphabet, show_progress: ``WordPieceTrainer`` settings.
        lowercase: lowercase while normalising (off: Persian has no case, and Latin words keep theirs).
        (Other fields: see :class:`TrainableTokenizerConfig`.)
    """

    name: str = "wordpiece_tokenizer"
    pad_token: str | None = "[PAD]"
    unk_token: str | None = "[UNK]"
    sep_token: str | None = "[SEP]"
    cls_token: str | None = "[CLS]"
    mask_token: str | None = "[MASK]"
    wordpieces_prefix: str = "##"
    vocab_size: int = 30000
    min_frequency: int = 2
    limit_alphabet: int = 1000
    initial_alphabet: list = field(default_factory=list)
    show_progress: bool = False
    lowercase: bool = False

    def validate(self) -> list[str]:
        """Every problem with the config; the pad, unk, cls and sep tokens are required."""
        problems = super().validate()
        for name in ("pad_token", "unk_token", "cls_token", "sep_token"):
            if not self.setting(name):
                problems.append(f"{name}: is required by a WordPiece (BERT) tokenizer, e.g. '[{name[:3].upper()}]'")
        for name in ("vocab_size", "min_frequency"):
            value = getattr(self, name)
            if isinstance(value, int) and value < 1:
                problems.append(f"{name}: {value} must be a positive integer")
        return problems

    def special_token_list(self) -> list[str]:
        """Special tokens in id order: [PAD]=0, [UNK], [CLS], [SEP], [MASK], then additional ones."""
        names = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")
        return self.ordered_special_tokens(names)


@register_preprocessor("wordpiece_tokenizer", WordPieceConfig)
class WordPieceTokenizer(Tokenizer):
    """A BERT WordPiece tokenizer: NFKC normalisation, whitespace + punctuation splitting, ``##`` sub-words and
    ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]`` framing (``token_type_ids`` 1 on B).

    Args:
        config: the tokenizer config.
        tokenizer: a ready backend; else ``tokenizer_file`` is read; else an untrained one (special tokens only)
            is built — use :meth:`train` to learn a vocabulary.
        tokenizer_file: path to a ``tokenizer.json``.
    """

    def build(self) -> HFTokenizer:
        """An untrained backend whose vocabulary holds only the special tokens."""
        config = self.config
        specials = config.special_token_list()
        model = models.WordPiece(vocab={t: i for i, t in enumerate(specials)}, unk_token=config.setting("unk_token"),
                                 continuing_subword_prefix=config.wordpieces_prefix)
        backend = HFTokenizer(model)
        backend.add_special_tokens(specials)
        lowercase = [normalizers.Lowercase()] if config.lowercase else []
        backend.normalizer = normalizers.Sequence(clean_text_normalizers() + lowercase)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece(prefix=config.wordpieces_prefix)
        self._set_post_processor(backend)
        return backend

    def _set_post_processor(self, backend: HFTokenizer) -> None:
        cls_token, sep_token = self.config.setting("cls_token"), self.config.setting("sep_token")
        backend.post_processor = processors.BertProcessing(
            (sep_token, backend.token_to_id(sep_token)), (cls_token, backend.token_to_id(cls_token))
        )

    @classmethod
    def from_vocab(cls, tokens: Iterable[str], **config_overrides) -> "WordPieceTokenizer":
        """Build a tokenizer from a given token list (special tokens first, then ``tokens`` in order; ids follow).

        Unlike :meth:`train` (🤗 tokenizers breaks frequency ties differently from run to run), the result is
        fully reproducible.

        Raises:
            ConfigError: an unknown or invalid config field.
        """
        config = WordPieceConfig.from_dict(config_overrides)
        tokenizer = cls(config)
        vocab = {t: i for i, t in enumerate(config.special_token_list())}
        for token in tokens:
            vocab.setdefault(token, len(vocab))
        backend = tokenizer.backend
        backend.model = models.WordPiece(vocab=vocab, unk_token=config.setting("unk_token"),
                                         continuing_subword_prefix=config.wordpieces_prefix)
        tokenizer._set_post_processor(backend)
        return tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 30000, min_frequency: int = 2,
              **config_overrides) -> "WordPieceTokenizer":
        """Learn a WordPiece vocabulary from texts (any iterable; no files needed).

        Args:
            texts: training texts (or batches of texts).
            vocab_size: largest vocabulary size, special tokens included.
            min_frequency: least count for a merge to be learnt.
            **config_overrides: other :class:`WordPieceConfig` fields (e.g. ``max_length``, ``lowercase``).

        Returns:
            The trained tokenizer (special tokens get ids 0..4: [PAD], [UNK], [CLS], [SEP], [MASK]).

        Raises:
            ConfigError: an unknown or invalid config field.
        """
        config = WordPieceConfig.from_dict({"vocab_size": vocab_size, "min_frequency": min_frequency,
                                            **config_overrides})
        tokenizer = cls(config)
        trainer = trainers.WordPieceTrainer(
            vocab_size=config.vocab_size, min_frequency=config.min_frequency, limit_alphabet=config.limit_alphabet,
            initial_alphabet=list(config.initial_alphabet), special_tokens=config.special_token_list(),
            show_progress=config.show_progress, continuing_subword_prefix=config.wordpieces_prefix,
        )
        tokenizer.backend.train_from_iterator(iter(texts), trainer=trainer)
        # Training replaces the vocabulary; re-read the [CLS]/[SEP] ids rather than assume they kept theirs.
        tokenizer._set_post_processor(tokenizer.backend)
        return tokenizer
