"""Hezar 1.0 TrainerConfig settings: each is taken with Hezar's meaning, or refused with what to use here."""

import os

import pytest
import yaml

from hezar_accel.errors import ConfigError
from hezar_accel.trainer import TrainerConfig
from hezar_accel.trainer.hezar_fields import HEZAR_ONLY_FIELDS, HEZAR_VALUES

# The fields of hezar.configs.TrainerConfig in Hezar 1.0 (checked against the installed source below when present).
HEZAR_1_0_FIELDS = [
    "output_dir", "task", "device", "num_epochs", "init_weights_from", "resume_from_checkpoint", "max_steps",
    "num_dataloader_workers", "dataloader_shuffle", "seed", "optimizer", "learning_rate", "weight_decay",
    "lr_scheduler", "lr_scheduler_kwargs", "lr_scheduling_steps", "batch_size", "eval_batch_size",
    "gradient_accumulation_steps", "distributed", "mixed_precision", "use_cpu", "do_evaluate",
    "evaluate_with_generate", "metrics", "metric_for_best_model", "save_enabled", "save_freq", "save_steps",
    "log_steps", "checkpoints_dir", "logs_dir",
]

# What Hezar 1.0 writes for TrainerConfig(output_dir="out", task="text_classification").save(...).
HEZAR_WRITTEN_TRAIN_CONFIG = """\
name: trainer
config_type: trainer
output_dir: out
task: text_classification
device: cuda
num_epochs: 1
num_dataloader_workers: 0
dataloader_shuffle: true
seed: 42
learning_rate: 2.0e-05
weight_decay: 0.0
batch_size: 1
gradient_accumulation_steps: 1
distributed: false
use_cpu: false
do_evaluate: true
evaluate_with_generate: true
metric_for_best_model: evaluation.loss
save_enabled: true
save_freq: deprecated
checkpoints_dir: checkpoints
logs_dir: logs
"""

BASE = {"output_dir": "out", "task": "text_classification", "num_epochs": 1}


def test_every_hezar_field_is_a_field_here_so_hezar_keywords_never_raise_a_type_error():
    assert set(HEZAR_1_0_FIELDS) <= set(TrainerConfig.field_names())
    assert set(HEZAR_ONLY_FIELDS) <= set(HEZAR_1_0_FIELDS)


def test_the_field_list_matches_the_installed_hezar_source():
    source = "/work/venv-hezar/lib/python3.11/site-packages/hezar/configs.py"
    if not os.path.isfile(source):
        pytest.skip("Hezar's source is not installed here")
    import ast

    tree = ast.parse(open(source, encoding="utf-8").read())
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "TrainerConfig")
    fields = [n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)]
    assert [f for f in fields if f not in ("name", "config_type")] == HEZAR_1_0_FIELDS


def test_a_train_config_yaml_written_by_hezar_loads_with_hezar_meaning(tmp_path):
    path = tmp_path / "train_config.yaml"
    path.write_text(HEZAR_WRITTEN_TRAIN_CONFIG)
    config = TrainerConfig.load(path)
    assert config.save_freq is None  # Hezar's `deprecated` placeholder = not set
    assert config.best_metric_name == "loss" and config.batch_size == 1
    assert "save_freq" not in config.saved_dict()


def test_hezar_unset_values_mean_the_default_here():
    config = TrainerConfig(**BASE, optimizer=None, save_freq="deprecated", lr_scheduling_steps=None)
    assert config.optimizer == "adam" and config.save_freq is None and config.lr_scheduling_steps is None


def test_lr_scheduling_steps_is_refused_with_the_mapping_from_keywords_and_from_yaml(tmp_path):
    with pytest.raises(ConfigError) as e:
        TrainerConfig(**{**BASE, "lr_scheduling_steps": 100, "learning_rate": -1.0})
    message = str(e.value)
    assert "lr_scheduling_steps: 100 is Hezar's per-N-updates scheduler stepping" in message
    assert "warmup_steps" in message and "lr_scheduler" in message
    assert "learning_rate: -1.0 must be > 0" in message  # every problem in one message
    path = tmp_path / "train_config.yaml"
    path.write_text(yaml.safe_dump({**BASE, "lr_scheduling_steps": 50}))
    with pytest.raises(ConfigError, match="lr_scheduling_steps: 50 is Hezar's"):
        TrainerConfig.load(path)


def test_hezar_choices_missing_here_say_what_to_use_instead():
    with pytest.raises(ConfigError) as e:
        TrainerConfig.from_dict({**BASE, "optimizer": "sdg", "lr_scheduler": "cosine_anealing",
                                 "mixed_precision": "fp8"})
    message = str(e.value)
    assert "optimizer: `sdg` is Hezar's spelling of SGD; use `sgd`" in message
    assert "lr_scheduler: `cosine_anealing` is Hezar's torch CosineAnnealingLR" in message and "use `cosine`" in message
    assert "mixed_precision: `fp8` is not supported here; use `bf16`" in message


def test_every_hezar_value_in_the_table_is_one_hezar_has_and_this_trainer_lacks():
    from hezar_accel.constants import LRSchedulerType, OptimizerType, PrecisionType

    here = {"optimizer": OptimizerType.values(), "lr_scheduler": LRSchedulerType.values(),
            "mixed_precision": PrecisionType.values()}
    for name, value in HEZAR_VALUES:
        assert value not in here[name], (name, value)


def test_an_unset_hezar_only_field_stays_out_of_saved_configs(tmp_path):
    config = TrainerConfig(**BASE)
    config.save(tmp_path)
    assert "lr_scheduling_steps" not in (tmp_path / "train_config.yaml").read_text()
