"""Build a whole run (preprocessor, datasets, model, Trainer) from one YAML recipe: what ``scripts/train.py`` runs.

A recipe has four sections, each holding the fields of one config::

    trainer:      TrainerConfig fields (output_dir, task, batch_size, ...)
    preprocessor: {path: <model folder or Hub id>}  or  {name: wordpiece_tokenizer, train: {vocab_size: ...}, ...}
    dataset:      {path: <folder/file/Hub id>, train_split: train, eval_split: dev, test_split: test,
                   ...dataset config fields}
    model:        {path: <folder to fine-tune>}  or  {name: <registry name>, ...model config fields}
    predict:      optional list of raw inputs to predict with the trained model at the end

Relative paths written in the recipe resolve against the recipe file's folder (see :mod:`hezar_accel.recipe_paths`).

Model fields the data decides (``id2label``, ``vocab_size``, ``pad_token_id``, ``max_word_chars``) are filled from
the dataset and the tokenizer when the recipe leaves them out.

Splits: ``train_split`` trains, ``eval_split`` is evaluated during training and picks the best checkpoint
(``metric_for_best_model``), and the optional ``test_split`` is scored once, after training, by whatever model the
run ends with (the best one under ``load_best_model_at_end``). A test split that also picks checkpoints would report
a number chosen on it, so ``test_split`` must differ from ``eval_split``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import yaml

from .configs import load_yaml_mapping
from .errors import ConfigError, closest
from .recipe_paths import resolve_recipe_paths
from .registry import get_entry
from .trainer.config import TrainerConfig

SECTIONS = ("trainer", "preprocessor", "dataset", "model", "predict")
# Dataset-section keys that name splits; the rest are dataset config fields.
SPLIT_KEYS = ("train_split", "eval_split", "test_split")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.batch_size=16"`` -> (["trainer", "batch_size"], 16); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError("command line", [f"`{text}`: overrides look like section.key=value, e.g. trainer.batch_size=16"])
    key, value = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value) if value != "" else None


def load_recipe(path: str, overrides: list[str] = ()) -> dict:
    """Read the recipe YAML, apply ``section.key=value`` overrides and resolve the recipe's relative paths.

    Relative paths written in the file resolve against its folder; override values against the current directory
    (:func:`~hezar_accel.recipe_paths.resolve_recipe_paths`). The main process prints one line that says so.

    Args:
        path: the recipe file.
        overrides: ``section.key=value`` strings (the value is parsed as YAML).

    Returns:
        The recipe: section name -> its fields (``predict``: a list of inputs).

    Raises:
        ConfigError: a file that is not UTF-8, is not valid YAML or repeats a key; or, listed together, unknown
            sections, malformed overrides and a top level or section of the wrong kind.
    """
    recipe = copy.deepcopy(load_yaml_mapping(path, f"a mapping of sections ({', '.join(SECTIONS)}) to their fields"))
    problems = [f"{s}: unknown section{closest(s, SECTIONS)}; valid: {list(SECTIONS)}" for s in recipe if s not in SECTIONS]
    overridden = set()
    for item in overrides:
        keys, value = parse_override(item)
        if keys[0] not in SECTIONS:
            problems.append(f"{item}: unknown section `{keys[0]}`{closest(keys[0], SECTIONS)}")
            continue
        problem = _apply_override(recipe, keys, value)
        if problem:
            problems.append(f"{item}: {problem}")
        overridden.add(tuple(keys[:2]))
    problems += _section_kind_problems(recipe)
    if problems:
        raise ConfigError(path, problems)
    recipe, lines = resolve_recipe_paths(recipe, path, overridden)
    if os.environ.get("RANK", "0") == "0":  # every process reads the recipe; one says where its paths point
        print("\n".join(lines), flush=True)
    return recipe


def _section_kind_problems(recipe: dict) -> list[str]:
    """A problem line for each known section that is neither empty nor of its kind (a mapping; ``predict``: a list)."""
    problems = []
    for name, value in recipe.items():
        if value is None or name not in SECTIONS:
            continue
        if name == "predict" and not isinstance(value, list):
            problems.append(f"predict: got a {type(value).__name__}; give a list of inputs (`- text` lines under it)")
        elif name != "predict" and not isinstance(value, dict):
            problems.append(f"{name}: got a {type(value).__name__}; give the section's fields as `key: value` lines "
                            "indented under it")
    return problems


def _apply_override(recipe: dict, keys: list[str], value) -> str | None:
    """Set ``recipe[keys[0]][keys[1]]... = value``; returns a problem when a step of the path is not a mapping."""
    if len(keys) == 1:  # a whole section, e.g. predict=[...]
        recipe[keys[0]] = value
        return None
    node = recipe.setdefault(keys[0], {})
    if node is None:
        node = recipe[keys[0]] = {}
    if not isinstance(node, dict):
        return None  # left as it is: _section_kind_problems reports the section itself
    for depth, key in enumerate(keys[1:-1], start=1):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            return f"`{'.'.join(keys[:depth + 1])}` is a {type(node).__name__}, not a mapping of fields"
    node[keys[-1]] = value
    return None


def build_preprocessor(section: dict, dataset_section: dict):
    """Load a preprocessor folder, train a tokenizer on the training texts, or build one from config fields."""
    from .preprocessors import Preprocessor

    section = dict(section or {})
    if section.get("path"):
        return Preprocessor.load(section["path"])
    name = section.pop("name", None)
    if not name:
        raise ConfigError("recipe", ["preprocessor: give `path` (a model folder) or `name` (e.g. wordpiece_tokenizer)"])
    entry = get_entry("preprocessor", name)
    train_args = section.pop("train", None)
    if train_args is not None:
        return entry.cls.train(_training_texts(dataset_section), **train_args, **section)
    return entry.cls(entry.config_class.from_dict(section))


def _training_texts(dataset_section: dict):
    from .data.cells import SKIP_FLAG, empty_cell_rows, without_rows
    from .data.dataset import DEFAULT_DATASET_FOR_TASK
    from .data.loading import load_split, require_columns

    # Datasets whose texts are not one `text_field` column (CoNLL word lists, prompt/target pairs) yield their own.
    name = dataset_section.get("name") or DEFAULT_DATASET_FOR_TASK.get(dataset_section.get("task"))
    dataset_cls = get_entry("dataset", name).cls if name else None
    if hasattr(dataset_cls, "training_texts"):
        fields = {k: v for k, v in dataset_section.items() if k not in ("path", *SPLIT_KEYS)}
        return dataset_cls.training_texts(dataset_section["path"], dataset_section.get("train_split", "train"), **fields)
    field = dataset_section.get("text_field", "text")
    table, source = load_split(dataset_section["path"], dataset_section.get("train_split", "train"),
                               dataset_section.get("data_files"))
    require_columns(table, {"text_field": field}, source)
    # Refused here, before the tokenizer trains, for the reason the dataset refuses them: str(None) is the text 'None'.
    empty = empty_cell_rows(table, {"text_field": field}, source, skip=bool(dataset_section.get(SKIP_FLAG)))
    return (str(t) for t in without_rows(table, empty)[field])


def _shared_preprocessor(config: TrainerConfig, recipe: dict):
    """Build the preprocessor once: under several processes the main one builds (e.g. trains a tokenizer, which is
    not deterministic across runs) and saves it, and the others load that copy, so every process shares one vocabulary."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return build_preprocessor(recipe["preprocessor"], recipe["dataset"])
    import torch
    from accelerate import PartialState

    from .preprocessors import Preprocessor

    state = PartialState(cpu=config.use_cpu or config.device == "cpu" or not torch.cuda.is_available())
    folder = os.path.join(config.output_dir, "built_preprocessor")
    if state.is_main_process:
        build_preprocessor(recipe["preprocessor"], recipe["dataset"]).save(folder, subfolder="")
    state.wait_for_everyone()
    return Preprocessor.load(folder, subfolder="")


def _checkpoint_preprocessor(config: TrainerConfig):
    """On resume, the preprocessor saved in the checkpoint: re-training a tokenizer could give another vocabulary."""
    if not config.resume_from_checkpoint:
        return None
    from .preprocessors import Preprocessor
    from .trainer.checkpoint import resolve_resume_path

    return Preprocessor.load(resolve_resume_path(config.resume_from_checkpoint, config.checkpoints_path))


def split_problems(section: dict) -> list[str]:
    """Problems with the dataset section's split names (checked before anything is built)."""
    eval_split, test_split = section.get("eval_split", "test"), section.get("test_split")
    if test_split and test_split == eval_split:
        return [f"dataset.test_split: `{test_split}` is also eval_split, which picks the best checkpoint, so the test "
                "number would be chosen on the test data; evaluate on a dev split during training (eval_split: dev, "
                "or a slice such as `dev[90%:]`) and keep test_split for the one score at the end"]
    return []


def build_datasets(section: dict, preprocessor):
    """The train and eval datasets (``eval_split: null`` = no evaluation); ``test_split`` is left to
    :func:`build_test_dataset`."""
    from .data import Dataset

    fields = {k: v for k, v in section.items() if k not in SPLIT_KEYS}
    path = fields.pop("path")
    train_split, eval_split = section.get("train_split", "train"), section.get("eval_split", "test")
    train = Dataset.load(path, split=train_split, preprocessor=preprocessor, **fields)
    evaluation = None
    if eval_split:
        evaluation = Dataset.load(path, split=eval_split, preprocessor=preprocessor, config=train.config)
    return train, evaluation


def build_test_dataset(section: dict, preprocessor, train_dataset):
    """The ``test_split`` dataset (read with the training split's config, so the same tag map), or None."""
    from .data import Dataset

    if not section.get("test_split"):
        return None
    return Dataset.load(section["path"], split=section["test_split"], preprocessor=preprocessor,
                        config=train_dataset.config)


def build_model(section: dict, train_dataset, preprocessor):
    """Load a model folder, or build the registered model with data-derived fields filled in."""
    from .models import Model

    section = dict(section or {})
    if section.get("path"):
        return Model.load(section.pop("path"), **section)
    entry = get_entry("model", section.get("name", ""))
    fields = entry.config_class.field_names()
    data_config = getattr(train_dataset, "config", None)
    derived = {
        "id2label": getattr(data_config, "id2label", None),
        "vocab_size": getattr(preprocessor, "vocab_size", None),
        "pad_token_id": getattr(preprocessor, "pad_token_id", None),
        # what the data computes per word (character codes), which the model's preprocess must compute alike
        "max_word_chars": getattr(data_config, "max_word_chars", None),
    }
    for key, value in derived.items():
        if key in fields and section.get(key) is None and value is not None:
            section[key] = value
    model = entry.cls(entry.config_class.from_dict(section))
    model.preprocessor = preprocessor
    return model


@dataclass
class RecipeRun:
    """What a recipe builds: the :class:`Trainer` and the dataset of ``test_split`` (None without one)."""

    trainer: Any
    test_dataset: Any = None


def build_run(recipe: dict) -> RecipeRun:
    """Validate the trainer section and the split names first (fail before any data or model is built), then build
    everything.

    Returns:
        The ready :class:`RecipeRun`.

    Raises:
        ConfigError: an invalid trainer section, a missing section, or ``test_split`` equal to ``eval_split``.
    """
    from .trainer.trainer import Trainer

    config = TrainerConfig.from_dict(recipe.get("trainer") or {})
    for section in ("dataset", "model", "preprocessor"):
        if not recipe.get(section):
            raise ConfigError("recipe", [f"{section}: missing section"])
    problems = split_problems(recipe["dataset"])
    if problems:
        raise ConfigError("recipe", problems)
    preprocessor = _checkpoint_preprocessor(config) or _shared_preprocessor(config, recipe)
    train, evaluation = build_datasets(recipe["dataset"], preprocessor)
    test = build_test_dataset(recipe["dataset"], preprocessor, train)
    # Built by the Trainer after it has seeded every RNG: the initial weights are a function of trainer.seed, so two
    # runs of one recipe start alike (building the datasets first may leave the global RNG anywhere).
    trainer = Trainer(config, model_init=lambda: build_model(recipe["model"], train, preprocessor),
                      train_dataset=train, eval_dataset=evaluation, data_collator=train.data_collator,
                      preprocessor=preprocessor)
    return RecipeRun(trainer, test)


def build_trainer(recipe: dict):
    """:func:`build_run` without the test split.

    Returns:
        The ready :class:`Trainer`.
    """
    return build_run(recipe).trainer
