"""The ``Preprocessor`` base and ``Preprocessor.load``, which rebuilds whatever a model folder's ``preprocessor/`` holds.

Each preprocessor writes one ``*_config.yaml`` (with its registry ``name``) plus its own files (e.g. ``tokenizer.json``)
into ``<folder>/preprocessor/``; loading reads every such config and builds the registered class for it.
"""

from __future__ import annotations

import os

from ..configs import PreprocessorConfig, load_yaml_mapping
from ..constants import PREPROCESSOR_SUBFOLDER
from ..hub import HubError, resolve_folder
from ..registry import get_entry


class Preprocessor:
    """Base class of tokenizers, image processors and feature extractors.

    Subclasses set ``config_filename`` and implement ``__call__``, ``save`` (calling ``super().save``) and
    ``load`` for their extra files.

    Args:
        config: the preprocessor's config.
    """

    config_filename = "preprocessor_config.yaml"

    def __init__(self, config: PreprocessorConfig, **kwargs):
        self.config = config

    def save(self, path: str | os.PathLike, subfolder: str | None = None) -> str:
        """Write the config into ``path/<subfolder>`` (default ``preprocessor``) and return that folder."""
        folder = os.path.join(path, PREPROCESSOR_SUBFOLDER if subfolder is None else subfolder)
        os.makedirs(folder, exist_ok=True)
        self.config.save(folder, filename=self.config_filename)
        return folder

    def push_to_hub(self, repo_id: str, commit_message: str | None = None, private: bool | None = False,
                    token: str | None = None, subfolder: str | None = None) -> str:
        """Upload this preprocessor's ``preprocessor/`` folder to the Hub repo ``repo_id`` in one commit.

        Args:
            repo_id: ``owner/name``; created when missing (an existing model repo keeps its other files).
            commit_message: commit title.
            private: create the repo private; None = the Hub's default.
            token: a Hub token (default: ``HF_TOKEN`` or the stored login); never written anywhere.
            subfolder: folder inside the repo (default ``preprocessor``).

        Returns:
            The commit URL.

        Raises:
            HubError: the upload failed.
        """
        from ..hub import push_saved_to_hub

        return push_saved_to_hub(lambda folder: self.save(folder, subfolder=subfolder), repo_id,
                                 commit_message=commit_message or f"Upload {type(self).__name__}",
                                 private=private, token=token)

    @classmethod
    def load(cls, path: str | os.PathLike, subfolder: str | None = None, **kwargs):
        """Load the preprocessor(s) saved under ``path/<subfolder>`` (a local folder or a Hub repo id).

        Called on a concrete class, loads that class; called on ``Preprocessor``, loads every preprocessor in the folder
        and returns it alone, or a :class:`PreprocessorsContainer` (name -> preprocessor) when there are several.

        Raises:
            HubError: no preprocessor folder/config found.
        """
        subfolder = PREPROCESSOR_SUBFOLDER if subfolder is None else subfolder
        root = resolve_folder(path, allow_patterns=[f"{subfolder}/*"] if subfolder else None)
        folder = os.path.join(root, subfolder) if subfolder else root
        if not os.path.isdir(folder):
            # A model folder may keep its preprocessor files at the top level (e.g. a bare tokenizer folder).
            folder = root
        configs = sorted(f for f in os.listdir(folder) if f.endswith("_config.yaml"))
        if cls is not Preprocessor:
            return cls._load_from_folder(folder, **kwargs)
        found = {}
        for filename in configs:
            data = load_yaml_mapping(os.path.join(folder, filename))
            if data.get("config_type") != "preprocessor" or not data.get("name"):
                continue
            entry = get_entry("preprocessor", data["name"])
            found[data["name"]] = entry.cls._load_from_folder(folder, **kwargs)
        if not found:
            raise HubError(f"No preprocessor config (`*_config.yaml` with `config_type: preprocessor`) in `{folder}`.")
        return next(iter(found.values())) if len(found) == 1 else PreprocessorsContainer(found)

    @classmethod
    def _load_from_folder(cls, folder: str, **kwargs):
        """Build this class from its files in ``folder``; subclasses with extra files override it."""
        config_cls = cls._config_class()
        return cls(config_cls.load(os.path.join(folder, cls.config_filename), **kwargs))

    @classmethod
    def _config_class(cls):
        from ..registry import _REGISTRIES

        for entry in _REGISTRIES["preprocessor"].values():
            if entry.cls is cls:
                return entry.config_class
        return PreprocessorConfig


class PreprocessorsContainer(dict):
    """Several preprocessors of one model, by registry name (e.g. a tokenizer and a text normalizer)."""

    def save(self, path: str | os.PathLike, subfolder: str | None = None) -> str:
        folder = None
        for preprocessor in self.values():
            folder = preprocessor.save(path, subfolder=subfolder)
        return folder

    push_to_hub = Preprocessor.push_to_hub
