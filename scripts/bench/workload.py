"""The workload: model presets, the data (synthesized when missing), the tokenizer and a seeded model factory."""

from __future__ import annotations

import argparse
import csv
import os
from dataclasses import dataclass, field

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOADS = {
    "text_classification": dict(  # configs/sentiment_bert.yaml
        task="text_classification", model="bert_text_classification", data=os.path.join(REPO, "data", "sentiment_persian_tweets"),
        dataset_fields={}, max_length=128, metrics=["f1", "precision", "accuracy", "recall"], best="f1",
        learning_rate=5e-4, weight_decay=0.01, warmup=0.1, log_steps=20, group_by_length=False),
    "sequence_labeling": dict(  # configs/ner_bert.yaml
        task="sequence_labeling", model="bert_sequence_labeling",
        data=os.path.join(REPO, "..", "shared", "data", "ner_parstwiner"),
        dataset_fields={"task": "sequence_labeling", "tag_column": 1, "conll_separator": "\t", "max_length": 96},
        max_length=96, metrics=["seqeval"], best="f1", learning_rate=2e-3, weight_decay=0.01, warmup=0.05,
        log_steps=50, group_by_length=True),
}
PRESETS = {
    "tiny": dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128, max_position_embeddings=128),
    "small": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, max_position_embeddings=128),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512),
}
MAX_GRAD_NORM = 1.0  # TrainerConfig's default; the raw loop clips the same way


@dataclass
class Workload:
    args: argparse.Namespace
    spec: dict
    data_dir: str
    tokenizer: object = None
    train: object = None
    eval: object = None
    info: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return torch.device("cuda" if self.args.device == "cuda" else "cpu")

    def make_model(self):
        """A fresh model with the same initial weights every time (seeded construction)."""
        from hezar_accel.registry import get_entry
        import hezar_accel.models  # noqa: F401  (registers the models)

        entry = get_entry("model", self.spec["model"])
        fields = {**PRESETS[self.args.preset], "id2label": self.train.config.id2label, "hidden_dropout_prob": 0.1,
                  "vocab_size": self.tokenizer.vocab_size, "pad_token_id": self.tokenizer.pad_token_id}
        torch.manual_seed(self.args.seed)
        model = entry.cls(entry.config_class.from_dict(fields))
        model.preprocessor = self.tokenizer
        return model


def _synthesize_word_tags(folder: str) -> str:
    """Word/tag CoNLL files from the tweets (long words are B-LONG, the rest O), when no tagged corpus is present."""
    os.makedirs(folder, exist_ok=True)
    for split in ("train", "test"):
        with open(os.path.join(REPO, "data", "sentiment_persian_tweets", f"{split}.csv"), encoding="utf-8") as f:
            rows = [r["text"].split() for r in csv.DictReader(f)]
        with open(os.path.join(folder, f"{split}.txt"), "w", encoding="utf-8") as f:
            for words in filter(None, rows):
                f.writelines(f"{w}\t{'B-LONG' if len(w) >= 7 else 'O'}\n" for w in words)
                f.write("\n")
    return folder


def _training_texts(spec: dict, data_dir: str):
    if spec["task"] == "sequence_labeling":
        from hezar_accel.data.sequence_labeling import SequenceLabelingDataset

        fields = {k: v for k, v in spec["dataset_fields"].items() if k != "task"}
        return list(SequenceLabelingDataset.training_texts(data_dir, "train", **fields))
    with open(os.path.join(data_dir, "train.csv"), encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f)]


def build_workload(args, tmp: str) -> Workload:
    """Tokenizer (trained once like the recipe does, cached in ``tmp``), datasets, model factory."""
    spec = WORKLOADS[args.workload]
    data_dir = args.data_dir or spec["data"]
    if spec["task"] == "sequence_labeling" and not os.path.isdir(data_dir):
        data_dir = _synthesize_word_tags(os.path.join(tmp, "word_tags"))
    from hezar_accel.data import Dataset
    from hezar_accel.preprocessors import Preprocessor, WordPieceTokenizer

    tok_dir = args.tokenizer_dir or os.path.join(tmp, "tokenizer")
    if os.path.isfile(os.path.join(tok_dir, "preprocessor", "tokenizer.json")):
        tokenizer = Preprocessor.load(tok_dir)
    else:
        tokenizer = WordPieceTokenizer.train(_training_texts(spec, data_dir), vocab_size=8000, min_frequency=2,
                                             max_length=spec["max_length"])
        tokenizer.save(tok_dir)
    work = Workload(args, spec, data_dir, tokenizer)
    work.info["tokenizer_dir"] = tok_dir
    work.train = Dataset.load(data_dir, split="train", preprocessor=tokenizer, **spec["dataset_fields"])
    work.eval = Dataset.load(data_dir, split="test", preprocessor=tokenizer, config=work.train.config)
    return work
