"""Read CoNLL-style files: one ``token<sep>tag[<sep>more columns]`` line per word, a blank line between sentences."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import DataError

__all__ = ["ConllSentences", "read_conll"]


@dataclass
class ConllSentences:
    """The sentences of one CoNLL file.

    Attributes:
        tokens: one word list per sentence.
        tags: one tag list per sentence (same lengths as ``tokens``).
        first_lines: 1-based line number where each sentence starts (for error messages).
        source: the file path.
    """

    tokens: list[list[str]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    first_lines: list[int] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.tokens)


def read_conll(path: str | os.PathLike, tag_column: int = 1, separator: str | None = "\t",
               token_column: int = 0) -> ConllSentences:
    """Read a CoNLL file (UTF-8; ``\\n`` or ``\\r\\n`` line ends; trailing blank lines or none are both fine).

    Lines starting with ``#`` before a sentence (CoNLL-U comments) and repeated blank lines are skipped.

    Args:
        path: the file.
        tag_column: 0-based column of the tag (ParsTwiNER: 1; UD PerDT ``FORM UPOS XPOS``: 1 = UPOS, 2 = XPOS).
        separator: column separator; None splits on any run of whitespace (CoNLL-2003 style).
        token_column: 0-based column of the word.

    Returns:
        The sentences, in file order.

    Raises:
        DataError: a line has too few columns or an empty token (naming the file and line), or the file has no sentence.
    """
    path = os.fspath(path)
    result = ConllSentences(source=path)
    words, tags, start = [], [], 0
    needed = max(tag_column, token_column) + 1
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if words:
                    _append(result, words, tags, start)
                    words, tags = [], []
                continue
            if not words and line.startswith("#"):
                continue
            columns = line.split(separator) if separator is not None else line.split()
            if len(columns) < needed or not columns[token_column].strip():
                shown = "TAB" if separator == "\t" else repr(separator) if separator else "whitespace"
                raise DataError(
                    f"`{path}` line {number}: {line!r} does not have a token in column {token_column} and a tag in "
                    f"column {tag_column} (separator {shown}). Fix the line, or set the dataset config's "
                    "conll_separator / tag_column to match the file."
                )
            if not words:
                start = number
            words.append(columns[token_column].strip())
            tags.append(columns[tag_column].strip())
    if words:
        _append(result, words, tags, start)
    if not result.tokens:
        raise DataError(f"`{path}` holds no sentence (expected `token<TAB>tag` lines, sentences split by blank lines).")
    return result


def _append(result: ConllSentences, words: list[str], tags: list[str], start: int) -> None:
    result.tokens.append(words)
    result.tags.append(tags)
    result.first_lines.append(start)
