"""Bad input is refused before training with a message naming the file, the place and the fix (DESIGN promise 9)."""

import os

import pytest

from hezar_accel.configs import Config, load_yaml
from hezar_accel.data import Dataset, TextGenerationDataset
from hezar_accel.errors import ConfigError, DataError
from hezar_accel.trainer import TrainerConfig
from hezar_accel.recipe import _training_texts, load_recipe

from tiny import make_tokenizer


@pytest.fixture(scope="module")
def tokenizer(text_data):
    return make_tokenizer(text_data)


@pytest.fixture(scope="module")
def bpe_tokenizer():
    from hezar_accel.preprocessors import BPETokenizer

    return BPETokenizer.train(["seven one five", "هفت یک پنج", "ten two", "ده دو"] * 3, vocab_size=300,
                              min_frequency=1, max_length=32)


def write(folder, name, text, encoding="utf-8"):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode(encoding))
    return path


@pytest.mark.parametrize("content, kind", [("- trainer\n- model\n", "list"), ("42\n", "int"), ("just text\n", "str")])
def test_a_recipe_that_is_not_a_mapping_names_the_file_and_what_is_expected(tmp_path, content, kind):
    path = write(str(tmp_path), "recipe.yaml", content)
    with pytest.raises(ConfigError) as e:
        load_recipe(path, ["trainer.batch_size=2"])
    message = str(e.value)
    assert path in message and f"got a {kind}" in message and "mapping of sections" in message


def test_a_recipe_section_that_is_not_a_mapping_is_refused_with_overrides_too(tmp_path):
    path = write(str(tmp_path), "recipe.yaml", "trainer:\n  - batch_size\ndataset: data/\n")
    with pytest.raises(ConfigError) as e:
        load_recipe(path, ["trainer.batch_size=2", "dataset.path=x"])
    message = str(e.value)
    assert "trainer: got a list" in message and "dataset: got a str" in message


def test_an_override_may_replace_a_whole_section(tmp_path):
    path = write(str(tmp_path), "recipe.yaml", "predict:\n  - سلام\n")
    assert load_recipe(path, ["predict=[a, b]"])["predict"] == ["a", "b"]


def test_a_dataset_config_that_is_a_list_names_the_file(tmp_path, tokenizer):
    path = write(str(tmp_path), "dataset_config.yaml", "- name: text_classification\n")
    write(str(tmp_path), "train.csv", "text,label\nعالی,happy\n")
    with pytest.raises(ConfigError, match="got a list"):
        Dataset.load(str(tmp_path), split="train", preprocessor=tokenizer)
    with pytest.raises(ConfigError, match=path):
        Config.load(path)


def test_a_recipe_that_is_not_utf8_names_the_file_the_byte_offset_and_the_fix(tmp_path):
    path = write(str(tmp_path), "recipe.yaml", "trainer:\n  run_name: café\n", encoding="latin-1")
    with pytest.raises(ConfigError) as e:
        load_recipe(path)
    message = str(e.value)
    assert path in message and "byte 0xe9 at offset 24 (line 2)" in message and "save the file as UTF-8" in message


def test_a_utf8_file_with_a_byte_order_mark_still_loads(tmp_path):
    path = write(str(tmp_path), "config.yaml", "\ufeffa: ۱\n")
    assert load_yaml(path) == {"a": "۱"}


def test_duplicate_keys_are_refused_with_the_key_and_both_lines(tmp_path):
    path = write(str(tmp_path), "recipe.yaml", "trainer:\n  batch_size: 8\n  learning_rate: 0.001\n"
                                               "  batch_size: 16\nmodel:\n  name: x\ntrainer: {}\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(path)
    message = str(e.value)
    assert path in message and "duplicate key `batch_size` on lines 2 and 4" in message
    assert "duplicate key `trainer` on lines 1 and 7" in message and "2 problem(s)" in message


def test_duplicate_keys_deep_inside_lists_are_found(tmp_path):
    path = write(str(tmp_path), "state.yaml", "log_history:\n- step: 1\n  loss: 0.5\n- {step: 2, step: 3}\n")
    with pytest.raises(ConfigError, match="duplicate key `step` on lines 4 and 4"):
        load_yaml(path)


def test_a_merge_key_overridden_on_purpose_is_no_duplicate(tmp_path):
    path = write(str(tmp_path), "config.yaml", "base: &base {a: 1, b: 2}\nchild:\n  <<: *base\n  b: 3\n")
    assert load_yaml(path)["child"] == {"a": 1, "b": 3}


def test_the_yaml_loader_still_uses_libyaml_when_it_is_there():
    import yaml

    from hezar_accel import yaml_io

    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(yaml_io.SafeLoader, yaml.CSafeLoader)


@pytest.mark.parametrize("field, value", [("learning_rate", float("inf")), ("learning_rate", float("nan")),
                                          ("weight_decay", float("nan")), ("max_grad_norm", float("inf")),
                                          ("warmup_steps", float("nan")), ("save_steps", float("inf")),
                                          ("log_steps", float("-inf")), ("eval_steps", float("nan"))])
def test_a_non_finite_float_is_refused(field, value):
    with pytest.raises(ConfigError) as e:
        TrainerConfig(output_dir="out", task="text_classification", num_epochs=1, **{field: value})
    assert f"{field}: {value} is not a finite number" in str(e.value)
    assert len(e.value.problems) == 1  # said once, not again by the range check


def test_non_finite_floats_are_listed_together_with_the_other_problems(tmp_path):
    path = write(str(tmp_path), "train_config.yaml", "output_dir: out\ntask: text_classification\nnum_epochs: 1\n"
                                                     "learning_rate: .inf\nweight_decay: .nan\nbatch_size: 0\n"
                                                     "lr_scheduler_kwargs: {power: .inf}\n")
    with pytest.raises(ConfigError) as e:
        TrainerConfig.load(path)
    assert [p.split(":")[0] for p in e.value.problems] == ["learning_rate", "weight_decay", "lr_scheduler_kwargs",
                                                            "batch_size"]
    assert "lr_scheduler_kwargs: power = inf is not a finite number" in str(e.value)


CLASSIFICATION = "text,label\nعالی بود,happy\n,sad\nغمگین هستم,sad\nعصبانی,angry\n"


def test_an_empty_text_cell_is_refused_with_its_file_row_and_column(tmp_path, tokenizer):
    path = write(str(tmp_path), "train.csv", CLASSIFICATION)
    with pytest.raises(DataError) as e:
        Dataset.load(str(tmp_path), split="train", preprocessor=tokenizer, task="text_classification")
    message = str(e.value)
    assert path in message and "`text`" in message and "text_field" in message
    assert "1 row(s): 1" in message and "skip_invalid_rows: true" in message and "Fill" in message


def test_an_empty_text_pair_cell_is_refused_like_the_first_text(tmp_path, tokenizer):
    write(str(tmp_path), "train.csv", "premise,hypothesis,label\nهوا سرد است,هوا گرم است,contradiction\n"
                                      "هوا سرد است,,entailment\n")
    with pytest.raises(DataError, match=r"`hypothesis` \(text_pair_field\) is empty in 1 row\(s\): 1"):
        Dataset.load(str(tmp_path), split="train", preprocessor=tokenizer, task="text_classification",
                     text_field="premise", text_pair_field="hypothesis")


def test_an_empty_label_cell_is_refused_instead_of_becoming_a_class(tmp_path, tokenizer):
    write(str(tmp_path), "train.csv", "text,label\nعالی بود,happy\nغمگین,\nبد,\nعصبانی,angry\n")
    with pytest.raises(DataError, match=r"`label` \(label_field\) is empty in 2 row\(s\): 1, 2\."):
        Dataset.load(str(tmp_path), split="train", preprocessor=tokenizer, task="text_classification")


def test_many_empty_cells_show_the_first_rows_and_the_count(tmp_path, tokenizer):
    rows = "".join(f"{'' if i % 2 else 'عالی'},happy\n" for i in range(20))
    write(str(tmp_path), "train.csv", "text,label\n" + rows)
    with pytest.raises(DataError, match=r"is empty in 10 row\(s\): 1, 3, 5, 7, 9 and 5 more"):
        Dataset.load(str(tmp_path), split="train", preprocessor=tokenizer, task="text_classification")


def test_skip_invalid_rows_drops_rows_with_empty_cells_and_counts_them(tmp_path, tokenizer):
    write(str(tmp_path), "train.csv", "text,label\nعالی بود,happy\n,sad\nغمگین هستم,sad\n   ,sad\nبد,\nعصبانی,angry\n")
    write(str(tmp_path), "test.csv", "text,label\nعالی,happy\nبد,\n")
    train = Dataset.load(str(tmp_path), split="train", preprocessor=tokenizer, task="text_classification",
                         skip_invalid_rows=True)
    assert train.config.id2label == {0: "angry", 1: "happy", 2: "sad"}  # no `None` class
    assert len(train) == 3 and train.num_skipped == 3
    test = Dataset.load(str(tmp_path), split="test", preprocessor=tokenizer, config=train.config)
    assert len(test) == 1 and test.num_skipped == 1


def test_unknown_labels_keep_their_row_numbers_when_empty_rows_are_skipped(tmp_path, tokenizer):
    write(str(tmp_path), "test.csv", "text,label\n,happy\nعالی,joy\n")
    with pytest.raises(DataError, match=r"row 1 \('joy'\)"):
        Dataset.load(str(tmp_path), split="test", preprocessor=tokenizer, task="text_classification",
                     id2label={0: "happy"}, skip_invalid_rows=True)


GENERATION = "text_en,text\nseven one,هفت یک\nten,\n,ده دو\n"


def test_empty_text_generation_cells_are_refused_with_their_rows_and_columns(tmp_path, bpe_tokenizer):
    path = write(str(tmp_path), "train.csv", GENERATION)
    with pytest.raises(DataError) as e:
        Dataset.load(str(tmp_path), split="train", preprocessor=bpe_tokenizer, task="text_generation",
                     prompt_field="text_en")
    message = str(e.value)
    assert path in message and "`text` (text_field) is empty in 1 row(s): 1" in message
    assert "`text_en` (prompt_field) is empty in 1 row(s): 2" in message and "skip_invalid_rows: true" in message


def test_skip_invalid_rows_drops_empty_text_generation_rows(tmp_path, bpe_tokenizer):
    write(str(tmp_path), "train.csv", GENERATION)
    train = Dataset.load(str(tmp_path), split="train", preprocessor=bpe_tokenizer, task="text_generation",
                         prompt_field="text_en", skip_invalid_rows=True)
    assert len(train) == 1 and train.num_skipped == 2


def test_tokenizer_training_texts_never_hold_the_string_none(tmp_path):
    write(str(tmp_path), "train.csv", GENERATION)
    with pytest.raises(DataError, match="skip_invalid_rows"):
        list(TextGenerationDataset.training_texts(str(tmp_path), prompt_field="text_en"))
    texts = list(TextGenerationDataset.training_texts(str(tmp_path), prompt_field="text_en", skip_invalid_rows=True))
    assert texts == ["seven one", "هفت یک"]
    write(str(tmp_path / "cls"), "train.csv", CLASSIFICATION)
    with pytest.raises(DataError, match=r"`text` \(text_field\) is empty in 1 row\(s\): 1"):
        list(_training_texts({"path": str(tmp_path / "cls"), "task": "text_classification"}))
    texts = list(_training_texts({"path": str(tmp_path / "cls"), "task": "text_classification",
                                  "skip_invalid_rows": True}))
    assert "None" not in texts and len(texts) == 3


def test_a_null_word_or_tag_in_a_sequence_labeling_table_is_refused(tmp_path, tokenizer):
    path = write(str(tmp_path), "train.jsonl", '{"tokens": ["علی", "رفت"], "tags": ["B-PER", "O"]}\n'
                                               '{"tokens": ["علی", null], "tags": ["B-PER", "O"]}\n'
                                               '{"tokens": ["رفت"], "tags": [null]}\n')
    with pytest.raises(DataError) as e:
        Dataset.load(str(tmp_path), split="train", preprocessor=tokenizer, task="sequence_labeling")
    message = str(e.value)
    assert path in message and "sentence 1 (row 1)" in message
    assert "`tokens` (tokens_field) has empty item(s) at position(s) [1]" in message
