"""The README.md model card of a pushed model folder: built from the run's configs and state, in the Hub's format."""

import yaml

from hezar_accel.data.text_classification import TextClassificationDatasetConfig
from hezar_accel.models import BertTextClassificationConfig
from hezar_accel.trainer import TrainerConfig, TrainerState
from hezar_accel.trainer.model_card import model_card_text, write_model_card

CONFIG = TrainerConfig(output_dir="out", task="text_classification", num_epochs=3, batch_size=16, learning_rate=1e-3,
                       metrics=["f1", "accuracy"], metric_for_best_model="f1", log_with=None)
STATE = TrainerState(global_step=30, best_metric=0.61, best_step=20, log_history=[
    {"step": 10, "evaluation.loss": 1.2, "evaluation.f1": 0.4, "evaluation.accuracy": 0.5},
    {"step": 20, "evaluation.loss": 0.9, "evaluation.f1": 0.61, "evaluation.accuracy": 0.66},
    {"step": 30, "evaluation.loss": 0.95, "evaluation.f1": 0.58, "evaluation.accuracy": 0.64},
])
DATA = TextClassificationDatasetConfig(path="data/sentiment_persian_tweets", text_field="text", label_field="label")
MODEL = BertTextClassificationConfig(id2label={0: "sad", 1: "happy"}, hidden_size=32, num_attention_heads=2)


def front_matter(card):
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_the_card_has_hub_front_matter_with_library_tags_language_and_metrics():
    meta = front_matter(model_card_text(CONFIG, STATE, DATA, MODEL, repo_id="user/sentiment"))
    assert meta["library_name"] == "hezar_accel" and meta["language"] == "fa"
    assert {"hezar", "bert_text_classification", "text_classification"} <= set(meta["tags"])
    assert meta["metrics"] == ["f1", "accuracy"] and meta["pipeline_tag"] == "text-classification"


def test_the_card_names_task_model_data_best_and_last_evaluation_and_training_settings():
    card = model_card_text(CONFIG, STATE, DATA, MODEL, repo_id="user/sentiment")
    assert "# bert_text_classification (text_classification)" in card
    assert 'Model.load("user/sentiment")' in card
    assert "| path | `data/sentiment_persian_tweets` |" in card and "| text_field | `text` |" in card
    assert "| metric | best by f1 (step 20) | last (step 30) |" in card
    assert "| f1 | 0.61 | 0.58 |" in card and "| loss | 0.9 | 0.95 |" in card
    assert "| learning_rate | `0.001` |" in card and "| batch_size | `16` |" in card
    assert "| optimizer updates done | 30 |" in card


def test_a_run_without_evaluation_or_data_config_says_so():
    card = model_card_text(CONFIG, TrainerState(global_step=5), None, MODEL)
    assert "No evaluation was recorded." in card and "Not recorded." in card
    assert "metrics" not in front_matter(card)


def test_write_model_card_reads_a_checkpoint_folder_and_keeps_a_hand_written_card(tmp_path):
    MODEL.save(tmp_path)
    CONFIG.save(tmp_path / "train")
    DATA.save(tmp_path / "train")
    (tmp_path / "train" / "trainer_state.yaml").write_text(yaml.safe_dump(STATE.to_dict()))
    path = write_model_card(str(tmp_path), repo_id="user/x")
    assert path == str(tmp_path / "README.md")
    assert "| f1 | 0.61 | 0.58 |" in (tmp_path / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text("mine")
    assert write_model_card(str(tmp_path)) is None and (tmp_path / "README.md").read_text() == "mine"
    assert write_model_card(str(tmp_path / "train")) is None  # not a model folder
