"""Read and write YAML files safely: UTF-8 only, no Python objects, no silently repeated keys.

Every YAML file the package reads (recipes, configs, trainer states) goes through :func:`load_yaml`, so a file that is
not UTF-8, is malformed, or repeats a key fails with a :class:`ConfigError` naming the file and the place.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["SafeLoader", "load_yaml", "load_yaml_mapping", "dump_yaml"]

# libyaml's C loader/dumper when PyYAML was built with it: the same safe subset, ~10x faster than the pure-Python
# one (it matters for trainer_state.yaml, whose log history grows with the run and is written at every checkpoint).
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class SafeLoader(_BASE_LOADER):
    """The safe loader (C-accelerated when available) that records keys repeated within one mapping.

    PyYAML keeps the last of two equal keys without a word, so a recipe with ``batch_size`` twice trains with whichever
    comes last. Construction still completes; the repeats are collected in ``duplicates`` as
    ``(key, first line, second line)`` (1-based) so that every one of them can be reported together.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int, int]] = []

    def construct_mapping(self, node, deep=False):
        # flatten_mapping (run by super) deletes `<<` merge keys from this very list and, when it merges, gives the node
        # a new list; `own` thus ends up holding the mapping's own keys either way.
        own = node.value
        mapping = super().construct_mapping(node, deep=deep)
        # Fast path: without a merge, as many entries as key nodes means no repeat. One comparison per mapping keeps
        # loading the thousands of log_history entries of a trainer_state.yaml as fast as before.
        if len(mapping) != len(own) or node.value is not own:
            self._record_duplicates(own, deep)
        return mapping

    def _record_duplicates(self, pairs, deep: bool) -> None:
        # A key that overrides a merged (`<<: *base`) value is intended YAML, so only the mapping's own keys count.
        first_line = {}
        for key_node, _ in pairs:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)  # already built once: the constructor caches nodes
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.duplicates.append((key, first_line[key], line))
            else:
                first_line[key] = line


def load_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file with the safe loader (plain data only, no Python objects).

    Args:
        path: the file to read.

    Returns:
        The file's data (None for an empty file).

    Raises:
        ConfigError: naming the file, when it is not UTF-8 (with the byte offset and line of the first bad byte), is
            not valid YAML, or repeats a key within one mapping (every repeat with its key and both line numbers).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(path, [f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start} (line {line}) cannot "
                                 "be decoded; save the file as UTF-8 (in most editors: Save with Encoding > UTF-8)"]
                          ) from None
    loader = SafeLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(path, [f"not valid YAML: {e}"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(path, [f"duplicate key `{key}` on lines {first} and {second}; keep one of them (YAML would "
                                 "silently use the last)" for key, first, second in loader.duplicates])
    return data


def load_yaml_mapping(path: str | os.PathLike, expected: str = "a mapping of field names to values") -> dict:
    """Read a YAML file whose top level must be a mapping (a config, a recipe, a trainer state).

    Args:
        path: the file to read.
        expected: what the mapping holds, for the error message (e.g. ``"a mapping of sections to their fields"``).

    Returns:
        The mapping; an empty dict for an empty file.

    Raises:
        ConfigError: everything :func:`load_yaml` raises, and a top level that is a list or a scalar (naming the file,
            what it is and what is expected).
    """
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        shown = repr(data) if not isinstance(data, (list, dict)) else f"{len(data)} item(s)"
        raise ConfigError(os.fspath(path), [f"the top level must be {expected} (`key: value` lines), got a "
                                            f"{type(data).__name__} ({shown[:60]})"])
    return data


def dump_yaml(data: Any, path: str | os.PathLike) -> None:
    """Write ``data`` as readable UTF-8 YAML (Persian labels stay readable; key order kept).

    Args:
        data: plain Python data (dicts, lists, strings, numbers, None).
        path: the file to write (replaced when it exists).
    """
    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(data, f, Dumper=_SAFE_DUMPER, allow_unicode=True, sort_keys=False)
