"""Text classification data: loading splits, a shared label map, dynamic padding, and clear errors on bad data."""

import os

import pytest
import torch

from hezar_accel.data import Dataset, PaddingCollator, TextClassificationDataset
from hezar_accel.errors import ConfigError, DataError

from tiny import make_tokenizer


@pytest.fixture(scope="module")
def tokenizer(text_data):
    return make_tokenizer(text_data)


def write(folder, name, text):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write(text)
    return folder


def test_dataset_load_picks_the_class_from_dataset_config_and_shares_the_label_map(text_data, tokenizer):
    train = Dataset.load(text_data, split="train", preprocessor=tokenizer)
    test = Dataset.load(text_data, split="test", preprocessor=tokenizer)
    assert isinstance(train, TextClassificationDataset)
    assert train.config.id2label == test.config.id2label == {0: "angry", 1: "happy", 2: "sad"}
    sample = train[0]
    assert set(sample) == {"token_ids", "attention_mask", "token_type_ids", "labels"}
    assert len(sample["token_ids"]) <= 32  # max_length of the dataset config


def test_the_collator_pads_each_batch_to_its_longest_sample(text_data, tokenizer):
    train = Dataset.load(text_data, split="train", preprocessor=tokenizer)
    samples = [train[i] for i in range(5)]
    batch = train.data_collator(samples)
    longest = max(len(s["token_ids"]) for s in samples)
    assert batch["token_ids"].shape == (5, longest) and batch["labels"].shape == (5,)
    shortest = min(range(5), key=lambda i: len(samples[i]["token_ids"]))
    n = len(samples[shortest]["token_ids"])
    assert (batch["token_ids"][shortest, n:] == tokenizer.pad_token_id).all()
    assert (batch["attention_mask"][shortest, n:] == 0).all()


def test_the_collator_rounds_up_to_a_multiple_and_reports_lengths():
    batch = PaddingCollator({"ids": 0, "labels": -100}, pad_to_multiple_of=8, length_fields={"ids": "ids_lengths"})(
        [{"ids": [1, 2, 3], "labels": [1, 1, 1]}, {"ids": [4], "labels": [2]}])
    assert batch["ids"].shape == (2, 8) and batch["labels"][1, 1] == -100
    assert batch["ids_lengths"].tolist() == [3, 1]


def test_sentence_pairs_use_the_second_text_column(tmp_path, tokenizer):
    folder = write(str(tmp_path), "train.csv", "premise,hypothesis,label\nهوا سرد است,هوا گرم است,contradiction\n"
                   "هوا سرد است,زمستان است,entailment\n")
    train = Dataset.load(folder, split="train", preprocessor=tokenizer, task="text_classification",
                         text_field="premise", text_pair_field="hypothesis")
    assert 1 in train[0]["token_type_ids"] and train.config.id2label == {0: "contradiction", 1: "entailment"}


def test_a_missing_column_names_the_field_the_column_and_the_closest_one(tmp_path, tokenizer):
    folder = write(str(tmp_path), "train.csv", "tweet,label\nسلام,happy\n")
    with pytest.raises(DataError) as e:
        Dataset.load(folder, split="train", preprocessor=tokenizer, task="text_classification", text_field="twet")
    assert "text_field" in str(e.value) and "`twet`" in str(e.value) and "tweet" in str(e.value)


def test_labels_outside_id2label_are_refused_or_skipped_with_a_count(tmp_path, tokenizer):
    folder = write(str(tmp_path), "train.csv", "text,label\nسلام,happy\nبد,sad\nچرا,confused\n")
    with pytest.raises(DataError) as e:
        Dataset.load(folder, split="train", preprocessor=tokenizer, task="text_classification",
                     id2label={0: "happy", 1: "sad"})
    assert "confused" in str(e.value) and "row 2" in str(e.value)
    kept = Dataset.load(folder, split="train", preprocessor=tokenizer, task="text_classification",
                        id2label={0: "happy", 1: "sad"}, skip_unknown_labels=True)
    assert len(kept) == 2 and kept.num_skipped == 1


def test_an_empty_split_and_a_missing_split_are_clear_errors(tmp_path, tokenizer):
    folder = write(str(tmp_path), "train.csv", "text,label\n")
    with pytest.raises(DataError, match="no rows"):
        Dataset.load(folder, split="train", preprocessor=tokenizer, task="text_classification")
    with pytest.raises(DataError, match="No `validation` split"):
        Dataset.load(folder, split="validation", preprocessor=tokenizer, task="text_classification")


def test_a_folder_without_dataset_config_needs_a_task(tmp_path, tokenizer):
    folder = write(str(tmp_path), "train.csv", "text,label\nسلام,happy\n")
    with pytest.raises(ConfigError, match="task"):
        Dataset.load(folder, split="train", preprocessor=tokenizer)
    with pytest.raises(ConfigError, match="did you mean `text_classification`"):
        Dataset.load(folder, split="train", preprocessor=tokenizer, task="text_clasification")


def test_tokenization_runs_once_and_indexing_returns_stored_ids(text_data, tokenizer):
    train = Dataset.load(text_data, split="train", preprocessor=tokenizer)
    batch = train.__getitems__([3, 1])
    assert batch[0]["token_ids"] == train[3]["token_ids"] and batch[1]["labels"] == train[1]["labels"]
    assert isinstance(train.data_collator(batch)["token_ids"], torch.Tensor)


def test_a_split_slice_carves_a_dev_set_from_the_training_file_without_overlap(text_data, tokenizer):
    whole = Dataset.load(text_data, split="train", preprocessor=tokenizer)
    head = Dataset.load(text_data, split="train[:75%]", preprocessor=tokenizer)
    tail = Dataset.load(text_data, split="train[75%:]", preprocessor=tokenizer)
    assert len(head) + len(tail) == len(whole) and len(tail) == round(len(whole) * 0.25)
    rows = [list(whole[i]["token_ids"]) for i in range(len(whole))]
    assert [list(head[i]["token_ids"]) for i in range(len(head))] == rows[:len(head)]  # in file order, contiguous
    assert [list(tail[i]["token_ids"]) for i in range(len(tail))] == rows[len(head):]
    assert head.data._fingerprint != tail.data._fingerprint  # a resume on another slice is a change of data
    with pytest.raises(DataError, match=r"split `train\[5:5\]` keeps none of the .* rows"):
        Dataset.load(text_data, split="train[5:5]", preprocessor=tokenizer)
    with pytest.raises(DataError, match="not a split name or a slice"):
        Dataset.load(text_data, split="train[:90%", preprocessor=tokenizer)


def test_an_error_in_a_sliced_split_says_where_the_slice_starts_in_the_file(tmp_path, tokenizer):
    rows = [("خوب بود", "pos"), ("بد بود", "neg")] * 5 + [("", "pos")]  # file row 10 is empty
    write(tmp_path, "train.csv", "text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    with pytest.raises(DataError) as error:
        Dataset.load(str(tmp_path), split="train[8:]", preprocessor=tokenizer, task="text_classification")
    message = str(error.value)
    # Row 2 of the slice is row 10 of the file: the message gives both the file and the slice's start.
    assert "train.csv [split train[8:]: its row 0 is the file's row 8]" in message and "row(s): 2" in message
