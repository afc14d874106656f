"""Entity-level precision/recall/F1 and token accuracy for tag sequences, with the `seqeval` package.

A local 🤗 evaluate module (no Hub access). Inputs are string tags (``B-PER``, ``I-PER``, ``O`` ...), one list per
sentence. Without a scheme, seqeval's default (CoNLL-style, lenient) entity extraction is used; with ``scheme``
(IOB2, IOBES ...) the strict mode is used, where an entity counts only if its tags are valid under that scheme.

Besides ``_compute``, the module scores batch by batch: ``_update_statistics`` folds a batch into running counts
(entities, tokens) and ``_compute_from_statistics`` turns them into the scores, equal to seqeval's micro average over
the whole corpus for any split into batches.

Lenient extraction runs on arrays: seqeval's ``get_entities`` walks the tags one by one in Python (~7 ms per 10k
tags, a few percent of a small model's evaluation), but its decisions depend only on each pair of adjacent labels.
So seqeval's own ``end_of_chunk``/``start_of_chunk`` are asked once per pair of labels, and numpy applies the answers
to every position. The entities are exactly seqeval's (tests compare the two on random tag sequences).
"""

from itertools import chain

import datasets
import numpy as np
import seqeval.scheme
from seqeval.metrics.sequence_labeling import end_of_chunk, get_entities, start_of_chunk

from hezar_accel.metrics import scoring
from hezar_accel.metrics.loading import SEQEVAL_SCHEMES


def _strict_entities(sequences, scheme: str, suffix: bool) -> set:
    """Hashable (sentence, type, start, end) entities valid under ``scheme``, extracted by seqeval."""
    found = seqeval.scheme.Entities(sequences, getattr(seqeval.scheme, scheme), suffix)
    return {entity.to_tuple() for entity in chain.from_iterable(found.entities)}


class _LenientChunker:
    """seqeval's lenient (default) entity extraction over label ids, for one ``suffix`` setting.

    ``get_entities`` decides at each position i whether a chunk ends at i-1 (``end_of_chunk``) and whether one starts
    at i (``start_of_chunk``), from labels i-1 and i alone. Those two functions are asked once per pair of labels and
    kept in k x k tables (k = labels seen so far; they grow when a new label shows up), which numpy then applies to
    every position. A chunk ending at i-1 began at the last start before i (or at 0) and has the type of label i-1.
    """

    def __init__(self, suffix: bool):
        self.suffix = suffix
        self.index: dict[str, int] = {}
        self.parsed: list[tuple[str, str]] = []  # (tag, type) of each label id, as get_entities reads the label
        self.types: dict[str, int] = {}
        self.type_ids = np.zeros(0, dtype=np.int64)
        self.ends = self.starts = np.zeros((0, 0), dtype=bool)
        self._add(["O"])  # the sentence separator

    def ids(self, labels: list[str]) -> np.ndarray:
        """The label ids of a flat label list (new labels are added to the tables first)."""
        new = [label for label in dict.fromkeys(labels) if label not in self.index]
        if new:
            self._add(new)
        return np.fromiter(map(self.index.__getitem__, labels), dtype=np.int64, count=len(labels))

    def _add(self, labels: list[str]) -> None:
        get_entities(labels, self.suffix)  # seqeval's warnings for labels that are not entity tags, once per label
        for label in labels:
            self.index[label] = len(self.parsed)
            if self.suffix:
                tag, type_ = label[-1], label[:-1].rsplit("-", maxsplit=1)[0] or "_"
            else:
                tag, type_ = label[0], label[1:].split("-", maxsplit=1)[-1] or "_"
            self.parsed.append((tag, type_))
            self.types.setdefault(type_, len(self.types))
        self.type_ids = np.array([self.types[type_] for _, type_ in self.parsed], dtype=np.int64)
        self.ends = np.array([[end_of_chunk(prev_tag, tag, prev_type, type_) for tag, type_ in self.parsed]
                              for prev_tag, prev_type in self.parsed], dtype=bool)
        self.starts = np.array([[start_of_chunk(prev_tag, tag, prev_type, type_) for tag, type_ in self.parsed]
                                for prev_tag, prev_type in self.parsed], dtype=bool)

    def entities(self, ids: np.ndarray, offset: int, begin: int) -> tuple[set[tuple[int, int, int]], int]:
        """The (type id, start, end) chunks that end in a piece of the joined corpus, as ``get_entities`` finds them.

        Args:
            ids: label ids of the corpus positions ``offset, offset + 1, ...``; every earlier piece ended with the
                ``O`` separator (as the corpus "starts" after one: seqeval's initial state behaves like it).
            begin: where the last chunk before ``offset`` started (0 at the start). Labels that are not entity tags
                (``X``, ``.``) can leave a chunk open across sentences, so this is carried between pieces.

        Returns:
            The chunks (global positions) and the ``begin`` to carry into the next piece.
        """
        prev = np.concatenate([[self.index["O"]], ids[:-1]])
        ends = np.flatnonzero(self.ends[prev, ids]) + offset  # a chunk ends at `end - 1`
        starts = np.concatenate([[begin], np.flatnonzero(self.starts[prev, ids]) + offset])
        begins = starts[np.searchsorted(starts, ends, side="left") - 1]
        chunks = set(zip(self.type_ids[ids[ends - offset - 1]].tolist(), begins.tolist(), (ends - 1).tolist()))
        return chunks, int(starts[-1])

    def update(self, statistics: dict, references, predictions, per_type: bool = False) -> None:
        """Fold equally shaped tag sequences into ``statistics`` (entity and token counts, carried chunk starts;
        with ``per_type``, the entity counts of each type too)."""
        true_ids, predicted_ids = self.ids(_joined(references)), self.ids(_joined(predictions))
        offset = statistics.get("offset", 0)
        true, statistics["true_begin"] = self.entities(true_ids, offset, statistics.get("true_begin", 0))
        predicted, statistics["predicted_begin"] = self.entities(predicted_ids, offset,
                                                                 statistics.get("predicted_begin", 0))
        statistics["offset"] = offset + len(true_ids)
        # A chunk is found at the position after its end on both sides alike, so matches never straddle two pieces.
        correct_tokens = int(np.count_nonzero(true_ids == predicted_ids)) - len(references)  # minus the separators
        _add(statistics, len(true), len(predicted), len(true & predicted), correct_tokens)
        if per_type:
            names = list(self.types)  # type id -> name (ids are insertion order); a chunk is (type id, start, end)
            true_types, predicted_types, correct_types = ([names[chunk[0]] for chunk in chunks]
                                                          for chunks in (true, predicted, true & predicted))
            _add_per_type(statistics, true_types, predicted_types, correct_types)


def _add(statistics: dict, true: int, predicted: int, correct: int, correct_tokens: int) -> None:
    for key, value in (("true_entities", true), ("predicted_entities", predicted), ("correct_entities", correct),
                       ("correct_tokens", correct_tokens)):
        statistics[key] = statistics.get(key, 0) + value


def _add_per_type(statistics: dict, true: list[str], predicted: list[str], correct: list[str]) -> None:
    """Add entity counts per type: ``statistics["types"][type] = [true, predicted, correct]``."""
    counts = statistics.setdefault("types", {})
    for column, types in enumerate((true, predicted, correct)):
        for type_ in types:
            counts.setdefault(type_, [0, 0, 0])[column] += 1


def _joined(sequences) -> list[str]:
    """The sentences as get_entities joins them: each followed by an ``O``."""
    flat = []
    for sequence in sequences:
        flat.extend(sequence)
        flat.append("O")
    return flat


class Seqeval(scoring.LocalMetric):
    """seqeval over string tag sequences."""

    DESCRIPTION = "Entity precision/recall/F1 (micro over entities) and token accuracy over tag sequences."
    INPUTS = f"""
Args:
    predictions: predicted tag sequences (lists of strings).
    references: reference tag sequences, same lengths as the predictions.
    scheme: None (lenient CoNLL matching) or one of {', '.join(SEQEVAL_SCHEMES)} (strict matching).
    suffix: True when tags are written as PER-B instead of B-PER.
    zero_division: value of a score whose denominator is 0 (no predicted / no true entities): 0 (default) or 1.
    per_type: also score each entity type (default False).
Returns:
    precision, recall, f1, accuracy: floats (micro over entities; accuracy over tokens). With per_type, also
    precision_<TYPE>, recall_<TYPE>, f1_<TYPE> for each type seen in the predictions or references.
"""
    FEATURES = datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                  "references": datasets.Sequence(datasets.Value("string"))})

    def _update_statistics(self, statistics, predictions, references, scheme=None, suffix=False, zero_division=0,
                           per_type=False):
        """Fold one batch into ``statistics`` (``{}`` before the first batch) and return it.

        Keys: ``true_entities``, ``predicted_entities``, ``correct_entities``, ``tokens``, ``correct_tokens``, plus
        the lenient extraction's carried positions; with ``per_type``, ``types`` (type -> [true, predicted, correct]).
        Batches must come in corpus order.
        """
        if scheme is not None and scheme not in SEQEVAL_SCHEMES:
            valid = ", ".join(SEQEVAL_SCHEMES)
            raise ValueError(f"seqeval: scheme={scheme!r} is not supported; use None or one of {valid}")
        if zero_division not in (0, 1, "warn"):
            raise ValueError(f"seqeval: zero_division={zero_division!r} is not supported; use 0 or 1")
        for i, (pred, ref) in enumerate(zip(predictions, references)):
            if len(pred) != len(ref):
                raise ValueError(f"seqeval: sentence {i} has {len(pred)} predicted tags but {len(ref)} reference tags")
        statistics["tokens"] = statistics.get("tokens", 0) + sum(map(len, references))
        if scheme is None:
            chunkers = self.__dict__.setdefault("_lenient_chunkers", {})  # label tables, kept across evaluations
            chunker = chunkers.get(suffix) or chunkers.setdefault(suffix, _LenientChunker(suffix))
            chunker.update(statistics, references, predictions, per_type)
        else:
            # Strict entities are found sentence by sentence (seqeval's Tokens), so batches simply add up.
            true, predicted = (_strict_entities(seqs, scheme, suffix) for seqs in (references, predictions))
            correct_tokens = sum(p == r for pred, ref in zip(predictions, references) for p, r in zip(pred, ref))
            _add(statistics, len(true), len(predicted), len(true & predicted), correct_tokens)
            if per_type:  # an entity tuple is (sentence, type, start, end)
                _add_per_type(statistics, *([e[1] for e in found] for found in (true, predicted, true & predicted)))
        return statistics

    def _compute_from_statistics(self, statistics, scheme=None, suffix=False, zero_division=0, per_type=False):
        """Micro precision/recall/F1 over entities and token accuracy from :meth:`_update_statistics`'s counts
        (with ``per_type``, the same three scores of each entity type, seqeval's ``classification_report`` rows)."""
        undefined = 1.0 if zero_division == 1 else 0.0  # seqeval: 0 for 0 and "warn", 1 for 1

        def ratio(numerator, denominator):
            return numerator / denominator if denominator else undefined

        def scores(true, predicted, correct):
            precision, recall = ratio(correct, predicted), ratio(correct, true)
            # As seqeval: F1 is 0 when precision + recall is 0, whatever zero_division says.
            return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0

        precision, recall, f1 = scores(statistics["true_entities"], statistics["predicted_entities"],
                                       statistics["correct_entities"])
        result = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "accuracy": float(ratio(statistics["correct_tokens"], statistics["tokens"])),
        }
        if per_type:
            for type_, counts in sorted(statistics.get("types", {}).items()):
                values = scores(*counts)
                result.update({f"{key}_{type_}": float(v) for key, v in zip(("precision", "recall", "f1"), values)})
        return result

    def _compute(self, predictions, references, scheme=None, suffix=False, zero_division=0, per_type=False):
        statistics = self._update_statistics({}, predictions, references, scheme, suffix, zero_division, per_type)
        return self._compute_from_statistics(statistics, scheme, suffix, zero_division, per_type)
