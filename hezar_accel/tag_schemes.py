"""Tag schemes of sequence labeling: is a tag set IOB2 / IOBES (entity chunks) or a plain tag set (POS)?

The answer decides what the labels can be scored with: entity precision/recall/F1 (seqeval) only make sense for
chunk tags; for a plain tag set seqeval would read ``NOUN`` as a chunk tag ``N`` of type ``OUN``, so only token
accuracy is meaningful. Pure functions, no dependencies: the dataset config, the metrics handler and the baseline
script all call them and so agree on one reading.
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["TAG_SCHEMES", "ENTITY_SCHEMES", "detect_tag_scheme", "resolve_tag_scheme", "entity_types",
           "scheme_problem"]

# `none` = plain tags (POS, chunk-free labels); the others are entity (chunk) schemes.
TAG_SCHEMES = ("iob2", "iobes", "none")
ENTITY_SCHEMES = ("iob2", "iobes")

_OUTSIDE = "O"
# Prefixes each scheme allows before `-<TYPE>`. IOB1 files (an entity may start with I-) use the same prefixes as IOB2
# and seqeval's default (lenient) reading treats a leading I- as a start, so they are read as iob2.
_PREFIXES = {"iob2": frozenset("BI"), "iobes": frozenset("BIES")}
_CHUNK_TAG = re.compile(r"^([A-Z])-(.+)$")


def detect_tag_scheme(tags: Iterable[str]) -> str:
    """The scheme a tag set is written in.

    Args:
        tags: the distinct tags (e.g. ``id2label.values()``); any iterable of strings.

    Returns:
        ``"iob2"`` when every tag is ``O`` or ``B-``/``I-`` + a type, ``"iobes"`` when ``E-``/``S-`` occur too (and
        every tag still fits), otherwise ``"none"`` (a set with no chunk tag at all is ``none`` as well).
    """
    prefixes, chunk_tags = set(), 0
    for tag in tags:
        if tag == _OUTSIDE:
            continue
        match = _CHUNK_TAG.match(str(tag))
        if match is None:
            return "none"
        prefixes.add(match.group(1))
        chunk_tags += 1
    if not chunk_tags:
        return "none"
    if prefixes <= _PREFIXES["iob2"]:
        return "iob2"
    if prefixes <= _PREFIXES["iobes"]:
        return "iobes"
    return "none"


def scheme_problem(declared: str | None, tags: Iterable[str]) -> str | None:
    """Why a declared ``tag_scheme`` cannot describe ``tags`` (None when it can, or when nothing is declared).

    ``none`` fits any tag set (an IOB set may be scored by accuracy alone); ``iob2``/``iobes`` need every tag to be
    ``O`` or ``<prefix>-<TYPE>`` with that scheme's prefixes.
    """
    if declared is None or declared == "none":
        return None
    allowed = _PREFIXES[declared]
    bad = sorted(t for t in set(tags) if t != _OUTSIDE and not ((m := _CHUNK_TAG.match(str(t))) and m.group(1) in allowed))
    if not bad:
        return None
    shown = ", ".join(f"`{t}`" for t in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    return (f"tag_scheme: `{declared}` does not fit the tags {shown} (allowed: O and "
            f"{'/'.join(sorted(allowed))}-<TYPE>); set tag_scheme: none for plain tags (POS), or null to detect it")


def resolve_tag_scheme(declared: str | None, tags: Iterable[str]) -> str:
    """The scheme to score with: ``declared`` when given (see :func:`scheme_problem`), else the detected one.

    Raises:
        ValueError: the declared scheme does not fit the tags (the message names the field and the fix).
    """
    tags = list(tags)
    problem = scheme_problem(declared, tags)
    if problem:
        raise ValueError(problem)
    return declared if declared is not None else detect_tag_scheme(tags)


def entity_types(tags: Iterable[str]) -> list[str]:
    """The sorted entity types of a chunk tag set (``B-PER``, ``I-PER`` -> ``PER``); ``O`` and plain tags have none."""
    return sorted({m.group(2) for t in tags if t != _OUTSIDE and (m := _CHUNK_TAG.match(str(t)))})
