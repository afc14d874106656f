"""What the Trainer accepts as data, checked before anything is built, and the collator each dataset gets.

A dataset is one of three kinds:

- ``hezar``: this package's ``Dataset`` (or a Hezar one): it brings its ``data_collator`` (and ``lengths``,
  ``fingerprint``); trusted as it is.
- ``map``: a 🤗 ``datasets.Dataset`` or any torch map-style dataset (``__len__`` + ``__getitem__``) whose rows are
  dicts of already tokenized columns (``input_ids``, ``attention_mask``, ``token_type_ids``, ``labels`` ...). Without a
  ``data_collator`` it gets a :class:`~hezar_accel.data.columns.ColumnCollator` planned from its first row.
- ``iterable``: a torch ``IterableDataset`` (a 🤗 ``datasets.IterableDataset`` is one): no length, so it trains
  with ``max_steps`` only; see ``iterables.py`` for what an epoch, a resume and the data-order check mean there.

Anything else (a list of rows, a ``DatasetDict``, rows that are not dicts, rows without ``labels`` ...) is refused
with one ``ConfigError`` listing every problem, before the Accelerator, the dataloaders or the optimizer exist.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..data.columns import ColumnCollator
from ..errors import ConfigError

HEZAR, MAP, ITERABLE = "hezar", "map", "iterable"

# 🤗 Transformers' collators read the label from any of these columns (in this order) and feed it as ``labels``.
LABEL_COLUMNS = ("labels", "label", "label_ids")
# The same token ids under the name 🤗 models use and the name this package's models use.
TOKEN_ALIASES = {"token_ids": "input_ids", "input_ids": "token_ids"}
IGNORE_INDEX = -100  # labels padding: what cross-entropy ignores
_EMPTY = object()


def data_kind(dataset) -> str | None:
    """``hezar``, ``map`` or ``iterable`` (see the module docstring), or None for anything the Trainer cannot read."""
    if isinstance(dataset, torch.utils.data.IterableDataset):
        return ITERABLE
    if isinstance(dataset, (list, tuple, dict, str, bytes)):
        return None  # a list of rows would work in a DataLoader, but has no fingerprint for the data-order check
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        return None
    return HEZAR if getattr(dataset, "data_collator", None) is not None else MAP


def dataset_fingerprint(dataset) -> str:
    """A content fingerprint: ``Dataset.fingerprint`` (this package) or 🤗 ``datasets``' ``_fingerprint``; else ""."""
    return str(getattr(dataset, "fingerprint", None) or getattr(dataset, "_fingerprint", None) or "")


def sample_lengths(dataset) -> list[int] | None:
    """Per-sample lengths for ``group_by_length``: the dataset's own ``lengths()``, or the length of each row's
    ``input_ids``/``token_ids`` in a 🤗 ``datasets.Dataset``; None when neither exists."""
    own = getattr(dataset, "lengths", None)
    if callable(own):
        return own()
    columns = getattr(dataset, "column_names", None)
    for column in ("input_ids", "token_ids"):
        if isinstance(columns, list) and column in columns:
            return [len(ids) for ids in dataset[column]]
    return None


def pad_token_id(model, preprocessor) -> tuple[int | None, list[str]]:
    """The id that pads token columns: the tokenizer's (it encoded the data), else the model config's.

    Returns:
        ``(id or None, notes)``; a note when the tokenizer and the model config disagree.
    """
    candidates = [preprocessor, *(preprocessor.values() if isinstance(preprocessor, dict) else ())]
    tokenizer_id = next((c.pad_token_id for c in candidates if isinstance(getattr(c, "pad_token_id", None), int)), None)
    model_id = getattr(getattr(model, "config", None), "pad_token_id", None)
    model_id = model_id if isinstance(model_id, int) else None
    if tokenizer_id is not None and model_id is not None and tokenizer_id != model_id:
        return tokenizer_id, [f"token columns pad with the tokenizer's pad_token_id {tokenizer_id} (the model config "
                              f"says {model_id})"]
    return (tokenizer_id if tokenizer_id is not None else model_id), []


def model_inputs(model) -> tuple[list[str], list[str]]:
    """``(required, optional)`` input names of ``model.forward``, plus ``labels`` when ``compute_loss`` reads it.

    ``required`` have no default. A forward that only takes ``**kwargs`` names nothing: then every numeric column is
    fed to it (see :func:`column_plan`).
    """
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    required, optional = [], []
    for p in _parameters(model.forward):
        if p.kind in kinds:
            (required if p.default is p.empty else optional).append(p.name)
    loss = getattr(model, "compute_loss", None)
    # compute_loss also reads model outputs (logits ...): only its labels come from the data.
    if loss is not None and "labels" not in required + optional and any(p.name == "labels" for p in _parameters(loss)):
        optional.append("labels")
    return required, optional


def batch_renames(model) -> dict[str, str]:
    """Batch key -> the model's name for it, for 🤗-style batches: ``{"input_ids": "token_ids"}`` for a model whose
    forward reads ``token_ids`` (this package's), the reverse for one that reads ``input_ids``."""
    names = [n for n in sum(model_inputs(model), []) if n != "labels"]
    return {TOKEN_ALIASES[n]: n for n in names if n in TOKEN_ALIASES and TOKEN_ALIASES[n] not in names}


def _parameters(function) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin or C-level function: nothing to read
        return []


def _numeric(value) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (str, bytes)) or value is None:
        return False
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (ValueError, TypeError):  # ragged nested lists
        return False


def _describe(value) -> str:
    return "numbers" if _numeric(value) else type(value).__name__


def column_plan(row: Mapping, model, pad_id: int | None, role: str) -> tuple[dict, dict, list[str], list[str]]:
    """How a row's columns become the model's inputs.

    Returns:
        ``(columns, pad_values, problems, dropped)``: row column -> batch key for the kept columns; batch key -> pad
        value; what makes the rows unusable (each names the column and the fix); the columns left out.
    """
    required, optional = model_inputs(model)
    name = type(model).__name__
    columns, problems = {}, []
    for wanted in [*required, *optional]:
        source = wanted if wanted in row else TOKEN_ALIASES.get(wanted)
        if wanted == "labels":
            source = next((c for c in LABEL_COLUMNS if c in row), None)
        if source in row and source not in columns:
            columns[source] = wanted
        elif wanted in required:
            alias = f" (or `{TOKEN_ALIASES[wanted]}`)" if wanted in TOKEN_ALIASES else ""
            problems.append(f"{role}: rows have no `{wanted}` column{alias}, which {name}.forward requires (columns: "
                            f"{sorted(row)}); tokenize into it (e.g. dataset.map(...)) or pass a data_collator that "
                            "builds it")
    if "labels" not in columns.values():
        problems.append(f"{role}: rows have no `labels` column (nor `label`/`label_ids`; columns: {sorted(row)}); "
                        "training and evaluation need one: class ids, or per-token ids with -100 where there is none")
    if not [n for n in required + optional if n != "labels"]:  # forward(**inputs): feed it every numeric column
        columns.update({c: c for c, v in row.items() if c not in columns and _numeric(v)})
    for source, key in columns.items():
        if not _numeric(row[source]):
            problems.append(f"{role}: column `{source}` holds {_describe(row[source])} values, but {name} reads `{key}` "
                            "from it as numbers; tokenize/encode it first (ids, masks and labels are numbers)")
    pad_values = {key: IGNORE_INDEX if key == "labels" else (pad_id if key.endswith(("input_ids", "token_ids")) else 0)
                  for key in columns.values()}
    token_keys = [k for c, k in columns.items() if k.endswith(("input_ids", "token_ids")) and np.ndim(row[c]) > 0]
    if pad_id is None and token_keys:
        problems.append(f"{role}: no pad id for {token_keys}: pass preprocessor= (the tokenizer that encoded the data), "
                        "set pad_token_id in the model config, or pass a data_collator")
    dropped = [c for c in row if c not in columns]
    return columns, pad_values, problems, dropped


def first_row(dataset, kind: str):
    """The first row of a dataset (one read; an iterable starts a fresh iterator), or ``_EMPTY``."""
    if kind == ITERABLE:
        return next(iter(dataset), _EMPTY)
    return dataset[0] if len(dataset) else _EMPTY


class DataInputs:
    """The Trainer's datasets, checked, and the collator each one gets.

    Args:
        config: the TrainerConfig (max_steps, num_epochs, dataloader workers).
        model: the model (its ``forward`` names the columns to feed; its config may give the pad id); may be None
            (then only the datasets themselves are checked).
        preprocessor: the tokenizer (or container) whose ``pad_token_id`` pads token columns.
        train_dataset, eval_dataset: as given to the Trainer (either may be None).
        data_collator: the user's collator, or None.

    Attributes:
        problems: every problem found (the Trainer raises them together with its other input checks).
        notes: what was decided for the user to know (columns left out, the pad id), printed once.
        kinds: role -> kind of each given dataset.
    """

    def __init__(self, config, model, preprocessor, train_dataset, eval_dataset, data_collator: Callable | None):
        self.config, self.model, self.user_collator = config, model, data_collator
        self.pad_id, self.notes = pad_token_id(model, preprocessor) if model is not None else (None, [])
        self.batch_renames = batch_renames(model) if model is not None else {}
        self.problems: list[str] = []
        self.kinds: dict[str, str] = {}
        self._collators: dict[int, tuple[Any, Callable | None]] = {}  # id(dataset) -> (dataset, its collator)
        self._train_collator: Callable | None = None
        for role, dataset in (("train_dataset", train_dataset), ("eval_dataset", eval_dataset)):
            if dataset is not None:
                self.problems += self._inspect(role, dataset)

    @property
    def train_collator(self) -> Callable | None:
        """The training collator: the user's, else the dataset's own, else the planned ColumnCollator."""
        return self.user_collator or self._train_collator

    def collator_for(self, dataset, role: str = "eval_dataset") -> Callable | None:
        """The collator of an evaluation dataset: its own, else the user's, else one planned from its first row.

        Raises:
            ConfigError: the dataset cannot be used (as the Trainer's own checks would say).
        """
        cached = self._collators.get(id(dataset))
        if cached is None or cached[0] is not dataset:
            problems = self._inspect(role, dataset)
            if problems:
                raise ConfigError("evaluation data", problems)
            cached = self._collators[id(dataset)]
        return cached[1]

    def _inspect(self, role: str, dataset) -> list[str]:
        kind = data_kind(dataset)
        if kind is None:
            return [_unreadable(role, dataset)]
        self.kinds[role] = kind
        problems = _iterable_problems(role, self.config) if kind == ITERABLE else []
        own = getattr(dataset, "data_collator", None)
        collator = (self.user_collator or own) if role == "train_dataset" else (own or self.user_collator)
        if kind == HEZAR:  # this package's datasets are built to fit; nothing to read ahead
            if len(dataset) == 0:
                problems.append(_empty(role, "0 samples"))
            self._remember(role, dataset, collator)
            return problems
        try:
            row = first_row(dataset, kind)
        except Exception as e:  # the user's dataset code failed: say where, before any training
            return problems + [f"{role}: reading its first row failed ({type(e).__name__}: {e})"]
        if row is _EMPTY:
            return problems + [_empty(role, "the iterable yields no row" if kind == ITERABLE else "0 samples")]
        if collator is None:
            if not isinstance(row, Mapping):
                return problems + [
                    f"{role}: rows are {type(row).__name__}, not dicts of columns; the Trainer feeds the model by "
                    "column name: make each row a dict like {'input_ids': [...], 'attention_mask': [...], "
                    "'labels': ...} (a 🤗 datasets.Dataset is one), or pass a data_collator that builds such a batch"]
            if self.model is None:
                return problems
            columns, pad_values, column_problems, dropped = column_plan(row, self.model, self.pad_id, role)
            if column_problems:
                return problems + column_problems
            collator = ColumnCollator(columns, pad_values)
            if dropped:
                self.notes.append(f"{role}: columns not fed to {type(self.model).__name__}: "
                                  + ", ".join(f"{c} ({_why_left_out(row[c])})" for c in dropped))
        problems += self._batch_problems(role, collator, row)
        self._remember(role, dataset, collator)
        return problems

    def _remember(self, role: str, dataset, collator) -> None:
        self._collators[id(dataset)] = (dataset, collator)
        if role == "train_dataset":
            self._train_collator = collator

    def _batch_problems(self, role: str, collator, row) -> list[str]:
        """Collate the first row alone: the batch must be a dict holding ``labels`` and the model's required inputs."""
        try:
            batch = collator([row])
        except Exception as e:
            return [f"{role}: the data collator {type(collator).__name__} failed on the first row "
                    f"({type(e).__name__}: {e})"]
        if not isinstance(batch, Mapping):
            return [f"{role}: the data collator returned {type(batch).__name__}, not a dict of tensors (model input "
                    "name -> tensor, with `labels`)"]
        required = model_inputs(self.model)[0] if self.model is not None else []
        present = {self.batch_renames.get(k, k) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        missing = [k for k in [*required, "labels"] if k not in present]
        if missing:
            return [f"{role}: the collated batch has no tensor {missing} (keys: {sorted(batch)}); the model needs its "
                    "inputs and `labels` as tensors"]
        return []


def _empty(role: str, what: str) -> str:
    return f"{role}: is empty ({what})" + ("; pass None to train without evaluation" if role == "eval_dataset" else "")


def _why_left_out(value) -> str:
    return "not a forward input" if _numeric(value) else type(value).__name__


def _unreadable(role: str, dataset) -> str:
    what = type(dataset).__name__
    if isinstance(dataset, dict):
        return (f"{role}: a {what} of splits {sorted(map(str, dataset))[:5]}, not one dataset; pass one split, "
                f"e.g. {role}=dataset['train']")
    if isinstance(dataset, (list, tuple)):
        return (f"{role}: a {what} of {len(dataset)} rows; wrap it as a 🤗 dataset (datasets.Dataset.from_list(rows)): "
                "its fingerprint lets a resume check that the data did not change")
    return (f"{role}: a {what} is not a dataset the Trainer can read; expected a hezar_accel Dataset, a 🤗 "
            "datasets.Dataset or IterableDataset, or a torch Dataset (len + getitem) or IterableDataset of dict rows")


def _iterable_problems(role: str, config) -> list[str]:
    problems = []
    if role == "train_dataset" and config.max_steps is None:
        problems.append(
            f"max_steps: required with an iterable train_dataset: it has no length, so the steps of an epoch are "
            f"unknown until the iterator runs out and num_epochs: {config.num_epochs} cannot be planned; set max_steps "
            "(the run's optimizer updates). An epoch is then one pass of the iterator; when it runs out before "
            "max_steps, a new pass starts (with set_epoch(epoch) when the dataset has it)")
    if config.num_dataloader_workers:
        problems.append(
            f"num_dataloader_workers: {config.num_dataloader_workers} with an iterable {role}: each worker would replay "
            "the whole stream (a torch IterableDataset does not split itself), and the resume position and replay "
            "check live in the main process; set num_dataloader_workers: 0, or use a map-style dataset")
    return problems
