"""The most-frequent-tag-per-word baseline of a sequence-labeling recipe, scored exactly as the Trainer scores models.

    python scripts/baselines.py configs/ner_bert.yaml [--also PATH:SPLIT ...] [--json results.json]

The table is fitted on the recipe's ``train_split`` and scored on its ``eval_split`` (dev) and ``test_split``, plus
each ``--also`` dataset (read with the recipe's dataset options, e.g. the other UD treebank). A word seen in training
gets the tag it has most often there; an unseen word gets the most frequent tag overall. For chunk tags (IOB2/IOBES)
the output is rewritten into a valid sequence the way seqeval reads it (an ``I-PER`` after ``O`` starts an entity,
so it becomes ``B-PER``): the entities, and so the scores, are the same; only the tags are well-formed.

Scoring goes through hezar_accel's own path: the recipe's ``trainer.metrics`` in the
:class:`~hezar_accel.metrics.handlers.SequenceLabelingMetricsHandler`, with the same tag map and tag scheme as a
training run, so the numbers compare one to one with what ``scripts/train.py`` prints (``loss`` aside).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict

import numpy as np

from hezar_accel.data.sequence_labeling import SequenceLabelingDatasetConfig, read_word_tags
from hezar_accel.errors import DataError, HezarAccelError
from hezar_accel.metrics.handlers import SequenceLabelingMetricsHandler
from hezar_accel.recipe import SPLIT_KEYS, load_recipe
from hezar_accel.tag_schemes import ENTITY_SCHEMES, resolve_tag_scheme

__all__ = ["MostFrequentTagTagger", "as_valid_sequence", "score", "run_baseline"]

IGNORE_INDEX = -100


class MostFrequentTagTagger:
    """Tag each word with the tag it carries most often in the training data.

    Ties go to the tag that is more frequent overall, then to the alphabetically first, so the table is a pure
    function of the training data.

    Args:
        scheme: the tag scheme (``iob2``, ``iobes`` or ``none``); chunk schemes get their output repaired by
            :func:`as_valid_sequence`.
    """

    def __init__(self, scheme: str = "none"):
        self.scheme = scheme
        self.table: dict[str, str] = {}
        self.default_tag: str | None = None

    def fit(self, sentences: list[list[str]], tags: list[list[str]]) -> "MostFrequentTagTagger":
        """Count (word, tag) pairs.

        Args:
            sentences: word lists. tags: their tag lists (same shapes).

        Returns:
            self.

        Raises:
            ValueError: no word to learn from.
        """
        per_word: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for words, sentence_tags in zip(sentences, tags):
            for word, tag in zip(words, sentence_tags):
                per_word[word][tag] += 1
                overall[tag] += 1
        if not overall:
            raise ValueError("MostFrequentTagTagger.fit: the training data holds no word")

        def rank(counts: Counter, tag: str):
            return -counts[tag], -overall[tag], tag

        self.default_tag = min(overall, key=lambda t: rank(overall, t))
        self.table = {word: min(counts, key=lambda t, c=counts: rank(c, t)) for word, counts in per_word.items()}
        return self

    def predict(self, words: list[str]) -> list[str]:
        """The tags of one sentence (a valid sequence for chunk schemes).

        Raises:
            RuntimeError: called before :meth:`fit`.
        """
        if self.default_tag is None:
            raise RuntimeError("MostFrequentTagTagger.predict: call fit() first")
        tags = [self.table.get(word, self.default_tag) for word in words]
        return as_valid_sequence(tags, self.scheme) if self.scheme in ENTITY_SCHEMES else tags


def as_valid_sequence(tags: list[str], scheme: str) -> list[str]:
    """Rewrite chunk tags into a valid ``scheme`` sequence holding the entities seqeval's default mode reads.

    seqeval's lenient reading (``get_entities``) accepts any sequence (an ``I-X`` after ``O`` or after ``B-Y`` starts
    an ``X`` entity); writing those entities back as ``B-``/``I-`` (IOB2) or ``S-``/``B-``/``I-``/``E-`` (IOBES)
    keeps every entity, so the scores do not change.

    Args:
        tags: one sentence's tags. scheme: ``iob2`` or ``iobes``.

    Returns:
        The rewritten tags (``O`` outside entities).
    """
    from seqeval.metrics.sequence_labeling import get_entities

    out = ["O"] * len(tags)
    for type_, start, end in get_entities(list(tags)):  # `end` is inclusive
        if scheme == "iobes" and start == end:
            out[start] = f"S-{type_}"
            continue
        out[start] = f"B-{type_}"
        for i in range(start + 1, end + 1):
            out[i] = f"I-{type_}"
        if scheme == "iobes":
            out[end] = f"E-{type_}"
    return out


def score(handler: SequenceLabelingMetricsHandler, predictions: list[list[str]], references: list[list[str]],
          batch_size: int = 64) -> dict[str, float]:
    """Feed tag sequences to a metrics handler as padded id arrays, batch by batch like the Trainer, and compute.

    Raises:
        KeyError: a tag missing from the handler's ``id2label``.
    """
    label2id = {label: i for i, label in handler.id2label.items()}
    for start in range(0, len(references), batch_size):
        rows = list(zip(predictions[start:start + batch_size], references[start:start + batch_size]))
        width = max(len(ref) for _, ref in rows)
        predicted = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
        labels = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
        for r, (pred, ref) in enumerate(rows):
            predicted[r, :len(pred)] = [label2id[t] for t in pred]
            labels[r, :len(ref)] = [label2id[t] for t in ref]
        handler.add_batch(predicted, labels)
    return handler.compute()


def _dataset_config(section: dict, path: str | None = None) -> SequenceLabelingDatasetConfig:
    fields = {k: v for k, v in section.items() if k not in SPLIT_KEYS}
    fields["path"] = path or fields.get("path")
    names = set(SequenceLabelingDatasetConfig.field_names())
    return SequenceLabelingDatasetConfig.from_dict({k: v for k, v in fields.items() if k in names})


def _known(data, label2id: dict, skip_unknown: bool, where: str):
    """The sentences whose tags are all in the tag map (unknown tags raise unless the dataset skips them)."""
    keep = [i for i, tags in enumerate(data.tags) if all(t in label2id for t in tags)]
    if len(keep) < len(data.tags) and not skip_unknown:
        bad = sorted({t for tags in data.tags for t in tags if t not in label2id})
        raise DataError(f"{where}: tags {bad[:5]} are not in id2label; set the dataset's id2label or "
                        "skip_unknown_labels: true")
    return [data.tokens[i] for i in keep], [data.tags[i] for i in keep]


def run_baseline(recipe: dict, also: list[tuple[str, str]] = ()) -> dict:
    """Fit the lookup table on the recipe's training split and score every evaluation split.

    Args:
        recipe: a loaded recipe (``hezar_accel.recipe.load_recipe``) with a sequence-labeling dataset section.
        also: extra ``(path, split)`` datasets, read with the recipe's dataset options.

    Returns:
        ``{"scheme", "metrics", "train": {...sizes}, "splits": {name: {sentences, words, unknown_words, <metric>...}}}``;
        the split names are ``dev (<eval_split>)``, ``test (<test_split>)`` and ``<path>:<split>``.

    Raises:
        DataError: unreadable data or tags outside the tag map. ConfigError: a tag scheme or metric that does not fit.
    """
    section = recipe["dataset"]
    config = _dataset_config(section)
    train = read_word_tags(config, section.get("train_split", "train"))
    id2label = config.id2label or dict(enumerate(sorted({t for tags in read_word_tags(config, config.label_split).tags
                                                         for t in tags})))
    id2label = {int(k): str(v) for k, v in id2label.items()}
    metrics = (recipe.get("trainer") or {}).get("metrics")
    scheme = resolve_tag_scheme(config.tag_scheme, id2label.values())
    tagger = MostFrequentTagTagger(scheme).fit(*_known(train, {v: k for k, v in id2label.items()},
                                                       config.skip_unknown_labels, "train"))
    targets = [(f"dev ({section['eval_split']})", config, section["eval_split"])] if section.get("eval_split") else []
    if section.get("test_split"):
        targets.append((f"test ({section['test_split']})", config, section["test_split"]))
    targets += [(f"{path}:{split}", _dataset_config(section, path), split) for path, split in also]
    result = {"scheme": scheme, "default_tag": tagger.default_tag,
              "train": {"split": section.get("train_split", "train"), "sentences": len(train.tokens),
                        "words": sum(map(len, train.tokens)), "vocabulary": len(tagger.table)},
              "splits": {}}
    for name, split_config, split in targets:
        handler = SequenceLabelingMetricsHandler(metrics, model_config={"id2label": id2label},
                                                 dataset_config=split_config)
        result["metrics"] = handler.metrics
        words, tags = _known(read_word_tags(split_config, split), handler.label2id, split_config.skip_unknown_labels,
                             name)
        predictions = [tagger.predict(sentence) for sentence in words]
        unknown = sum(w not in tagger.table for sentence in words for w in sentence)
        total = sum(map(len, words))
        result["splits"][name] = {"sentences": len(words), "words": total,
                                  "unknown_words": round(unknown / max(total, 1), 4),
                                  **score(handler, predictions, tags)}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", help="a sequence-labeling YAML recipe (its dataset and trainer.metrics are used)")
    parser.add_argument("overrides", nargs="*", help="section.key=value, as for scripts/train.py")
    parser.add_argument("--also", action="append", default=[], metavar="PATH:SPLIT",
                        help="another dataset to score, read with the recipe's dataset options (repeatable)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        also = []
        for item in args.also:
            path, sep, split = item.rpartition(":")
            if not sep or not path or not split:
                parser.error(f"--also {item!r}: write PATH:SPLIT, e.g. ../shared/data/pos_ud_seraji:test")
            also.append((path, split))
        result = run_baseline(recipe, also)
    except HezarAccelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # a tag scheme that does not fit the tags
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = {"recipe": args.recipe, "baseline": "most frequent tag per word", **result}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
