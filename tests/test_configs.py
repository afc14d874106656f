"""Config base and TrainerConfig: YAML round trip, unknown keys, wrong types, all problems in one message, immutability."""

import pytest

from hezar_accel.configs import Config, ModelConfig
from hezar_accel.errors import ConfigError
from hezar_accel.models import BertTextClassificationConfig
from hezar_accel.trainer import TrainerConfig


def valid(**overrides):
    return TrainerConfig(**{"output_dir": "out", "task": "text_classification", "num_epochs": 1, **overrides})


def test_a_model_config_round_trips_through_yaml(tmp_path):
    config = BertTextClassificationConfig(id2label={0: "شاد", 1: "غمگین"}, hidden_size=32, num_attention_heads=2)
    path = config.save(tmp_path)
    assert path.endswith("model_config.yaml")
    assert "شاد" in open(path, encoding="utf-8").read()  # Persian labels stay readable
    loaded = ModelConfig.load(tmp_path)  # generic base -> concrete class through the registry
    assert type(loaded) is BertTextClassificationConfig
    assert loaded.to_dict() == config.to_dict()


def test_trainer_config_round_trips_through_yaml(tmp_path):
    config = valid(save_steps=0.25, warmup_steps=0.1, metrics=["f1", "accuracy"], metric_for_best_model="f1")
    config.save(tmp_path)
    assert TrainerConfig.load(tmp_path / "train_config.yaml") == config


def test_unknown_keys_are_rejected_with_the_closest_valid_name():
    with pytest.raises(ConfigError) as e:
        TrainerConfig.from_dict({"output_dir": "o", "task": "text_classification", "num_epochs": 1, "learnin_rate": 1})
    assert "learnin_rate" in str(e.value) and "learning_rate" in str(e.value)


def test_wrong_types_name_the_field_the_value_and_the_expected_type():
    with pytest.raises(ConfigError) as e:
        TrainerConfig.from_dict({"output_dir": "o", "task": "text_classification", "num_epochs": "three"})
    assert "num_epochs" in str(e.value) and "'three'" in str(e.value) and "int" in str(e.value)


def test_every_problem_is_reported_in_one_message():
    with pytest.raises(ConfigError) as e:
        TrainerConfig(output_dir="o", task="text_clasification", num_epochs=1, optimizer="adamm", learning_rate=-1.0,
                      batch_size=0, lr_scheduler="cosin", mixed_precision="fp8", save_steps=1.5, warmup_steps=-3,
                      gradient_accumulation_steps=0)
    message = str(e.value)
    for expected in ("task: `text_clasification`", "did you mean `text_classification`", "optimizer: `adamm`",
                     "did you mean `adam`", "learning_rate: -1.0", "batch_size: 0", "lr_scheduler: `cosin`",
                     "mixed_precision: `fp8`", "save_steps: 1.5", "warmup_steps: -3", "gradient_accumulation_steps: 0"):
        assert expected in message, expected
    assert len(e.value.problems) == 9


def test_unknown_metrics_and_an_unproduced_best_metric_are_config_errors():
    with pytest.raises(ConfigError) as e:
        valid(metrics=["f2"])
    assert "f2" in str(e.value) and "f1" in str(e.value)
    with pytest.raises(ConfigError) as e:
        valid(metrics=["accuracy"], metric_for_best_model="f1")
    assert "metric_for_best_model" in str(e.value)
    assert valid(metrics=["accuracy"], metric_for_best_model="evaluation.accuracy").best_metric_name == "accuracy"


def test_num_epochs_or_max_steps_is_required():
    with pytest.raises(ConfigError, match="num_epochs"):
        TrainerConfig(output_dir="o", task="text_classification")
    assert TrainerConfig(output_dir="o", task="text_classification", max_steps=5).num_epochs is None


def test_the_trainer_config_is_immutable_after_validation():
    config = valid()
    with pytest.raises(AttributeError, match="immutable"):
        config.batch_size = 64
    changed = config.replace(batch_size=64)
    assert changed.batch_size == 64 and config.batch_size == 8


def test_loss_cer_and_wer_are_lower_is_better_by_default():
    assert valid().best_is_greater is False
    assert valid(metric_for_best_model="f1").best_is_greater is True
    assert valid(metric_for_best_model="f1", greater_is_better=False).best_is_greater is False


def test_malformed_yaml_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("output_dir: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        TrainerConfig.load(path)


def test_a_plain_config_rejects_a_non_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        Config.from_dict(["a", "b"])
