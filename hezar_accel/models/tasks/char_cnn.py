"""A character CNN over each token's word, for taggers: what a word looks like, beside what its sub-words mean;
and word dropout, which teaches a tagger to use it.

Off by default (``char_cnn_filters: null``): a config without it is Hezar's, and its saved folder is unchanged (the
fields are None and :meth:`Config.saved_dict` leaves them out). On, the tagger's classifier reads
``[encoder output; char features]``, so it sees the affixes of a word the sub-word vocabulary splits badly
(see :mod:`hezar_accel.preprocessors.word_chars` for the ``word_chars`` input).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...configs import ModelConfig

__all__ = ["CharCNNConfig", "CharCNN", "drop_words", "DEFAULT_KERNEL_SIZES", "DEFAULT_CHAR_EMBEDDING_DIM",
           "DEFAULT_CHAR_BUCKETS"]

DEFAULT_KERNEL_SIZES = (2, 3, 4)
DEFAULT_CHAR_EMBEDDING_DIM = 32
# Code points are hashed into this many rows (+1 for padding): Persian (U+0600-06FF), ASCII, ZWNJ and digits land
# in distinct rows; rare scripts may share one, which costs nothing measurable.
DEFAULT_CHAR_BUCKETS = 1024


@dataclass
class CharCNNConfig(ModelConfig):
    """Fields of the optional character CNN (a mixin for tagger configs; every field None = off).

    Args:
        char_cnn_filters: output channels per kernel width; the char features have ``filters * len(kernel sizes)``
            values per token. None = no character CNN (Hezar's model).
        char_cnn_kernel_sizes: widths of the convolutions, in characters. None = (2, 3, 4).
        char_embedding_dim: size of a character's embedding. None = 32.
        char_buckets: rows of the character table; a code point ``c`` uses row ``c % char_buckets + 1`` (0 is
            padding). None = 1024.
        max_word_chars: characters per word in ``word_chars`` (filled from the dataset's ``max_word_chars`` by the
            recipe); ``preprocess`` builds rows of this length. Required with ``char_cnn_filters``.
        word_dropout: in training only, the probability that a token's id is replaced by the padding id (whose
            embedding is zero), so the tagger learns to tag a word from its characters and its context, as it must
            for a word it never saw (about one word in five of a held-out treebank split). None or 0 = off.
    """

    char_cnn_filters: int | None = None
    char_cnn_kernel_sizes: list | None = None
    char_embedding_dim: int | None = None
    char_buckets: int | None = None
    max_word_chars: int | None = None
    word_dropout: float | None = None

    @property
    def uses_word_chars(self) -> bool:
        """Whether the model has a character CNN (and so needs ``word_chars``)."""
        return self.char_cnn_filters is not None

    def validate(self) -> list[str]:
        """The other bases' problems, then the character CNN's."""
        problems = super().validate()
        for name in ("char_cnn_filters", "char_embedding_dim", "char_buckets", "max_word_chars"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                problems.append(f"{name}: {value} must be a positive integer, or null")
        dropout = self.word_dropout
        if isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and not 0 <= dropout < 1:
            problems.append(f"word_dropout: {dropout} must be a probability in [0, 1), or null (off)")
        sizes = self.char_cnn_kernel_sizes
        if sizes is not None and (not sizes or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                                                       for k in sizes)):
            problems.append(f"char_cnn_kernel_sizes: {sizes!r} must be a non-empty list of positive integers "
                            f"(character widths), or null for {list(DEFAULT_KERNEL_SIZES)}")
        if self.char_cnn_filters is not None and self.max_word_chars is None:
            problems.append("max_word_chars: required with char_cnn_filters (the characters kept per word); set it to "
                            "the dataset's max_word_chars (a recipe copies it from the dataset section)")
        return problems


class CharCNN(nn.Module):
    """Character embeddings, one convolution per kernel width, ReLU and max over the characters.

    Args:
        config: a :class:`CharCNNConfig` with ``char_cnn_filters`` set.
    """

    def __init__(self, config: CharCNNConfig):
        super().__init__()
        self.buckets = config.char_buckets or DEFAULT_CHAR_BUCKETS
        dim = config.char_embedding_dim or DEFAULT_CHAR_EMBEDDING_DIM
        sizes = tuple(config.char_cnn_kernel_sizes or DEFAULT_KERNEL_SIZES)
        self.embeddings = nn.Embedding(self.buckets + 1, dim, padding_idx=0)
        # padding = width - 1: a word shorter than a kernel still gets every feature.
        self.convs = nn.ModuleList(nn.Conv1d(dim, config.char_cnn_filters, k, padding=k - 1) for k in sizes)
        self.output_size = config.char_cnn_filters * len(sizes)

    def forward(self, word_chars: torch.Tensor) -> torch.Tensor:
        """Features of each token's word.

        Each distinct row (word) of the batch is convolved once: the sub-tokens of a word, its repeats and the
        padding rows share their result (about half the work on Persian tweets).

        Args:
            word_chars: ``(batch, seq_len, chars)`` code points, 0 = padding.

        Returns:
            ``(batch, seq_len, output_size)`` features.
        """
        batch, seq_len, chars = word_chars.shape
        rows, inverse = torch.unique(word_chars.reshape(-1, chars), dim=0, return_inverse=True)
        ids = torch.where(rows > 0, rows % self.buckets + 1, torch.zeros_like(rows))
        embedded = self.embeddings(ids).transpose(1, 2)  # (words, dim, chars)
        features = torch.cat([torch.relu(conv(embedded)).amax(dim=-1) for conv in self.convs], dim=-1)
        return features[inverse].reshape(batch, seq_len, self.output_size)


def drop_words(token_ids: torch.Tensor, probability: float | None, pad_token_id: int, training: bool) -> torch.Tensor:
    """``token_ids`` with each id replaced by ``pad_token_id`` with ``probability`` (training only; a new tensor).

    The padding row of the embedding table is zero and never trained, so a dropped token keeps only its position
    and type embeddings (and, with a character CNN, its characters); the attention mask is left as it is.

    Args:
        token_ids: ``(batch, seq_len)``. probability: None or 0 = off. pad_token_id: the replacement.
        training: the module's ``training`` flag; nothing is dropped in evaluation.

    Returns:
        The ids to embed.
    """
    if not training or not probability:
        return token_ids
    dropped = torch.rand(token_ids.shape, device=token_ids.device) < probability
    return token_ids.masked_fill(dropped, pad_token_id)
