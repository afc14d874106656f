"""Resolve "a local folder or a Hub repo id" to files on disk.

The Hub is touched only when the path does not exist locally (DESIGN promise 8); ``HF_HUB_OFFLINE=1`` is honoured by
``huggingface_hub`` itself, and its errors are turned into messages that say what to do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable

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
    except LocalEntryNotFoundError as e:  # a subclass of EntryNotFoundError: must come first
        if not required and (not is_offline() or _cached_as_missing(path, _join("", subfolder, filename), repo_type)):
            return None
        raise HubError(
            f"`{path}` is not a local folder and `{_join('', subfolder, filename)}` is not in the Hub cache"
            f"{' (HF_HUB_OFFLINE=1 forbids downloading it)' if is_offline() else ''}. "
            "Pass an existing local path, or unset HF_HUB_OFFLINE and connect to download it."
        ) from e
    except EntryNotFoundError:
        if not required:
            return None
        raise HubError(f"The Hub repo `{path}` has no file `{_join('', subfolder, filename)}`.") from None
    except Exception as e:  # network errors, unknown repos, auth: one clear message
        if not required:
            return None
        raise HubError(f"Could not fetch `{filename}` from the Hub repo `{path}`: {e}") from e


def _cached_as_missing(repo_id: str, filename: str, repo_type: str) -> bool:
    """Whether the cache recorded (during an earlier online look-up) that the repo has no such file."""
    from huggingface_hub import _CACHED_NO_EXIST, try_to_load_from_cache

    return try_to_load_from_cache(repo_id, filename.replace(os.sep, "/"), repo_type=repo_type) is _CACHED_NO_EXIST


def resolve_folder(path: str | os.PathLike, repo_type: str = "model", allow_patterns: list[str] | None = None) -> str:
    """Return a local folder for ``path``: itself when it exists, otherwise a snapshot of the Hub repo.

    Args:
        path: a local folder, or a Hub repo id (downloaded with ``snapshot_download`` into the standard HF cache).
        repo_type: ``"model"`` or ``"dataset"``.
        allow_patterns: only download the repo files matching these globs.

    Returns:
        The local folder.

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
        if is_offline():
            raise HubError(
                f"`{path}` is not a local folder and the Hub repo is not in the cache, and HF_HUB_OFFLINE=1 forbids "
                "downloading it. Pass an existing local path, or unset HF_HUB_OFFLINE and connect to download it once."
            ) from e
        raise HubError(
            f"`{path}` is not a local folder and could not be fetched from the Hub ({type(e).__name__}: {e}). "
            "Check the path, or the repo id and your connection (HF_HUB_OFFLINE=1 only reads the cache)."
        ) from e


def is_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is on, as ``huggingface_hub`` itself reads it."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def upload_folder_to_hub(folder: str | os.PathLike, repo_id: str, commit_message: str | None = None,
                         private: bool | None = False, token: str | None = None, repo_type: str = "model",
                         ignore_patterns: list[str] | None = None) -> str:
    """Create ``repo_id`` if needed and upload every file of ``folder`` to it in one commit.

    The token is only handed to ``huggingface_hub.HfApi``; it is never written to a file nor logged.

    Args:
        folder: the local folder whose content becomes the repo's root.
        repo_id: ``owner/name`` on the Hub (the endpoint comes from ``HF_ENDPOINT``).
        commit_message: commit title (default: "Upload with hezar_accel").
        private: create the repo private (only when it does not exist yet); None = the Hub's default.
        token: a Hub token; None = ``HF_TOKEN`` or the stored ``hf auth login`` token.
        repo_type: ``"model"`` or ``"dataset"``.
        ignore_patterns: glob patterns of files not to upload.

    Returns:
        The URL of the commit.

    Raises:
        HubError: offline mode, an unknown namespace, a missing/insufficient token or a network failure.
    """
    if is_offline():
        raise HubError(f"Cannot upload to the Hub repo `{repo_id}`: HF_HUB_OFFLINE=1. Unset it to push.")
    from huggingface_hub import HfApi

    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, repo_type=repo_type, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=os.fspath(folder), repo_type=repo_type,
                                 commit_message=commit_message or "Upload with hezar_accel",
                                 ignore_patterns=ignore_patterns)
    except Exception as e:
        raise HubError(
            f"Could not upload `{folder}` to the Hub {repo_type} repo `{repo_id}` ({type(e).__name__}: {e}). Check the "
            "repo id, your token (token=..., HF_TOKEN or `hf auth login`, with write access) and your connection."
        ) from e
    return getattr(info, "commit_url", None) or str(info)


def push_saved_to_hub(save: Callable[[str], object], repo_id: str, commit_message: str | None = None,
                      private: bool | None = False, token: str | None = None, repo_type: str = "model") -> str:
    """Call ``save(temp_folder)`` to write the files, upload that folder in one commit, then delete it.

    The ``push_to_hub`` methods of configs, models and preprocessors are built on this.

    Returns:
        The URL of the commit.

    Raises:
        HubError: the upload failed (see :func:`upload_folder_to_hub`).
    """
    staging = tempfile.mkdtemp(prefix="hezar_accel_push_")
    try:
        save(staging)
        return upload_folder_to_hub(staging, repo_id, commit_message=commit_message, private=private, token=token,
                                    repo_type=repo_type)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
