"""Resolve "a local folder or a Hub repo id" to files on disk.

The Hub is touched only when the path does not exist locally (DESIGN promise 8); ``HF_HUB_OFFLINE=1`` is honoured by
``huggingface_hub`` itself, and its errors are turned into messages that say what to do.
"""

from __future__ import annotations

import os

from .errors import HezarAccelError


class HubError(HezarAccelError, OSError):
    """A file could not be found locally nor fetched from the Hub."""


def _join(path: str, subfolder: str, filename: str) -> str:
    return os.path.join(path, subfolder, filename) if subfolder else os.path.join(path, filename)


def looks_like_repo_id(path: str) -> bool:
    """True when ``path`` could be a Hub repo id (``name`` or ``owner/name``) rather than a filesystem path."""
    path = str(path)
    return not os.path.isabs(path) and not path.startswith(".") and path.count("/") <= 1 and "\\" not in path


def resolve_file(path: str | os.PathLike, filename: str, subfolder: str = "", repo_type: str = "model",
                 required: bool = True) -> str | None:
    """Return a local path to ``filename`` inside a local folder or a Hub repo.

    Args:
        path: a local folder, or a Hub repo id (used only when no such local folder exists).
        filename: the file's name inside the folder/repo.
        subfolder: optional folder inside it.
        repo_type: ``"model"`` or ``"dataset"``.
        required: when False, a missing file returns None instead of raising.

    Returns:
        The local file path (downloaded into the standard HF cache for a repo id), or None when not required and absent.

    Raises:
        HubError: the folder exists but lacks the file, or the repo id cannot be resolved (offline, unknown repo).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        local = _join(path, subfolder, filename)
        if os.path.isfile(local):
            return local
        if not required:
            return None
        raise HubError(f"`{local}` does not exist: the folder `{path}` was found but has no `{_join('', subfolder, filename)}`.")
    if not looks_like_repo_id(path):
        if not required:
            return None
        raise HubError(f"`{path}` is neither an existing local folder nor a Hub repo id (`owner/name`).")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return hf_hub_download(path, filename=filename, subfolder=subfolder or None, repo_type=repo_type)
    except EntryNotFoundError:
        if not required:
            return None
        raise HubError(f"The Hub repo `{path}` has no file `{_join('', subfolder, filename)}`.") from None
    except LocalEntryNotFoundError as e:
        if not required and os.environ.get("HF_HUB_OFFLINE") != "1":
            return None
        raise HubError(
            f"`{path}` is not a local folder and `{_join('', subfolder, filename)}` is not in the Hub cache. "
            "Pass an existing local path, or unset HF_HUB_OFFLINE and connect to download it."
        ) from e
    except Exception as e:  # network errors, unknown repos, auth: one clear message
        if not required:
            return None
        raise HubError(f"Could not fetch `{filename}` from the Hub repo `{path}`: {e}") from e


def resolve_folder(path: str | os.PathLike, repo_type: str = "model", allow_patterns: list[str] | None = None) -> str:
    """Return a local folder for ``path``: itself when it exists, otherwise a snapshot of the Hub repo.

    Raises:
        HubError: when it is not a folder and cannot be downloaded.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return path
    if not looks_like_repo_id(path):
        raise HubError(f"`{path}` is neither an existing local folder nor a Hub repo id (`owner/name`).")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(path, repo_type=repo_type, allow_patterns=allow_patterns)
    except Exception as e:
        raise HubError(
            f"`{path}` is not a local folder and could not be fetched from the Hub ({type(e).__name__}: {e}). "
            "Check the path, or the repo id and your connection (HF_HUB_OFFLINE=1 only reads the cache)."
        ) from e
