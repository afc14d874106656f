"""Class labels of the classifier and tagger configs: the ``num_labels``/``id2label`` fields, their checks, lookups.

Every encoder family (BERT, RoBERTa, DistilBERT) has a text classification and a sequence labeling config with these
two Hezar fields; keeping them in one mixin means one validation and one meaning of "the number of classes".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..configs import ModelConfig

__all__ = ["LabelsConfig", "label_problems", "resolve_num_labels", "label_name", "with_label_fields"]


@dataclass
class LabelsConfig(ModelConfig):
    """The label fields of a classifier or tagger config (a mixin: put it before the architecture config).

    Args:
        num_labels: number of output classes; when None, ``len(id2label)`` is used (the config itself is not changed).
        id2label: class index -> label name. Keys may be ints or digit strings (as read back from YAML/JSON).
    """

    num_labels: int | None = None
    id2label: dict | None = None

    def validate(self) -> list[str]:
        """Every problem of the other bases, then the label problems (see :func:`label_problems`)."""
        return super().validate() + label_problems(self.num_labels, self.id2label)


def label_problems(num_labels: Any, id2label: Any) -> list[str]:
    """Problems with a ``num_labels``/``id2label`` pair (empty when they define the classes consistently).

    Args:
        num_labels: the config's ``num_labels`` (an int or None).
        id2label: the config's ``id2label`` (a mapping or None).

    Returns:
        One ``field: problem; fix`` line per problem.
    """
    if num_labels is None and id2label is None:
        return ["num_labels: neither num_labels nor id2label is given; set num_labels (an int) or "
                "id2label (a mapping of class index -> label name)"]
    problems = []
    if isinstance(num_labels, int) and not isinstance(num_labels, bool) and num_labels < 1:
        problems.append(f"num_labels: {num_labels} must be a positive integer")
    if isinstance(id2label, dict):
        keys = [_index(k) for k in id2label]
        if None in keys or sorted(keys) != list(range(len(keys))):
            problems.append(f"id2label: keys {list(id2label)[:10]} must be the class indices 0..{len(keys) - 1} "
                            "(ints or digit strings)")
        if not id2label:
            problems.append("id2label: is empty; give one entry per class")
        if isinstance(num_labels, int) and id2label and num_labels != len(id2label):
            problems.append(f"num_labels: {num_labels} disagrees with id2label, which has {len(id2label)} entries")
    return problems


def _index(key: Any) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None


def resolve_num_labels(config: LabelsConfig) -> int:
    """The number of classes: ``num_labels``, else ``len(id2label)`` (the config is never rewritten)."""
    return config.num_labels if config.num_labels is not None else len(config.id2label)


def label_name(config: LabelsConfig, index: int) -> Any:
    """The label of class ``index`` from ``id2label`` (int or digit-string keys), or ``LABEL_<index>`` without one."""
    id2label = config.id2label or {}
    if index in id2label:
        return id2label[index]
    return id2label.get(str(index), f"LABEL_{index}")


def with_label_fields(data: dict, id2label_too: bool = False) -> dict:
    """A config dict about to be saved, with ``num_labels`` filled in from ``id2label`` when unset (and, with
    ``id2label_too``, ``id2label`` from ``num_labels`` as ``LABEL_<i>``, the names :func:`label_name` gives anyway).

    Hezar's sequence labeling configs declare these fields without defaults, so a folder that lacks one does not
    load there.

    Args:
        data: the dict ``Config.saved_dict`` returns (changed in place and returned).
        id2label_too: also fill ``id2label``.

    Returns:
        ``data``.
    """
    if data.get("num_labels") is None and data.get("id2label"):
        data["num_labels"] = len(data["id2label"])
    if id2label_too and not data.get("id2label") and data.get("num_labels"):
        data["id2label"] = {i: f"LABEL_{i}" for i in range(data["num_labels"])}
    return data
