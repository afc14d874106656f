"""The project's exception types. Each message names what is wrong, the bad value and the fix."""

from __future__ import annotations

import difflib
from typing import Iterable


class HezarAccelError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(HezarAccelError, ValueError):
    """A config (or its YAML) is invalid. ``problems`` lists every problem found, not only the first.

    Args:
        owner: name of the config class or file being validated.
        problems: one human-readable line per problem (field, bad value, what is valid).
    """

    def __init__(self, owner: str, problems: list[str]):
        self.owner = owner
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Invalid {owner} ({len(self.problems)} problem(s)):\n{lines}")


class DataError(HezarAccelError, ValueError):
    """A dataset file, column or row cannot be used as asked."""


class CheckpointError(HezarAccelError, RuntimeError):
    """A checkpoint is missing, incomplete, unsafe, or does not match the current run."""


class TrainingError(HezarAccelError, RuntimeError):
    """Training cannot continue (e.g. a NaN loss under ``nan_policy: raise``)."""


class MissingDependencyError(HezarAccelError, ImportError):
    """An optional dependency is missing; the message carries the pip command that installs it."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the `{package}` package, which is not installed. "
            f"Install it with: pip install 'hezar_accel[{extra}]'  (or: pip install {package})"
        )


def closest(name: str, options: Iterable[str]) -> str:
    """Return a ``" (did you mean `x`?)"`` hint for ``name`` among ``options``, or an empty string."""
    match = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.5)
    return f" (did you mean `{match[0]}`?)" if match else ""


def require(module: str, package: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingDependencyError` with an install hint.

    Args:
        module: importable module name, e.g. ``"PIL.Image"``.
        package: the pip package that provides it, e.g. ``"Pillow"``.
        extra: the hezar_accel extra that pulls it in, e.g. ``"vision"``.
        purpose: what needs it, used in the message.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: when the import fails.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(package, extra, purpose) from e


def require_installed(module: str, package: str, extra: str, purpose: str) -> None:
    """Like :func:`require`, but only finds ``module`` without importing it (for checks that must stay cheap).

    Raises:
        MissingDependencyError: when the module cannot be found (or a parent package of it is missing or broken).
    """
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependencyError(package, extra, purpose)
