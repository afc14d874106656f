"""The ``Dataset`` base (a torch map-style dataset over 🤗 ``datasets``) and ``Dataset.load``.

Subclasses turn raw rows into model inputs once, with a batched ``datasets.map`` (never in ``__getitem__``), and
expose a ``data_collator``. ``Dataset.load(path, split=...)`` picks the subclass from the folder's
``dataset_config.yaml`` (or from ``task=``/``name=``), so one call serves every task.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..configs import DatasetConfig, load_yaml_mapping
from ..constants import DATASET_CONFIG_FILE, TaskType
from ..errors import ConfigError, DataError, closest
from ..hub import looks_like_repo_id, resolve_file, resolve_folder
from ..registry import get_entry, list_registered

# Task -> the registry name of the dataset class used when a folder has no dataset_config.yaml.
DEFAULT_DATASET_FOR_TASK = {
    TaskType.TEXT_CLASSIFICATION: "text_classification",
    TaskType.SEQUENCE_LABELING: "sequence_labeling",
    TaskType.TEXT_GENERATION: "text_generation",
    TaskType.IMAGE2TEXT: "ocr",
    TaskType.SPEECH_RECOGNITION: "speech_recognition",
    TaskType.MASK_FILLING: "mask_filling",
}


class Dataset(torch.utils.data.Dataset):
    """Base class of task datasets.

    Args:
        config: the dataset config (columns, label map, limits).
        split: which split this object holds.
        preprocessor: the tokenizer / image processor / feature extractor (or a container of them).
    """

    def __init__(self, config: DatasetConfig, split: str | None = None, preprocessor=None, **kwargs):
        self.config = config
        self.split = split
        self.preprocessor = preprocessor
        self.data = None  # a datasets.Dataset of model-ready columns, set by subclasses
        self.data_collator = None

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.data[int(index)]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        # One columnar read per batch instead of one row read per sample: the DataLoader fetcher uses this when present.
        columns = self.data[list(indices)]
        keys = list(columns)
        return [dict(zip(keys, values)) for values in zip(*(columns[k] for k in keys))]

    @property
    def fingerprint(self) -> str:
        """A content fingerprint of the processed data (changes when the data or its processing changes)."""
        return getattr(self.data, "_fingerprint", "") or ""

    def set_train_epoch(self, epoch: int) -> None:
        """Called by the Trainer on its training dataset before every epoch (also the first after a resume).

        Datasets whose samples change from epoch to epoch (dynamic masking) key that change on ``epoch``, never on a
        running counter, so a resumed run sees the same samples. The default does nothing. (Not named ``set_epoch``:
        accelerate calls that on evaluation datasets too, once per evaluation.)
        """

    def for_evaluation(self) -> "Dataset":
        """The dataset as evaluation reads it: ``self``, or for a dataset with train-time augmentation a view of the
        same data that never augments (evaluation dataloaders always read this)."""
        return self

    def lengths(self) -> list[int] | None:
        """Per-sample lengths for length-grouped batching, or None when the task has no notion of length."""
        return None

    @classmethod
    def load(cls, path: str | os.PathLike, split: str | None = None, preprocessor=None, tokenizer_path: str | None = None,
             config: DatasetConfig | None = None, **config_overrides) -> "Dataset":
        """Load one split of a dataset.

        Args:
            path: a folder (with ``<split>.csv|tsv|json|jsonl|parquet`` files and optionally ``dataset_config.yaml``),
                a single data file, or a Hub dataset repo id laid out like such a folder (downloaded once into the HF
                cache with ``snapshot_download`` and read from there; ``HF_HUB_OFFLINE=1`` reads only the cache).
            split: split name, e.g. ``"train"`` or ``"test"``.
            preprocessor: the preprocessor to encode with (takes precedence over ``tokenizer_path``).
            tokenizer_path: a model folder or Hub id whose ``preprocessor/`` to load.
            config: a ready dataset config (otherwise read from ``path`` or built from ``config_overrides``).
            **config_overrides: config fields, e.g. ``task="text_classification", text_field="tweet"``.

        Returns:
            The task's dataset object.

        Raises:
            ConfigError: unknown task/dataset name or bad config fields. DataError: missing split, file or column.
            HubError: a repo id that cannot be downloaded (or, offline, is not cached).
        """
        path = local_dataset_path(os.fspath(path))
        config = config or _read_dataset_config(path, config_overrides)
        local = local_dataset_path(config.path) if config.path is not None else path
        if local != config.path:
            config = config.replace(path=local)
        dataset_cls = cls if cls is not Dataset else get_entry("dataset", config.name).cls
        if preprocessor is None:
            tokenizer_path = tokenizer_path or getattr(config, "tokenizer_path", None) or getattr(config, "preprocessor_path", None)
            if tokenizer_path is not None:
                from ..preprocessors import Preprocessor

                preprocessor = Preprocessor.load(tokenizer_path)
        return dataset_cls(config, split=split, preprocessor=preprocessor)


def local_dataset_path(path: str) -> str:
    """``path`` itself when it exists locally (or is no repo id), else a local snapshot of that Hub dataset repo."""
    path = os.fspath(path)
    if os.path.exists(path) or not looks_like_repo_id(path):
        return path
    return resolve_folder(path, repo_type="dataset")


def _read_dataset_config(path: str, overrides: dict) -> DatasetConfig:
    """The folder's dataset_config.yaml with overrides applied, or a config built for ``task``/``name``.

    When ``name``/``task`` ask for another dataset than the file describes (e.g. the texts of a text classification
    folder read for mask filling), only the file's keys that the asked dataset has (``text_field``, ``max_length``,
    ``data_files`` ...) apply; the others (``label_field`` ...) belong to the file's own dataset.
    """
    config_file = None
    if os.path.isdir(path):
        candidate = os.path.join(path, DATASET_CONFIG_FILE)
        config_file = candidate if os.path.isfile(candidate) else None
    elif not os.path.isfile(path) and looks_like_repo_id(path):
        config_file = resolve_file(path, DATASET_CONFIG_FILE, repo_type="dataset", required=False)
    in_file = load_yaml_mapping(config_file) if config_file else {}
    asked_task = overrides.get("task")
    other_task = asked_task is not None and in_file.get("task") not in (None, asked_task)
    name = overrides.get("name") or (None if other_task else in_file.get("name"))
    if not name:
        task = asked_task if asked_task is not None else in_file.get("task")
        if task is None:
            raise ConfigError("dataset config", [
                f"task: no `{DATASET_CONFIG_FILE}` in `{path}` and no task= given; pass task= one of {TaskType.values()}"])
        if task not in DEFAULT_DATASET_FOR_TASK:
            raise ConfigError("dataset config", [f"task: unknown task `{task}`{closest(task, TaskType.values())}; valid: {TaskType.values()}"])
        name = DEFAULT_DATASET_FOR_TASK[TaskType(task)]
    if name not in list_registered("dataset"):
        raise ConfigError("dataset config", [f"name: unknown dataset `{name}`{closest(name, list_registered('dataset'))}; registered: {list_registered('dataset')}"])
    config_class = get_entry("dataset", name).config_class
    if in_file.get("name") not in (None, name):
        fields = set(config_class.field_names()) - {"name", "task"}
        in_file = {k: v for k, v in in_file.items() if k in fields}
    data = {**in_file, **overrides, "name": name}
    data.setdefault("config_type", "dataset")
    return config_class.from_dict(data)


def preprocessor_fingerprint(preprocessor) -> str:
    """A short hash of a preprocessor's config (and tokenizer vocabulary), for keys of ``datasets``' map cache."""
    import hashlib
    import json

    parts = [json.dumps(preprocessor.config.to_dict(), sort_keys=True, default=str)]
    backend = getattr(preprocessor, "backend", None)
    if backend is not None:
        parts.append(backend.to_str())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def check_not_empty(table, source: str) -> None:
    """Raise DataError when a split has no rows (training on nothing would silently do nothing)."""
    if len(table) == 0:
        raise DataError(f"`{source}` has no rows: the split is empty.")
