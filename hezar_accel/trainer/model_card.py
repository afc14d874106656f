"""The ``README.md`` model card of a pushed model folder: task, model, training data, metrics and training settings.

:func:`model_card_text` builds the text from plain values (pure: the same inputs give the same card);
:func:`write_model_card` reads them from a model folder (``model_config.yaml`` + ``train/``) and writes the card
there. Both push paths call it: ``Trainer.push_to_hub`` and the background upload of checkpoints. The card follows
the Hugging Face model-card format: YAML front matter (``library_name``, ``tags``, ``language``, ``metrics``,
``pipeline_tag``) and a Markdown body.
"""

from __future__ import annotations

import math
import os
from typing import Any

import yaml

from ..constants import (DATASET_CONFIG_FILE, MODEL_CONFIG_FILE, TRAINER_CONFIG_FILE, TRAINER_STATE_FILE,
                         TRAINER_SUBFOLDER)

MODEL_CARD_FILE = "README.md"

# hezar_accel task -> the Hub's pipeline tag for it (what the Hub filters models by).
PIPELINE_TAGS = {
    "text_classification": "text-classification",
    "sequence_labeling": "token-classification",
    "mask_filling": "fill-mask",
    "text_generation": "text-generation",
    "speech_recognition": "automatic-speech-recognition",
    "image2text": "image-to-text",
}

# The training settings a reader needs to reproduce or judge the run, in this order.
KEY_TRAINING_FIELDS = ("task", "num_epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "optimizer",
                       "learning_rate", "weight_decay", "lr_scheduler", "warmup_steps", "max_grad_norm",
                       "mixed_precision", "metric_for_best_model", "seed")
# Dataset settings that say nothing about the data (the config's own bookkeeping).
_DATASET_BOOKKEEPING = ("config_type",)


def _plain(value: Any) -> dict:
    """A config or state object (``to_dict``) or a mapping, as a dict; None as an empty dict."""
    if value is None:
        return {}
    return value.to_dict() if hasattr(value, "to_dict") else dict(value)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _evaluations(state: dict, best_metric: str) -> tuple[dict | None, dict | None]:
    """(best evaluation, last evaluation) rows of ``state["log_history"]``, without their ``evaluation.`` prefix."""
    history = [row for row in state.get("log_history") or [] if any(k.startswith("evaluation.") for k in row)]
    if not history:
        return None, None

    def strip(row):
        return {"step": row.get("step"), **{k.split(".", 1)[1]: v for k, v in row.items() if k.startswith("evaluation.")}}

    last = strip(history[-1])
    best_step = state.get("best_step")
    best = next((strip(r) for r in history if r.get("step") == best_step and best_step is not None), None)
    if best is None or best_metric not in best:
        best = None
    return best, last


def model_card_text(train_config: Any, state: Any, dataset_config: Any, model_config: Any,
                    repo_id: str | None = None) -> str:
    """The model card (``README.md``) of a model trained with hezar_accel.

    Args:
        train_config: the ``TrainerConfig`` (or its dict).
        state: the ``TrainerState`` (or its dict) whose ``log_history`` holds the evaluations; None = no metrics.
        dataset_config: the training dataset's config (or its dict); None = unknown.
        model_config: the model's config (or its dict; ``name`` is the registry name).
        repo_id: the Hub repo the card is for (used in the loading example); None = a placeholder.

    Returns:
        The card: YAML front matter, then Markdown.
    """
    config, state, data, model = _plain(train_config), _plain(state), _plain(dataset_config), _plain(model_config)
    task = config.get("task") or model.get("task") or "unknown task"
    model_name = model.get("name") or "model"
    best_metric = str(config.get("metric_for_best_model") or "loss").split(".")[-1]
    best, last = _evaluations(state, best_metric)
    metric_names = [k for k in (last or {}) if k != "step"]
    front = {"library_name": "hezar_accel", "tags": ["hezar", "hezar_accel", model_name, task], "language": "fa"}
    if task in PIPELINE_TAGS:
        front["pipeline_tag"] = PIPELINE_TAGS[task]
    if [m for m in metric_names if m != "loss"]:  # the Hub's metric ids; the loss is in the table only
        front["metrics"] = [m for m in metric_names if m != "loss"]
    lines = ["---", yaml.safe_dump(front, allow_unicode=True, sort_keys=False).rstrip(), "---", "",
             f"# {model_name} ({task})", "",
             f"A `{model_name}` model for **{task}**, trained with hezar_accel (🤗 Accelerate). The folder is in "
             "Hezar's format: it loads with hezar_accel's and with Hezar's `Model.load`.", "",
             "```python", "from hezar_accel.models import Model", "",
             f'model = Model.load("{repo_id or "<this repo>"}")', "model.predict([...])", "```", "",
             "## Training data", ""]
    if data:
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in data.items() if v is not None and k not in _DATASET_BOOKKEEPING]
    else:
        lines.append("Not recorded.")
    lines += ["", "## Evaluation", ""]
    if last:
        best_header = f"best by {best_metric} (step {best['step']})" if best else "best"
        lines += [f"| metric | {best_header} | last (step {last['step']}) |", "|---|---|---|"]
        for name in metric_names:
            best_value = _number(best[name]) if best and name in best else "-"
            lines.append(f"| {name} | {best_value} | {_number(last[name])} |")
    else:
        lines.append("No evaluation was recorded.")
    lines += ["", "## Training", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | `{config[k]}` |" for k in KEY_TRAINING_FIELDS if config.get(k) is not None]
    if state.get("global_step"):
        lines.append(f"| optimizer updates done | {state['global_step']} |")
    lines += ["", f"The full settings are in `{TRAINER_SUBFOLDER}/{TRAINER_CONFIG_FILE}` (and the data's in "
              f"`{TRAINER_SUBFOLDER}/{DATASET_CONFIG_FILE}`).", ""]
    return "\n".join(lines)


def _read_yaml(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return data if isinstance(data, dict) else None


def write_model_card(folder: str, state: Any = None, repo_id: str | None = None) -> str | None:
    """Write ``README.md`` into a model folder from its ``model_config.yaml`` and ``train/`` files.

    Args:
        folder: a saved model folder (``Trainer.save`` output or a checkpoint).
        state: the trainer state to report; None = the folder's ``train/trainer_state.yaml`` when present.
        repo_id: the Hub repo the folder goes to (for the loading example).

    Returns:
        The card's path, or None when ``folder`` is not a model folder (no ``model_config.yaml``) or already has a
        ``README.md`` (a card written by hand is kept).
    """
    model_config = _read_yaml(os.path.join(folder, MODEL_CONFIG_FILE))
    path = os.path.join(folder, MODEL_CARD_FILE)
    if model_config is None or os.path.exists(path):
        return None
    train = os.path.join(folder, TRAINER_SUBFOLDER)
    if state is None:
        state = _read_yaml(os.path.join(train, TRAINER_STATE_FILE))
    text = model_card_text(_read_yaml(os.path.join(train, TRAINER_CONFIG_FILE)), state,
                           _read_yaml(os.path.join(train, DATASET_CONFIG_FILE)), model_config, repo_id=repo_id)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
