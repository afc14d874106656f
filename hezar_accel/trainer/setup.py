"""Pieces of the Trainer that are plain functions: input checks, dataloaders, update groups and their loss weights."""

from __future__ import annotations

import os
from typing import Callable

import torch
from torch.utils.data import DataLoader

from ..data.samplers import EpochShuffleSampler, LengthGroupedSampler
from ..errors import ConfigError
from .config import TrainerConfig
from .data_inputs import ITERABLE, DataInputs, data_kind, sample_lengths
from .iterables import CountedPass, EpochPasses, ReplayCheck


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_model_source(config, model, model_init) -> None:
    """The Trainer gets a model, or a ``model_init`` that builds it once seeded; not both, not neither.

    Raises:
        TypeError: ``config`` is not a TrainerConfig. ConfigError: both or neither of model and model_init.
    """
    if not isinstance(config, TrainerConfig):
        raise TypeError(f"config must be a TrainerConfig, got {type(config).__name__}; build one with TrainerConfig(...)")
    if model is not None and model_init is not None:
        raise ConfigError("Trainer inputs", ["model_init: given together with a model; pass one of them (model_init "
                                             "builds the model after seeding, so runs with one seed start alike)"])
    if model_init is not None and not callable(model_init):
        raise ConfigError("Trainer inputs", [f"model_init: {model_init!r} is not callable; pass a function that "
                                             "returns the model"])


def check_inputs(config, model, train_dataset, eval_dataset, preprocessor=None,
                 data_collator: Callable | None = None) -> DataInputs:
    """Refuse unusable inputs before anything is built, with every problem in one message.

    Args:
        config, model, train_dataset, eval_dataset, data_collator: as given to the Trainer.
        preprocessor: the preprocessor the model will carry (its tokenizer's pad id pads 🤗-style token columns).

    Returns:
        The checked :class:`~.data_inputs.DataInputs` (the collator of each dataset, notes to print).

    Raises:
        TypeError: ``config`` is not a TrainerConfig. ConfigError: the list of problems.
    """
    if not isinstance(config, TrainerConfig):
        raise TypeError(f"config must be a TrainerConfig, got {type(config).__name__}; build one with TrainerConfig(...)")
    problems = []
    if model is None:
        problems.append("model: required; pass the model to train (or model_init, a function that builds it)")
    else:
        model_task = getattr(getattr(model, "config", None), "task", None)
        if model_task is not None and str(model_task) != str(config.task):
            problems.append(f"task: `{config.task}` but the model `{type(model).__name__}` solves `{model_task}`; "
                            f"set task: {model_task} or use a {config.task} model")
    problems += _length_problems(model, train_dataset)
    if train_dataset is None and eval_dataset is None:
        problems.append("train_dataset: required (or an eval_dataset alone, to evaluate only)")
    inputs = DataInputs(config, model, preprocessor, train_dataset, eval_dataset, data_collator)
    problems += inputs.problems
    existing = _nearest_existing(config.output_dir)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        problems.append(f"output_dir: `{config.output_dir}` is not writable (`{existing}` is not a writable folder); "
                        "choose a folder you can write to")
    if problems:
        raise ConfigError("Trainer inputs", problems)
    return inputs


def _length_problems(model, dataset) -> list[str]:
    """Encodings longer than the model's position table would fail deep inside the embedding; refuse them here."""
    max_length = getattr(getattr(dataset, "config", None), "max_length", None)
    model_config = getattr(model, "config", None)
    # RoBERTa-style (positions after the padding id), BERT-style, GPT-2-style.
    for field_name in ("max_input_length", "max_position_embeddings", "n_positions"):
        positions = getattr(model_config, field_name, None)
        if isinstance(max_length, int) and isinstance(positions, int) and max_length > positions:
            return [f"dataset max_length: {max_length} tokens exceed the model's {positions} positions "
                    f"({field_name}); set the dataset's max_length to at most {positions}"]
        if positions is not None:
            break
    return []


def check_precision(mixed_precision: str | None, on_cpu: bool) -> None:
    """Refuse fp16 without a GPU: accelerate would then create no grad scaler and no autocast, i.e. silently fp32.

    Args:
        mixed_precision: the config's value; None falls back to the launcher's ``ACCELERATE_MIXED_PRECISION``.
        on_cpu: whether the Accelerator is about to run on the CPU.

    Raises:
        ConfigError: fp16 on a CPU, with the alternatives.
    """
    precision = mixed_precision or os.environ.get("ACCELERATE_MIXED_PRECISION")
    if on_cpu and str(precision) == "fp16":
        raise ConfigError("TrainerConfig", [
            "mixed_precision: `fp16` needs a GPU (on a CPU accelerate would silently train in fp32); use `bf16` "
            "(supported on CPUs), `no`, or run on a GPU"])


def build_dataloaders(config: TrainerConfig, train_dataset, eval_dataset, collator, pin_memory: bool,
                      eval_collator=None):
    """Training dataloader (epoch-seeded sampler) and evaluation dataloader (dataset order).

    Both get their own generator, so creating their iterators never draws from the global torch RNG: a resumed run's
    dropout stream then continues exactly where the interrupted one stopped. An iterable training set is read in
    passes (:class:`~.iterables.EpochPasses`) through a :class:`~.iterables.ReplayCheck` collate function; an
    iterable evaluation set is counted (:class:`~.iterables.CountedPass`).

    Args:
        collator / eval_collator: the collate functions of the training and evaluation sets (see ``DataInputs``).
    """
    common = _loader_options(config, pin_memory)
    evaluation = build_eval_dataloader(config, eval_dataset, eval_collator, pin_memory) if eval_dataset is not None else None
    if train_dataset is None:
        return None, evaluation
    generator = torch.Generator().manual_seed(config.seed)
    if data_kind(train_dataset) == ITERABLE:
        replay = ReplayCheck(collator)
        train = DataLoader(EpochPasses(train_dataset, replay.start_pass), batch_size=config.batch_size,
                           collate_fn=replay, generator=generator, **common)
        return train, evaluation
    lengths = sample_lengths(train_dataset) if config.group_by_length else None
    if lengths is not None:
        sampler = LengthGroupedSampler(lengths, config.batch_size, seed=config.seed)
    else:
        sampler = EpochShuffleSampler(len(train_dataset), seed=config.seed, shuffle=config.dataloader_shuffle)
    train = DataLoader(train_dataset, batch_size=config.batch_size, sampler=sampler, collate_fn=collator,
                       generator=generator, **common)
    return train, evaluation


def _loader_options(config: TrainerConfig, pin_memory: bool) -> dict:
    workers = config.num_dataloader_workers
    return {"num_workers": workers, "pin_memory": pin_memory and config.dataloader_pin_memory,
            "persistent_workers": workers > 0}


def build_eval_dataloader(config: TrainerConfig, dataset, collator, pin_memory: bool) -> DataLoader:
    """An evaluation dataloader over ``dataset`` in its own order, collated by ``collator`` (see
    ``DataInputs.collator_for``); an iterable is wrapped to count its rows (exact metrics across processes).

    It reads ``dataset.for_evaluation()``: evaluation never sees train-time augmentation, even when the training and
    the evaluation dataset are one object.
    """
    if hasattr(dataset, "for_evaluation"):
        dataset = dataset.for_evaluation()
    if data_kind(dataset) == ITERABLE:
        dataset = CountedPass(dataset)
    return DataLoader(dataset, batch_size=config.eval_batch_size or config.batch_size, shuffle=False,
                      collate_fn=collator, generator=torch.Generator().manual_seed(config.seed),
                      **_loader_options(config, pin_memory))


def epoch_dataloader(accelerator, dataloader, epoch: int, skip_batches: int):
    """The prepared training dataloader positioned at ``epoch``, skipping the ``skip_batches`` already consumed.

    The skip goes through the sampler's indices only (no sample is loaded or collated), after sharding, so every
    process skips exactly its own consumed batches. The training dataset learns the epoch too (``set_train_epoch``,
    when it has one), before any sample of the epoch is read.
    """
    set_train_epoch = getattr(dataloader.dataset, "set_train_epoch", None)
    if callable(set_train_epoch):
        set_train_epoch(epoch)
    dataloader.set_epoch(epoch)
    if skip_batches:
        dataloader = accelerator.skip_first_batches(dataloader, skip_batches)
        dataloader.set_epoch(epoch)
    return dataloader


def update_groups(dataloader, steps: int):
    """Yield lists of ``steps`` consecutive micro-batches (the last group of an epoch may be shorter): one update each."""
    group = []
    for batch in dataloader:
        group.append(batch)
        if len(group) == steps:
            yield group
            group = []
    if group:
        yield group


def count_targets(batch: dict, model) -> torch.Tensor:
    """How many targets a micro-batch's mean loss averages over: label tokens (not -100) for models whose loss is a
    token mean (``loss_reduction = "token_mean"``), else samples."""
    labels = batch["labels"]
    if getattr(model, "loss_reduction", "sample_mean") == "token_mean":
        return (labels != -100).sum().to(torch.float64 if labels.device.type != "mps" else torch.float32)
    return torch.tensor(float(labels.shape[0]), device=labels.device,
                        dtype=torch.float64 if labels.device.type != "mps" else torch.float32)


def loss_scales(group: list[dict], accelerator, model, steps: int) -> list[torch.Tensor | None]:
    """Per micro-batch: its share of the update's targets (tokens or samples) over all processes.

    The model's loss is a mean over its micro-batch; weighting it by ``local targets / global targets`` and undoing
    the two averages that follow (accelerate divides by the accumulation steps, DDP averages over processes) makes
    the update's gradient the mean over every target of the accumulated, distributed batch. With one process and no
    accumulation the weight is exactly 1 and is skipped.
    """
    world = accelerator.num_processes
    if world == 1 and steps == 1:
        return [None]
    counts = [count_targets(batch, model) for batch in group]
    total = torch.stack(counts).sum()
    if world > 1:
        total = accelerator.reduce(total, reduction="sum")
    return [c * (world * steps) / total.clamp(min=1) for c in counts]
