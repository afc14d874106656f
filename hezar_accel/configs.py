"""The ``Config`` base: a dataclass that round-trips through YAML and rejects what it does not understand.

Every config (model, preprocessor, dataset, trainer) derives from it. A config is a value: it is validated once in
``__post_init__`` (every problem collected into one :class:`ConfigError`) and never rewritten afterwards; use
:meth:`Config.replace` to derive a changed copy.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from .constants import ConfigType
from .errors import ConfigError, closest
from .hub import resolve_file
from .yaml_io import dump_yaml, load_yaml, load_yaml_mapping

__all__ = ["Config", "ConfigBlock", "ModelConfig", "PreprocessorConfig", "DatasetConfig", "ConfigError", "load_yaml",
           "load_yaml_mapping", "dump_yaml"]


def _plain(value: Any) -> Any:
    """Convert a config value to plain YAML-safe Python (enums to strings, configs to dicts, tuples to lists)."""
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {(_plain(k) if isinstance(k, Enum) else k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        if issubclass(tp, Enum):
            return "one of " + ", ".join(repr(m.value) for m in tp)
        return tp.__name__
    return str(tp).replace("typing.", "")


def check_type(value: Any, tp: Any) -> bool:
    """Whether ``value`` (as read from YAML or passed in Python) fits the annotation ``tp``."""
    if tp is Any or tp is object:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(check_type(value, a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if tp is type(None):
        return value is None
    if origin in (list, tuple, typing.List, typing.Tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(check_type(v, args[0]) for v in value) if args else isinstance(value, (list, tuple))
    if origin in (dict, typing.Dict):
        args = typing.get_args(tp)
        return isinstance(value, dict) and (not args or all(check_type(v, args[1]) for v in value.values()))
    if isinstance(tp, type):
        if issubclass(tp, Enum):
            return value in tp.values() if hasattr(tp, "values") else value in [m.value for m in tp]
        if issubclass(tp, Config):
            return isinstance(value, (tp, dict))
        if tp is bool:
            return isinstance(value, bool)
        if tp is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if tp is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, tp)
    return True


@dataclass
class Config:
    """Base of all configs.

    Args:
        name: registry name of the object this config builds (e.g. ``bert_text_classification``).
        config_type: which registry ``name`` belongs to (``model``, ``preprocessor``, ``dataset``, ``trainer``).
    """

    name: str | None = None
    config_type: str = ConfigType.BASE

    # Default file name for ``save``/``load``; subclasses set their own (e.g. model_config.yaml).
    default_filename: ClassVar[str] = "config.yaml"

    def __post_init__(self):
        problems = self.validate()
        if problems:
            raise ConfigError(type(self).__name__, problems)

    # -- validation -------------------------------------------------------------------------------------------
    def validate(self) -> list[str]:
        """Return every problem with this config as ``field: bad value; what is valid`` lines (empty when valid).

        Subclasses extend this (call ``super().validate()`` first) with range and cross-field checks.
        """
        problems = []
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if value is None and (f.default is None or _optional(hints.get(f.name))):
                continue
            tp = hints.get(f.name, Any)
            if not check_type(value, tp):
                problems.append(f"{f.name}: {value!r} is a {type(value).__name__}; expected {_type_name(tp)}")
        return problems

    # -- dict / YAML ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain-Python dict of every field (enums as strings, nested configs as dicts)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)

    def keys(self):
        return [f.name for f in dataclasses.fields(self)]

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.init]

    @classmethod
    def from_dict(cls, data: dict, strict: bool = True, **overrides):
        """Build a config from a dict (e.g. parsed YAML), with keyword overrides applied on top.

        Args:
            data: field values; nested config fields may be dicts.
            strict: reject keys that are not fields (the default). With False they are dropped.
            **overrides: field values that take precedence over ``data``.

        Returns:
            A validated instance of ``cls``.

        Raises:
            ConfigError: listing unknown keys (with the closest valid name) and every invalid value, together.
        """
        if not isinstance(data, dict):
            raise ConfigError(cls.__name__, [f"expected a mapping of field names to values, got {type(data).__name__}"])
        data = {**data, **overrides}
        names = cls.field_names()
        hints = typing.get_type_hints(cls)
        problems, kwargs = [], {}
        for key, value in data.items():
            if key not in names:
                if strict and not (key in ("name", "config_type")):
                    problems.append(f"{key}: unknown key{closest(key, names)}; valid keys: {', '.join(names)}")
                continue
            sub = _config_class_of(hints.get(key))
            if sub is not None and isinstance(value, dict):
                try:
                    value = sub.from_dict(value, strict=strict)
                except ConfigError as e:
                    problems.extend(f"{key}.{p}" for p in e.problems)
                    continue
            kwargs[key] = value
        try:
            config = cls(**kwargs)
        except ConfigError as e:
            raise ConfigError(cls.__name__, problems + e.problems) from None
        except TypeError as e:  # a required field is missing
            raise ConfigError(cls.__name__, problems + [str(e)]) from None
        if problems:
            raise ConfigError(cls.__name__, problems)
        return config

    def replace(self, **changes):
        """Return a validated copy with ``changes`` applied; the original is left untouched."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def save(self, path: str | os.PathLike, filename: str | None = None, subfolder: str = "") -> str:
        """Write the config as YAML into folder ``path`` (created if needed) and return the file path."""
        folder = os.path.join(path, subfolder) if subfolder else os.fspath(path)
        os.makedirs(folder, exist_ok=True)
        file_path = os.path.join(folder, filename or self.default_filename)
        # Like Hezar, leave out fields that are None by default and still None: the reader's default then applies
        # (Hezar's own defaults when Hezar reads the file), and loading here gives the same value back.
        dump_yaml(self.saved_dict(), file_path)
        return file_path

    def saved_dict(self) -> dict:
        """What :meth:`save` writes: :meth:`to_dict` without the fields that are None by default and still None."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {k: v for k, v in self.to_dict().items() if not (v is None and defaults.get(k) is None)}

    def push_to_hub(self, repo_id: str, filename: str | None = None, subfolder: str = "", commit_message: str | None = None,
                    private: bool | None = False, token: str | None = None) -> str:
        """Upload this config as ``<subfolder>/<filename>`` YAML to the Hub repo ``repo_id`` in one commit.

        Args:
            repo_id: ``owner/name``; created when missing. filename/subfolder: as for :meth:`save`.
            commit_message, private, token: see :func:`hezar_accel.hub.upload_folder_to_hub` (the token is never saved).

        Returns: the commit URL. Raises: HubError when the upload fails.
        """
        from .hub import push_saved_to_hub

        return push_saved_to_hub(lambda folder: self.save(folder, filename=filename, subfolder=subfolder), repo_id,
                                 commit_message=commit_message or f"Upload {filename or self.default_filename}",
                                 private=private, token=token)

    @classmethod
    def load(cls, path: str | os.PathLike, filename: str | None = None, subfolder: str = "", strict: bool = True,
             **overrides):
        """Load a config from a YAML file, a local folder, or a Hub repo id.

        When called on a generic base (``Config``, ``ModelConfig`` ...), the concrete class is found in the registry by
        the file's ``name`` and ``config_type``.

        Args:
            path: a YAML file, a folder holding ``filename``, or a Hub repo id.
            filename: file name inside the folder (defaults to the class's ``default_filename``).
            subfolder: folder inside ``path``.
            strict: reject unknown keys.
            **overrides: field values applied on top of the file's.

        Raises:
            ConfigError: invalid YAML, unknown keys or bad values. HubError: the file cannot be found.
        """
        path = os.fspath(path)
        file_path = path if os.path.isfile(path) else resolve_file(path, filename or cls.default_filename, subfolder)
        data = load_yaml_mapping(file_path)
        target = cls._resolve_class(data)
        return target.from_dict(data, strict=strict, **overrides)

    @classmethod
    def _resolve_class(cls, data: dict) -> type:
        kind = data.get("config_type")
        if getattr(cls, "is_generic", False) and data.get("name") and kind in ("model", "preprocessor", "dataset"):
            from .registry import get_entry

            return get_entry(kind, data["name"]).config_class
        return cls


class ConfigBlock:
    """Mixin (listed before the ``Config`` class) for a config that lives as a mapping inside another config's file,
    like Hezar's ``encoder:``/``decoder:``/``generation:`` blocks of an image-to-text model.

    The block is written without the keys that identify a config file (``name``, ``config_type``, ``task``): only the
    enclosing file has them, and Hezar hands a block's keys straight to a 🤗 config, where they would only add noise.
    """

    identity_keys: ClassVar[tuple[str, ...]] = ("name", "config_type", "task")

    def to_dict(self) -> dict:
        return {k: v for k, v in super().to_dict().items() if k not in self.identity_keys}


def _optional(tp) -> bool:
    return tp is not None and typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _config_class_of(tp) -> type | None:
    for candidate in (typing.get_args(tp) or (tp,)):
        if isinstance(candidate, type) and issubclass(candidate, Config):
            return candidate
    return None


@dataclass
class ModelConfig(Config):
    """Base of model configs. ``task`` names the task the model's head solves."""

    name: str | None = None
    config_type: str = ConfigType.MODEL
    task: str | None = None
    is_generic: ClassVar[bool] = True
    default_filename: ClassVar[str] = "model_config.yaml"


@dataclass
class PreprocessorConfig(Config):
    """Base of preprocessor configs (tokenizers, image processors, feature extractors)."""

    name: str | None = None
    config_type: str = ConfigType.PREPROCESSOR
    is_generic: ClassVar[bool] = True


@dataclass
class DatasetConfig(Config):
    """Base of dataset configs.

    Args:
        task: the task this dataset serves (a ``TaskType`` value).
        path: where the data lives (local file/folder or Hub id); set by ``Dataset.load`` when omitted.
    """

    name: str | None = None
    config_type: str = ConfigType.DATASET
    task: str | None = None
    path: str | None = None
    is_generic: ClassVar[bool] = True
    default_filename: ClassVar[str] = "dataset_config.yaml"
