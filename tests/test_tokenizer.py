"""WordPiece tokenizer: training, Hezar-format save/load, padding, truncation, pairs and word ids (offline, tiny)."""

import os

import pytest
import torch

from hezar_accel.configs import ConfigError
from hezar_accel.constants import PREPROCESSOR_SUBFOLDER, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE
from hezar_accel.preprocessors import Preprocessor, WordPieceConfig, WordPieceTokenizer

CORPUS = [
    "من هر روز به مدرسه می‌روم",
    "او دیروز به خانه رفت",
    "ما کتاب خواندیم و به مدرسه رفتیم",
    "این کتاب بسیار خوب است",
    "هوا امروز خوب و آفتابی است",
    "دانشجویان در کتابخانه درس می‌خوانند",
] * 4


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer.train(CORPUS, vocab_size=120, min_frequency=1)


def test_special_tokens_get_the_first_ids_with_pad_at_zero(tokenizer):
    assert [tokenizer.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert tokenizer.pad_token_id == 0
    assert tokenizer.special_ids == [0, 1, 2, 3, 4]
    assert 5 < tokenizer.vocab_size <= 120


def test_encoding_frames_the_text_with_cls_and_sep(tokenizer):
    ids = tokenizer.encode("این کتاب خوب است")
    assert ids[0] == tokenizer.token_to_id("[CLS]") and ids[-1] == tokenizer.token_to_id("[SEP]")
    assert tokenizer.token_to_id("[UNK]") not in ids


def test_decoding_an_encoding_recovers_the_words(tokenizer):
    text = "دانشجویان هر روز به کتابخانه می‌روند"
    assert tokenizer.decode(tokenizer.encode(text)).split() == text.split()


def test_saving_and_loading_through_the_generic_preprocessor_gives_identical_ids(tokenizer, tmp_path):
    folder = tokenizer.save(tmp_path)
    assert folder == os.path.join(tmp_path, PREPROCESSOR_SUBFOLDER)
    assert {TOKENIZER_FILE, TOKENIZER_CONFIG_FILE} <= set(os.listdir(folder))
    loaded = Preprocessor.load(tmp_path)
    assert isinstance(loaded, WordPieceTokenizer)
    batch = ["من به مدرسه می‌روم", "کتابخانه امروز باز است؟"]
    assert loaded(batch) == tokenizer(batch)
    assert loaded.config == tokenizer.config


def test_a_config_with_older_hezar_key_names_loads_and_is_honoured(tokenizer, tmp_path):
    folder = tokenizer.save(tmp_path)
    old_style = WordPieceConfig(padding_strategy="max_length", padding_direction="left", max_length=12)
    old_style.save(folder, filename=TOKENIZER_CONFIG_FILE)
    loaded = WordPieceTokenizer.load(tmp_path)
    row = loaded("من به مدرسه")["attention_mask"][0]
    assert len(row) == 12 and row[0] == 0 and row[-1] == 1


def test_longest_padding_pads_every_row_to_the_longest_on_the_right(tokenizer):
    out = tokenizer(["من", "ما کتاب خواندیم و به مدرسه رفتیم"], return_tensors="pt")
    assert out["token_ids"].shape == out["attention_mask"].shape
    lengths = out["attention_mask"].sum(1)
    assert lengths[1] == out["token_ids"].shape[1]
    assert torch.all(out["token_ids"][0, lengths[0]:] == tokenizer.pad_token_id)


def test_max_length_padding_and_multiple_of_rounding(tokenizer):
    assert tokenizer(["من"], padding="max_length", max_length=10, return_tensors="pt")["token_ids"].shape == (1, 10)
    out = tokenizer(["من به مدرسه"], pad_to_multiple_of=8, return_tensors="pt")
    assert out["token_ids"].shape[1] % 8 == 0


def test_truncation_keeps_max_length_tokens_including_special_tokens(tokenizer):
    long_text = " ".join(["کتاب"] * 50)
    ids = tokenizer(long_text, max_length=7)["token_ids"][0]
    assert len(ids) == 7 and ids[0] == tokenizer.token_to_id("[CLS]") and ids[-1] == tokenizer.token_to_id("[SEP]")
    assert tokenizer(long_text, max_length=7)["token_ids"] == tokenizer(long_text, max_length=7)["token_ids"]
    assert len(tokenizer(long_text, truncation=False, max_length=7)["token_ids"][0]) > 50


def test_truncation_settings_do_not_leak_into_the_next_call_or_the_saved_file(tokenizer, tmp_path):
    long_text = " ".join(["کتاب"] * 20)
    tokenizer(long_text, max_length=5, padding="max_length")
    assert len(tokenizer(long_text)["token_ids"][0]) == 22
    folder = tokenizer.save(tmp_path)
    with open(os.path.join(folder, TOKENIZER_FILE), encoding="utf-8") as f:
        assert '"truncation":null' in f.read().replace(" ", "")


def test_a_sentence_pair_sets_token_type_one_on_the_second_segment(tokenizer):
    out = tokenizer("من به مدرسه", pair="این کتاب خوب است", return_tensors="pt")
    ids, types = out["token_ids"][0].tolist(), out["token_type_ids"][0].tolist()
    first_sep = ids.index(tokenizer.token_to_id("[SEP]"))
    assert set(types[: first_sep + 1]) == {0} and set(types[first_sep + 1:]) == {1}
    assert tokenizer([("من", "او")], return_tensors="pt")["token_type_ids"][0].tolist()[-1] == 1


def test_word_ids_point_sub_tokens_to_their_input_word(tokenizer):
    words = ["دانشجویان", "کتابخانه", "را", "دوست", "دارند"]
    out = tokenizer(words, is_split_into_words=True, return_word_ids=True)
    word_ids = out["word_ids"][0]
    assert word_ids[0] is None and word_ids[-1] is None
    assert sorted(set(w for w in word_ids if w is not None)) == list(range(len(words)))
    assert len(word_ids) == len(out["token_ids"][0])


def test_pad_encoded_batch_pads_ids_masks_and_labels_for_a_collator(tokenizer):
    rows = [tokenizer(t, padding=False) for t in ["من", "ما به مدرسه رفتیم"]]
    examples = [{k: v[0] for k, v in r.items()} for r in rows]
    for example in examples:
        example["labels"] = [1] * len(example["token_ids"])
    batch = tokenizer.pad_encoded_batch(examples)
    width = len(examples[1]["token_ids"])
    assert batch["token_ids"].shape == (2, width)
    assert batch["labels"][0, -1] == -100 and batch["attention_mask"][0, -1] == 0
    scalar = tokenizer.pad_encoded_batch([{"token_ids": [2, 3], "labels": 1}, {"token_ids": [2, 9, 3], "labels": 0}])
    assert scalar["labels"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="longer than the padded length"):
        tokenizer.pad_encoded_batch(examples, padding="max_length", max_length=2)


def test_ragged_rows_cannot_become_tensors_without_padding(tokenizer):
    with pytest.raises(ValueError, match="padding"):
        tokenizer(["من", "ما به مدرسه رفتیم"], padding=False, return_tensors="pt")


def test_unknown_training_options_are_reported_by_name():
    with pytest.raises(ConfigError, match="vocab_sise"):
        WordPieceTokenizer.train(CORPUS, vocab_sise=100)
