"""Light Persian text normalization for WER/CER scoring.

Scoring OCR and speech output against references written by different people should not count spelling variants
that a reader does not see as errors: Arabic vs Persian yeh/kaf, optional diacritics, ZWNJ vs space, and which digit
script was used.
"""

from __future__ import annotations

import re

__all__ = ["normalize_persian"]

_PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
_ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
_LATIN_DIGITS = "0123456789"

_TRANSLATION = str.maketrans(
    {
        "ي": "ی",  # U+064A Arabic yeh
        "ى": "ی",  # U+0649 Arabic alef maksura, written for yeh in many Arabic keyboards
        "ك": "ک",  # U+0643 Arabic kaf
        "\u200c": " ",  # ZWNJ: half-space and space are the same word boundary for scoring
        **{a: p for a, p in zip(_ARABIC_INDIC_DIGITS, _PERSIAN_DIGITS)},
        **{l: p for l, p in zip(_LATIN_DIGITS, _PERSIAN_DIGITS)},
    }
)
# Harakat (fathatan .. sukun), superscript alef, and tatweel: optional marks that do not change the word.
_DIACRITICS = re.compile("[\u064b-\u0652\u0670\u0640]")
_WHITESPACE = re.compile(r"\s+")


def normalize_persian(text: str) -> str:
    """Normalize Persian text so WER/CER count only real reading errors.

    Arabic yeh/kaf (``ي ى ك``) become Persian (``ی ک``); diacritics (U+064B-U+0652, U+0670) and tatweel (U+0640)
    are removed; ZWNJ (U+200C) becomes a space; Arabic-Indic and Latin digits become Persian digits; runs of
    whitespace collapse to one space and the ends are stripped.

    Args:
        text: the text to normalize.

    Returns:
        The normalized text.
    """
    text = _DIACRITICS.sub("", text.translate(_TRANSLATION))
    return _WHITESPACE.sub(" ", text).strip()
