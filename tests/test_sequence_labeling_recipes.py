"""Sequence-labeling recipes: tag schemes decide the metrics, split slices, the lookup baseline, the character CNN, and
a recipe that picks its checkpoint on dev and reports test once."""

import importlib.util
import json
import os

import numpy as np
import pytest
import torch
import yaml

from hezar_accel.data import Dataset
from hezar_accel.data.sequence_labeling import SequenceLabelingDatasetConfig, read_word_tags
from hezar_accel.data.splits import parse_split
from hezar_accel.errors import ConfigError, DataError
from hezar_accel.metrics import get_metrics_handler_class
from hezar_accel.models import BertSequenceLabeling, BertSequenceLabelingConfig, Model
from hezar_accel.preprocessors import WordPieceTokenizer
from hezar_accel.tag_schemes import detect_tag_scheme
from hezar_accel.trainer import Trainer, TrainerConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NER_TINY = os.path.join(REPO, "tests", "fixtures", "ner_tiny")

# Hand-written POS sentences (UD tags): a verb suffix (-م) and a plural suffix (-ها) recur, so characters help.
POS_SENTENCES = [
    [("من", "PRON"), ("کتاب‌ها", "NOUN"), ("را", "ADP"), ("خواندم", "VERB")],
    [("او", "PRON"), ("نامه‌ها", "NOUN"), ("را", "ADP"), ("نوشت", "VERB")],
    [("ما", "PRON"), ("به", "ADP"), ("خانه", "NOUN"), ("رفتیم", "VERB")],
    [("من", "PRON"), ("دیروز", "ADV"), ("آمدم", "VERB")],
    [("گل‌ها", "NOUN"), ("زیبا", "ADJ"), ("هستند", "AUX")],
    [("تو", "PRON"), ("درس‌ها", "NOUN"), ("را", "ADP"), ("خواندی", "VERB")],
]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_conll(path, sentences):
    with open(path, "w", encoding="utf-8") as f:
        for sentence in sentences:
            f.write("".join(f"{word}\t{tag}\n" for word, tag in sentence) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def pos_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pos")
    write_conll(folder / "dev.tsv", POS_SENTENCES * 4)
    write_conll(folder / "test.tsv", POS_SENTENCES[:3])
    return str(folder)


@pytest.fixture(scope="module")
def tokenizer(pos_folder):
    words = [w for sentence in POS_SENTENCES for w, _ in sentence]
    return WordPieceTokenizer.train([" ".join(words)] * 5, vocab_size=120, min_frequency=1, max_length=32)


def load_pos(folder, tokenizer, **fields):
    return Dataset.load(folder, split="dev", preprocessor=tokenizer, task="sequence_labeling", label_split="dev",
                        max_length=32, **fields)


# -- tag schemes and the metrics they allow -----------------------------------------------------------------------

def test_iob2_and_iobes_tag_sets_are_detected_and_pos_tags_have_no_scheme():
    assert detect_tag_scheme(["O", "B-PER", "I-PER", "B-LOC"]) == "iob2"
    assert detect_tag_scheme(["O", "B-PER", "I-PER", "E-PER", "S-LOC"]) == "iobes"
    assert detect_tag_scheme(["NOUN", "VERB", "ADJ", "O"]) == "none"  # NOUN is not B-/I- + a type
    assert detect_tag_scheme(["O"]) == "none"
    assert detect_tag_scheme(["N_SING", "V_PA"]) == "none"


def test_a_declared_tag_scheme_that_does_not_fit_the_tags_names_the_field_and_the_fix():
    with pytest.raises(ConfigError, match=r"tag_scheme: `iob2` does not fit the tags `NOUN`.*tag_scheme: none"):
        SequenceLabelingDatasetConfig(path="x", tag_scheme="iob2", id2label={0: "NOUN", 1: "B-PER"})
    with pytest.raises(ConfigError, match=r"tag_scheme: 'iob' \(did you mean `iob2`\?\)"):
        SequenceLabelingDatasetConfig(path="x", tag_scheme="iob")


def test_pos_tags_get_token_accuracy_and_ner_tags_get_seqeval_with_per_type_f1():
    handler_class = get_metrics_handler_class("sequence_labeling")
    pos = handler_class(None, model_config={"id2label": {0: "NOUN", 1: "VERB", 2: "ADJ"}})
    assert pos.metrics == ["accuracy"] and pos.outputs() == ["accuracy"]
    pos.add_batch(np.array([[0, 1, 1, -100]]), np.array([[0, 1, 2, -100]]))
    assert pos.compute() == {"accuracy": pytest.approx(2 / 3)}

    ner = handler_class(None, model_config={"id2label": {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC"}})
    assert ner.metrics == ["seqeval"]
    ner.add_batch(np.array([[1, 2, 0, 0]]), np.array([[1, 2, 0, 3]]))
    assert ner.compute() == pytest.approx({"f1": 2 / 3, "precision": 1.0, "recall": 1 / 2, "accuracy": 3 / 4,
                                           "f1_LOC": 0.0, "f1_PER": 1.0})
    # A declared `none` scores an IOB set by accuracy alone.
    plain = handler_class(None, model_config={"id2label": {0: "O", 1: "B-PER"}}, dataset_config={"tag_scheme": "none"})
    assert plain.metrics == ["accuracy"]


def test_seqeval_on_pos_tags_is_a_config_error_that_says_to_use_accuracy():
    handler_class = get_metrics_handler_class("sequence_labeling")
    with pytest.raises(ConfigError, match=r"metrics: `seqeval` scores entities.*NOUN.*Use metrics: \[accuracy\]"):
        handler_class(["seqeval"], model_config={"id2label": {0: "NOUN", 1: "VERB"}})


def test_f1_as_best_metric_on_a_pos_tag_set_is_refused_before_training(tmp_path, pos_folder, tokenizer):
    train = load_pos(pos_folder, tokenizer)
    model = BertSequenceLabeling(tiny_config(train))
    config = TrainerConfig(output_dir=str(tmp_path), task="sequence_labeling", device="cpu", num_epochs=1,
                           metric_for_best_model="f1", log_with=None, show_progress_bar=False)
    with pytest.raises(ConfigError, match=r"metric_for_best_model: `f1` is an entity score.*use metric_for_best_model: "
                                          r"accuracy"):
        Trainer(config, model, train_dataset=train, eval_dataset=train, preprocessor=tokenizer)


# -- split slices -------------------------------------------------------------------------------------------------

def test_split_slices_carve_contiguous_disjoint_parts_of_one_file(pos_folder):
    config = SequenceLabelingDatasetConfig(path=pos_folder)
    whole = read_word_tags(config, "dev").tokens
    head, tail = read_word_tags(config, "dev[:75%]").tokens, read_word_tags(config, "dev[75%:]").tokens
    assert head + tail == whole and len(head) == 18
    assert read_word_tags(config, "dev[2:4]").tokens == whole[2:4]
    assert parse_split("dev[-10%:]").bounds(30) == (27, 30)
    with pytest.raises(DataError, match=r"split `dev\[90%\]` is not a split name or a slice"):
        parse_split("dev[90%]")
    with pytest.raises(DataError, match="keeps none of the 24 sentences"):
        read_word_tags(config, "dev[5:5]")


# -- the lookup baseline ------------------------------------------------------------------------------------------

def test_the_lookup_tags_a_word_by_its_most_frequent_tag_and_unknown_words_by_the_overall_one():
    baselines = load_script("baselines")
    tagger = baselines.MostFrequentTagTagger().fit([["را", "را", "کتاب"], ["را"]], [["ADP", "PART", "NOUN"], ["ADP"]])
    assert tagger.predict(["را", "کتاب", "ناشناخته"]) == ["ADP", "NOUN", "ADP"]


def test_the_lookup_rewrites_iob_output_into_the_valid_sequence_seqeval_reads():
    baselines = load_script("baselines")
    tagger = baselines.MostFrequentTagTagger("iob2").fit([["علی", "دایی", "رفت"]], [["B-PER", "I-PER", "O"]])
    assert tagger.predict(["دایی", "دایی", "رفت"]) == ["B-PER", "I-PER", "O"]  # raw lookup: I-PER I-PER O
    assert baselines.as_valid_sequence(["I-PER", "B-LOC", "I-LOC", "O", "I-ORG"], "iobes") == \
        ["S-PER", "B-LOC", "E-LOC", "O", "S-ORG"]


def test_the_baseline_script_scores_a_recipe_as_seqeval_scores_its_predictions(tmp_path, capsys):
    from seqeval.metrics import f1_score

    baselines = load_script("baselines")
    recipe = {"trainer": {"metrics": ["seqeval"]},
              "dataset": {"path": NER_TINY, "task": "sequence_labeling", "train_split": "train[:30]",
                          "eval_split": "train[30:]", "test_split": "test"}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    assert baselines.main([str(path), "--also", f"{NER_TINY}:train", "--json", str(tmp_path / "b.json")]) == 0
    result = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert result["scheme"] == "iob2" and result["train"]["sentences"] == 30
    assert list(result["splits"]) == ["dev (train[30:])", "test (test)", f"{NER_TINY}:train"]
    config = SequenceLabelingDatasetConfig(path=NER_TINY)
    train, test = read_word_tags(config, "train[:30]"), read_word_tags(config, "test")
    tagger = baselines.MostFrequentTagTagger("iob2").fit(train.tokens, train.tags)
    expected = f1_score(test.tags, [tagger.predict(words) for words in test.tokens])
    assert result["splits"]["test (test)"]["f1"] == pytest.approx(expected)
    assert 0 < expected < result["splits"][f"{NER_TINY}:train"]["f1"]  # seen sentences score higher
    assert {"f1_PER", "f1_LOC", "accuracy", "unknown_words"} <= set(result["splits"]["test (test)"])


# -- the character CNN --------------------------------------------------------------------------------------------

def tiny_config(train, **fields):
    return BertSequenceLabelingConfig(
        id2label=train.config.id2label, vocab_size=train.tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **fields)


def test_without_the_char_cnn_the_config_and_weights_are_hezars(tmp_path, pos_folder, tokenizer):
    train = load_pos(pos_folder, tokenizer)
    model = BertSequenceLabeling(tiny_config(train))
    model.save(str(tmp_path))
    saved = yaml.safe_load((tmp_path / "model_config.yaml").read_text(encoding="utf-8"))
    assert not {k for k in saved if k.startswith("char_") or k in ("max_word_chars", "word_dropout")}
    assert not any("char" in key for key in model.state_dict())
    assert model.classifier.weight.shape == (len(train.config.id2label), 16)
    assert "word_chars" not in train[0]


def test_word_dropout_hides_token_ids_in_training_only(pos_folder, tokenizer):
    from hezar_accel.models.tasks.char_cnn import drop_words

    ids = torch.arange(1, 4001).reshape(40, 100)
    assert torch.equal(drop_words(ids, 0.3, 0, training=False), ids)
    assert torch.equal(drop_words(ids, None, 0, training=True), ids)
    dropped = drop_words(ids, 0.3, 0, training=True)
    hidden = dropped == 0
    assert 0.25 < hidden.float().mean().item() < 0.35 and torch.equal(dropped[~hidden], ids[~hidden])
    with pytest.raises(ConfigError, match=r"word_dropout: 1.5 must be a probability in \[0, 1\)"):
        BertSequenceLabelingConfig(id2label={0: "O"}, word_dropout=1.5)


def test_a_char_cnn_tagger_refuses_a_batch_without_word_chars(pos_folder, tokenizer):
    train = load_pos(pos_folder, tokenizer)
    model = BertSequenceLabeling(tiny_config(train, char_cnn_filters=4, max_word_chars=8))
    batch = train.data_collator([train[0], train[1]])
    with pytest.raises(ValueError, match="needs `word_chars`.*max_word_chars"):
        model(**batch)
    with pytest.raises(ConfigError, match="max_word_chars: required with char_cnn_filters"):
        tiny_config(train, char_cnn_filters=4)


def test_a_char_cnn_tagger_trains_and_round_trips_through_save_and_load(tmp_path, pos_folder, tokenizer):
    train = load_pos(pos_folder, tokenizer, max_word_chars=8)
    test = Dataset.load(pos_folder, split="test", preprocessor=tokenizer, config=train.config)
    assert np.asarray(train[0]["word_chars"]).shape == (len(train[0]["token_ids"]), 8)
    torch.manual_seed(0)
    model = BertSequenceLabeling(tiny_config(train, char_cnn_filters=8, max_word_chars=8, char_embedding_dim=8))
    config = TrainerConfig(output_dir=str(tmp_path / "run"), task="sequence_labeling", device="cpu", num_epochs=6,
                           batch_size=8, optimizer="adamw", learning_rate=1e-2, metric_for_best_model="accuracy",
                           log_with=None, show_progress_bar=False, write_plots=False, save_total_limit=1)
    initial_char_table = model.char_cnn.embeddings.weight.detach().clone()
    trainer = Trainer(config, model, train_dataset=train, eval_dataset=test, preprocessor=tokenizer)
    before = trainer.evaluate()
    after = trainer.train()
    assert after["loss"] < before["loss"] and after["accuracy"] > before["accuracy"]
    assert not torch.equal(trainer.unwrapped_model.char_cnn.embeddings.weight, initial_char_table)  # it learned
    folder = str(tmp_path / "saved")
    trainer.save(folder)
    loaded = Model.load(folder)
    assert loaded.config.char_cnn_filters == 8 and loaded.config.max_word_chars == 8
    batch = train.data_collator([train[i] for i in range(3)])
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    trained = trainer.unwrapped_model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(**inputs)["logits"], trained(**inputs)["logits"])
    words = [w for w, _ in POS_SENTENCES[0]]
    predicted = loaded.predict(words)[0]
    assert [p["token"] for p in predicted] == words
    # predict builds word_chars as the dataset does: the same logits as the training batch for that sentence.
    with torch.no_grad():
        from_preprocess = loaded(**loaded.preprocess(words))["logits"][0]
    assert torch.allclose(from_preprocess, loaded(**inputs)["logits"][0][:from_preprocess.shape[0]], atol=1e-6)


# -- the BiLSTM tagger -----------------------------------------------------------------------------------------------

def bilstm(train, tokenizer, **fields):
    from hezar_accel.models import BiLSTMSequenceLabeling, BiLSTMSequenceLabelingConfig

    settings = dict(id2label=train.config.id2label, vocab_size=tokenizer.vocab_size,
                    pad_token_id=tokenizer.pad_token_id, embedding_dim=16, hidden_size=16, char_cnn_filters=8,
                    char_embedding_dim=8, max_word_chars=8)
    settings.update(fields)
    return BiLSTMSequenceLabeling(BiLSTMSequenceLabelingConfig(**settings))


def test_a_bilstm_tagger_tags_a_sentence_alike_whatever_it_is_batched_with(pos_folder, tokenizer):
    train = load_pos(pos_folder, tokenizer, max_word_chars=8)
    torch.manual_seed(0)
    model = bilstm(train, tokenizer, num_layers=2).eval()
    short = min(range(len(train)), key=lambda i: len(train[i]["token_ids"]))
    long = max(range(len(train)), key=lambda i: len(train[i]["token_ids"]))
    alone = train.data_collator([train[short]])
    padded = train.data_collator([train[long], train[short]])
    assert padded["token_ids"].shape[1] > alone["token_ids"].shape[1]  # the short sentence is padded in the pair
    with torch.no_grad():
        by_itself = model(**{k: v for k, v in alone.items() if k != "labels"})["logits"][0]
        beside_a_longer_one = model(**{k: v for k, v in padded.items() if k != "labels"})["logits"][1]
    # Packed by the attention mask: the padding after it never reaches the backward direction.
    assert torch.allclose(beside_a_longer_one[:by_itself.shape[0]], by_itself, atol=1e-6)


def test_a_bilstm_tagger_trains_and_round_trips_through_save_load_and_predict(tmp_path, pos_folder, tokenizer):
    train = load_pos(pos_folder, tokenizer, max_word_chars=8)
    test = Dataset.load(pos_folder, split="test", preprocessor=tokenizer, config=train.config)
    torch.manual_seed(0)
    model = bilstm(train, tokenizer, word_dropout=0.1)
    config = TrainerConfig(output_dir=str(tmp_path / "run"), task="sequence_labeling", device="cpu", num_epochs=8,
                           batch_size=8, optimizer="adamw", learning_rate=1e-2, metric_for_best_model="accuracy",
                           log_with=None, show_progress_bar=False, write_plots=False, save_total_limit=1)
    trainer = Trainer(config, model, train_dataset=train, eval_dataset=test, preprocessor=tokenizer)
    before = trainer.evaluate()
    after = trainer.train()
    assert after["loss"] < before["loss"] and after["accuracy"] > before["accuracy"]
    folder = str(tmp_path / "saved")
    trainer.save(folder)
    loaded = Model.load(folder)
    assert type(loaded).__name__ == "BiLSTMSequenceLabeling" and loaded.config.max_word_chars == 8
    batch = train.data_collator([train[i] for i in range(3)])
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        assert torch.equal(loaded(**inputs)["logits"], trainer.unwrapped_model.eval()(**inputs)["logits"])
    words = [w for w, _ in POS_SENTENCES[1]]
    predicted = loaded.predict(words)[0]
    assert [p["token"] for p in predicted] == words
    assert {p["label"] for p in predicted} <= set(train.config.id2label.values())


def test_a_bilstm_config_names_each_bad_field():
    from hezar_accel.models import BiLSTMSequenceLabelingConfig

    with pytest.raises(ConfigError) as error:
        BiLSTMSequenceLabelingConfig(id2label={0: "O"}, vocab_size=None, hidden_size=0, dropout=1.0)
    message = str(error.value)
    assert "vocab_size: required" in message and "hidden_size: 0 must be a positive integer" in message
    assert "dropout: 1.0 must be in [0, 1)" in message


# -- a recipe picks on dev and reports test once -------------------------------------------------------------------

def pos_recipe(tmp_path, pos_folder, **dataset):
    content = {
        "trainer": {"output_dir": str(tmp_path / "out"), "task": "sequence_labeling", "device": "cpu",
                    "num_epochs": 3, "batch_size": 8, "learning_rate": 0.01, "optimizer": "adamw",
                    "metrics": ["accuracy"], "metric_for_best_model": "accuracy", "load_best_model_at_end": True,
                    "log_with": None, "show_progress_bar": False, "write_plots": False},
        "preprocessor": {"name": "wordpiece_tokenizer", "max_length": 32, "train": {"vocab_size": 120,
                                                                                     "min_frequency": 1}},
        "dataset": {"path": pos_folder, "task": "sequence_labeling", "label_split": "dev",
                    "train_split": "dev[:75%]", "eval_split": "dev[75%:]", "test_split": "test", "max_length": 32,
                    **dataset},
        "model": {"name": "bert_sequence_labeling", "hidden_size": 16, "num_hidden_layers": 1,
                  "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_a_recipe_whose_test_split_also_picks_checkpoints_is_refused(tmp_path, pos_folder, capsys):
    train_script = load_script("train")
    assert train_script.main([pos_recipe(tmp_path, pos_folder, eval_split="test")]) == 2
    assert "dataset.test_split: `test` is also eval_split" in capsys.readouterr().err


def test_a_recipe_switches_to_the_bilstm_tagger_by_the_model_section_alone(tmp_path, pos_folder, capsys):
    recipe = yaml.safe_load(open(pos_recipe(tmp_path, pos_folder, max_word_chars=8), encoding="utf-8"))
    recipe["model"] = {"name": "bilstm_sequence_labeling", "embedding_dim": 16, "hidden_size": 16,
                       "char_cnn_filters": 4}
    path = tmp_path / "bilstm.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    assert load_script("train").main([str(path)]) == 0
    saved = yaml.safe_load((tmp_path / "out" / "checkpoints" / "trainer_state.yaml").read_text(encoding="utf-8"))
    loaded = Model.load(str(tmp_path / "out" / "checkpoints" / saved["best_checkpoint"]))
    # vocab_size, pad_token_id, id2label and max_word_chars came from the tokenizer and the dataset
    assert loaded.config.max_word_chars == 8 and loaded.config.vocab_size == loaded.preprocessor.vocab_size


def test_the_train_script_reports_dev_and_test_of_the_best_checkpoint(tmp_path, pos_folder, capsys):
    train_script = load_script("train")
    recipe = pos_recipe(tmp_path, pos_folder, max_word_chars=8)
    assert train_script.main([recipe, "model.char_cnn_filters=4"]) == 0
    out = capsys.readouterr().out
    assert "final model: the best checkpoint" in out and "test (test):" in out
    result = json.loads((tmp_path / "out" / "final_evaluation.json").read_text(encoding="utf-8"))
    assert result["model"] == "best" and result["dev_split"] == "dev[75%:]" and result["test_split"] == "test"
    state = yaml.safe_load((tmp_path / "out" / "checkpoints" / "trainer_state.yaml").read_text(encoding="utf-8"))
    # The reported dev score is the best checkpoint's, evaluated again after loading it.
    assert result["best_step"] == state["best_step"]
    assert result["dev"]["accuracy"] == pytest.approx(state["best_metric"])
    assert set(result["test"]) == {"loss", "accuracy"} and result["train_wall_seconds"] > 0
