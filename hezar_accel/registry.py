"""Name -> class registries for models, preprocessors and datasets.

A saved config carries only a ``name``; these tables turn it back into the class that can build the object. Classes
register themselves with the decorators below when their module is imported; lookups import the package that holds
them first, so ``Model.load(path)`` works without the caller importing every architecture.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .errors import ConfigError, closest


@dataclass(frozen=True)
class Entry:
    cls: type
    config_class: type


_REGISTRIES: dict[str, dict[str, Entry]] = {"model": {}, "preprocessor": {}, "dataset": {}}
# The package whose import registers every class of a kind (imported lazily, never at module import).
_PACKAGES = {"model": "hezar_accel.models", "preprocessor": "hezar_accel.preprocessors", "dataset": "hezar_accel.data"}


def _register(kind: str, name: str, config_class: type):
    def decorator(cls):
        _REGISTRIES[kind][name] = Entry(cls, config_class)
        return cls

    return decorator


def register_model(name: str, config_class: type):
    """Class decorator: make a model class loadable by the ``name`` stored in its ``model_config.yaml``."""
    return _register("model", name, config_class)


def register_preprocessor(name: str, config_class: type):
    """Class decorator: make a preprocessor loadable by its config's ``name``."""
    return _register("preprocessor", name, config_class)


def register_dataset(name: str, config_class: type):
    """Class decorator: make a dataset class loadable by its config's ``name``."""
    return _register("dataset", name, config_class)


def get_entry(kind: str, name: str) -> Entry:
    """Return the registered entry for ``name`` of ``kind`` (``model``, ``preprocessor`` or ``dataset``).

    Raises:
        ConfigError: when no class is registered under that name (the message lists the closest name).
    """
    table = _REGISTRIES[kind]
    if name not in table:
        importlib.import_module(_PACKAGES[kind])
    if name not in table:
        raise ConfigError(
            f"{kind} registry",
            [f"name: unknown {kind} `{name}`{closest(name, table)}; registered: {sorted(table)}"],
        )
    return table[name]


def list_registered(kind: str) -> list[str]:
    """Names registered for ``kind`` after importing its package."""
    importlib.import_module(_PACKAGES[kind])
    return sorted(_REGISTRIES[kind])
