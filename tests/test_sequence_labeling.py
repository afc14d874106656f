"""Sequence labeling data: CoNLL reading, tag-to-sub-token alignment, truncation, unknown tags, and a tiny NER run."""

import os

import pytest
import torch

from hezar_accel.data import Dataset, SequenceLabelingDataset, align_tags
from hezar_accel.data.conll import read_conll
from hezar_accel.errors import DataError
from hezar_accel.preprocessors import WordPieceTokenizer

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "ner_tiny")


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


@pytest.fixture(scope="module")
def tokenizer():
    texts = list(SequenceLabelingDataset.training_texts(FIXTURE)) + ["تهرانی‌ها"]
    return WordPieceTokenizer.train(texts, vocab_size=300, min_frequency=2, max_length=64)


def test_conll_sentences_are_split_on_blank_lines_with_or_without_a_trailing_newline(tmp_path):
    body = "علی\tB-PER\nرفت\tO\n\n\nتهران\tB-LOC\n"
    for name, text in (("trailing.txt", body + "\n"), ("bare.txt", body.rstrip("\n")), ("crlf.txt", body.replace("\n", "\r\n"))):
        found = read_conll(write(tmp_path / name, text))
        assert found.tokens == [["علی", "رفت"], ["تهران"]]
        assert found.tags == [["B-PER", "O"], ["B-LOC"]]
        assert found.first_lines == [1, 5]


def test_conll_lines_without_a_tag_name_the_file_and_line(tmp_path):
    path = write(tmp_path / "bad.txt", "علی\tB-PER\nرفت O\n")
    with pytest.raises(DataError, match=r"bad.txt` line 2"):
        read_conll(path)


def test_first_sub_token_carries_the_tag_and_the_rest_are_ignored():
    word_ids = [None, 0, 1, 1, 1, 2, None]
    assert align_tags(word_ids, [5, 6, 7]) == [-100, 5, 6, -100, -100, 7, -100]
    assert align_tags(word_ids, [5, 6, 7], label_all_tokens=True) == [-100, 5, 6, 6, 6, 7, -100]


def test_a_word_split_into_several_pieces_is_labelled_once(tmp_path, tokenizer):
    long_word = "تهرانی‌ها"
    assert len(tokenizer([long_word], is_split_into_words=True, add_special_tokens=False)["token_ids"][0]) > 1
    folder = tmp_path / "split"
    folder.mkdir()
    write(folder / "train.txt", f"علی\tB-PER\n{long_word}\tB-LOC\nرفت\tO\n")
    data = Dataset.load(str(folder), split="train", preprocessor=tokenizer, task="sequence_labeling")
    label2id = data.label2id
    labels = data[0]["labels"]
    scored = [x for x in labels if x != -100]
    assert scored == [label2id["B-PER"], label2id["B-LOC"], label2id["O"]]
    assert labels[0] == -100 and labels[-1] == -100 and len(labels) > 5
    assert data.config.id2label == {0: "B-LOC", 1: "B-PER", 2: "O"}  # sorted, deterministic


def test_truncation_drops_the_words_that_do_not_fit(tmp_path, tokenizer):
    folder = tmp_path / "trunc"
    folder.mkdir()
    write(folder / "train.txt", "".join(f"{w}\tO\n" for w in ["ایران"] * 10) + "\nعلی\tB-PER\n")
    data = Dataset.load(str(folder), split="train", preprocessor=tokenizer, task="sequence_labeling", max_length=6)
    assert len(data[0]["token_ids"]) == 6
    assert sum(x != -100 for x in data[0]["labels"]) == 4  # [CLS] + 4 words + [SEP]
    assert data.num_unscored_words == 6


def test_unknown_tags_raise_naming_the_file_and_sentence_or_are_skipped(tmp_path, tokenizer):
    folder = tmp_path / "unknown"
    folder.mkdir()
    write(folder / "train.txt", "علی\tB-PER\n\nتهران\tB-LOC\n")
    write(folder / "test.txt", "علی\tB-PER\n\nسازمان\tB-ORG\nملل\tI-ORG\n")
    train = Dataset.load(str(folder), split="train", preprocessor=tokenizer, task="sequence_labeling")
    with pytest.raises(DataError, match=r"test.txt`: 1 sentence.*sentence 1 \(line 3\): \['B-ORG', 'I-ORG'\]"):
        Dataset.load(str(folder), split="test", preprocessor=tokenizer, config=train.config)
    skipped = Dataset.load(str(folder), split="test", preprocessor=tokenizer,
                           config=train.config.replace(skip_unknown_labels=True))
    assert len(skipped) == 1 and skipped.num_skipped == 1


def test_tables_with_list_columns_and_csv_strings_are_read(tmp_path, tokenizer):
    folder = tmp_path / "table"
    folder.mkdir()
    write(folder / "train.jsonl", '{"words": ["علی", "رفت"], "ner": ["B-PER", "O"]}\n')
    write(folder / "test.csv", 'words,ner\n"علی رفت","B-PER O"\n')
    train = Dataset.load(str(folder), split="train", preprocessor=tokenizer, task="sequence_labeling",
                         tokens_field="words", tags_field="ner")
    test = Dataset.load(str(folder), split="test", preprocessor=tokenizer, config=train.config)
    assert train[0]["labels"] == test[0]["labels"]


def test_the_collator_pads_ids_with_pad_and_labels_with_minus_100(tokenizer):
    data = Dataset.load(FIXTURE, split="train", preprocessor=tokenizer, task="sequence_labeling")
    batch = data.data_collator([data[0], data[1], data[2]])
    lengths = [len(data[i]["token_ids"]) for i in range(3)]
    shortest = lengths.index(min(lengths))
    assert batch["token_ids"].shape == batch["labels"].shape == (3, max(lengths))
    assert (batch["token_ids"][shortest, min(lengths):] == tokenizer.pad_token_id).all()
    assert (batch["labels"][shortest, min(lengths):] == -100).all()


def test_a_tiny_ner_model_trained_by_the_trainer_improves_entity_f1(tmp_path, tokenizer):
    from hezar_accel.models import BertSequenceLabeling, BertSequenceLabelingConfig, Model
    from hezar_accel.trainer import Trainer, TrainerConfig

    train = Dataset.load(FIXTURE, split="train", preprocessor=tokenizer, task="sequence_labeling", max_length=64)
    test = Dataset.load(FIXTURE, split="test", preprocessor=tokenizer, config=train.config)
    torch.manual_seed(0)
    model = BertSequenceLabeling(BertSequenceLabelingConfig(
        id2label=train.config.id2label, vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0))
    config = TrainerConfig(output_dir=str(tmp_path / "run"), task="sequence_labeling", device="cpu", num_epochs=25,
                           batch_size=8, optimizer="adamw", learning_rate=5e-3, metrics=["seqeval"], save_freq=25,
                           metric_for_best_model="f1", log_with=None, show_progress_bar=False, save_total_limit=1)
    trainer = Trainer(config, model, train_dataset=train, eval_dataset=test, preprocessor=tokenizer)
    before = trainer.evaluate()
    after = trainer.train()
    print("entity f1", before["f1"], "->", after["f1"])
    assert after["f1"] > before["f1"] + 0.2
    assert after["loss"] < before["loss"]
    loaded = Model.load(os.path.join(str(tmp_path / "run"), "checkpoints", f"{trainer.plan.total_steps:08d}"))
    words = read_conll(os.path.join(FIXTURE, "test.txt")).tokens[0]
    assert [p["token"] for p in loaded.predict(words)[0]] == words
