"""Tiny, deterministic building blocks shared by in-process tests and the subprocess scripts in tests/scripts/."""

from __future__ import annotations

import csv
import os

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTIMENT = os.path.join(REPO, "data", "sentiment_persian_tweets")


# One cue word per class, appended to real tweets so that a 10K-parameter model can learn the task in seconds.
CUES = {"happy": "عالی", "sad": "غمگین", "angry": "عصبانی"}


def make_text_data(folder: str, n_train: int = 64, n_test: int = 21, labels=("happy", "sad", "angry")) -> str:
    """Write small train/test CSVs (real Persian tweets + a class cue word) plus a dataset_config.yaml."""
    os.makedirs(folder, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        with open(os.path.join(SENTIMENT, f"{split}.csv"), encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["label"] in labels][:n]
        with open(os.path.join(folder, f"{split}.csv"), "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows({"text": f"{CUES[r['label']]} {r['text']}", "label": r["label"]} for r in rows)
    with open(os.path.join(folder, "dataset_config.yaml"), "w", encoding="utf-8") as f:
        f.write("name: text_classification\nconfig_type: dataset\ntask: text_classification\nmax_length: 32\n")
    # A vocabulary chosen deterministically (🤗 tokenizers' trainer breaks frequency ties differently from run to
    # run), saved once: every test run and every process of a test sees the same token ids.
    build_tokenizer(folder).save(os.path.join(folder, "tokenizer"))
    return folder


def build_tokenizer(data_folder: str, words: int = 250):
    """All characters (as word starts and ``##`` continuations) plus the most frequent words, ties broken by text."""
    import collections

    from hezar_accel.preprocessors import WordPieceTokenizer

    with open(os.path.join(data_folder, "train.csv"), encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    base = WordPieceTokenizer.from_vocab([], max_length=32)
    pieces = [w for t in texts for w, _ in base.backend.pre_tokenizer.pre_tokenize_str(base.backend.normalizer.normalize_str(t))]
    chars = sorted({c for w in pieces for c in w})
    frequent = [w for w, _ in sorted(collections.Counter(pieces).items(), key=lambda kv: (-kv[1], kv[0]))[:words]]
    return WordPieceTokenizer.from_vocab(chars + ["##" + c for c in chars] + frequent, max_length=32)


def make_tokenizer(data_folder: str):
    from hezar_accel.preprocessors import Preprocessor

    return Preprocessor.load(os.path.join(data_folder, "tokenizer"))


def make_model(id2label: dict, vocab_size: int, seed: int | None = 0, dropout: float = 0.1):
    """A 1-layer BERT classifier; ``seed`` None keeps whatever the global RNG holds (as a model_init does)."""
    from hezar_accel.models import BertTextClassification, BertTextClassificationConfig

    if seed is not None:
        torch.manual_seed(seed)
    config = BertTextClassificationConfig(id2label=id2label, vocab_size=vocab_size, hidden_size=32,
                                          num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                          max_position_embeddings=32, hidden_dropout_prob=dropout,
                                          attention_probs_dropout_prob=dropout)
    return BertTextClassification(config)


class RowStream(torch.utils.data.IterableDataset):
    """A plain torch IterableDataset over a list of rows, reshuffled per epoch by ``set_epoch`` (seed + epoch)."""

    def __init__(self, rows: list, seed: int = 0):
        self.rows, self.seed, self.epoch = rows, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = torch.randperm(len(self.rows), generator=torch.Generator().manual_seed(self.seed + self.epoch))
        return (self.rows[i] for i in order.tolist())


def as_hf(dataset, data_format: str):
    """The rows of a tokenized hezar_accel text-classification dataset as a user of 🤗 Transformers brings them.

    ``hf``: a ``datasets.Dataset`` with ``input_ids``, ``attention_mask``, ``token_type_ids``, ``label`` and a
    ``text`` string column (the same tokens, in the same row order); ``hf_iterable``: that table streamed as a
    ``datasets.IterableDataset`` (2 shards, buffer-shuffled per epoch); ``torch_iterable``: a :class:`RowStream`.
    """
    table = dataset.data.rename_columns({"token_ids": "input_ids", "labels": "label"})
    table = table.add_column("text", [f"row {i}" for i in range(len(table))])
    if data_format == "hf":
        return table
    if data_format == "hf_iterable":
        return table.to_iterable_dataset(num_shards=2).shuffle(seed=0, buffer_size=16)
    if data_format == "torch_iterable":
        return RowStream(list(table))
    raise ValueError(f"unknown data_format {data_format!r}")


def build_trainer(output_dir: str, data_folder: str, dropout: float = 0.1, model_init=None, callbacks=(),
                  data_format: str = "hezar", eval_format: str | None = None, **overrides):
    """A complete tiny text-classification Trainer over ``data_folder`` (made by make_text_data).

    ``model_init`` and ``callbacks`` go to the Trainer (with ``model_init`` the test's function builds the model);
    ``data_format``/``eval_format`` (default: ``data_format``, or ``hf`` for an iterable training set) give the
    training/evaluation data as 🤗-style rows instead of hezar_accel datasets (see :func:`as_hf`); the other keyword
    arguments are TrainerConfig fields.
    """
    from hezar_accel.data import Dataset
    from hezar_accel.trainer import Trainer, TrainerConfig

    tokenizer = make_tokenizer(data_folder)
    train = Dataset.load(data_folder, split="train", preprocessor=tokenizer)
    test = Dataset.load(data_folder, split="test", preprocessor=tokenizer)
    model = None if model_init else make_model(train.config.id2label, tokenizer.vocab_size, dropout=dropout)
    collator = train.data_collator
    if data_format != "hezar":
        eval_format = eval_format or ("hf" if data_format.endswith("iterable") else data_format)
        train, collator = as_hf(train, data_format), None
        test = as_hf(test, eval_format) if eval_format != "hezar" else test
    settings = dict(output_dir=output_dir, task="text_classification", device="cpu", num_epochs=3, batch_size=8,
                    optimizer="adamw", learning_rate=1e-2, log_steps=4, show_progress_bar=False, log_with=None, write_plots=False,
                    metrics=["accuracy", "f1"])
    settings.update(overrides)
    config = TrainerConfig(**settings)
    return Trainer(config, model, train_dataset=train, eval_dataset=test, data_collator=collator,
                   preprocessor=tokenizer, callbacks=callbacks, model_init=model_init)
