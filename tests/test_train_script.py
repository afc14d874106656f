"""scripts/train.py: one YAML recipe + section.key=value overrides runs a whole training from the command line."""

import os
import subprocess
import sys

import pytest
import yaml

from hezar_accel.models import Model
from hezar_accel.trainer.checkpoint import find_latest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "train.py")


def recipe(tmp_path, data, **trainer):
    content = {
        "trainer": {"output_dir": str(tmp_path / "out"), "task": "text_classification", "device": "cpu",
                    "num_epochs": 1, "batch_size": 16, "log_with": None, "show_progress_bar": False,
                    "metrics": ["accuracy"], **trainer},
        "preprocessor": {"name": "wordpiece_tokenizer", "max_length": 32, "train": {"vocab_size": 300}},
        "dataset": {"path": data, "train_split": "train", "eval_split": "test"},
        "model": {"name": "bert_text_classification", "hidden_size": 16, "num_hidden_layers": 1,
                  "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32},
        "predict": ["عالی بود", "غمگین هستم"],
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True))
    return str(path)


def launch(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300, env=env)


def test_a_recipe_with_overrides_trains_saves_and_predicts(tmp_path, text_data):
    result = launch(recipe(tmp_path, text_data), "trainer.num_epochs=2", "model.hidden_dropout_prob=0.0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "predictions of the model saved in" in result.stdout and "عالی بود  ->  {'label'" in result.stdout
    latest = find_latest(str(tmp_path / "out" / "checkpoints"))
    assert latest.endswith("%08d" % 8)  # 2 epochs x 64 samples / 16
    model = Model.load(latest)
    assert model.config.hidden_dropout_prob == 0.0 and model.config.id2label == {0: "angry", 1: "happy", 2: "sad"}
    assert model.config.vocab_size == model.preprocessor.vocab_size


def test_bad_recipes_fail_before_training_with_one_clear_message(tmp_path, text_data):
    result = launch(recipe(tmp_path, text_data), "trainer.optimizer=adamm", "trainer.batch_size=0", "modle.x=1")
    assert result.returncode == 2
    assert "modle.x=1: unknown section `modle` (did you mean `model`?)" in result.stderr
    result = launch(recipe(tmp_path, text_data), "trainer.optimizer=adamm", "trainer.batch_size=0")
    assert result.returncode == 2
    assert "optimizer: `adamm`" in result.stderr and "batch_size: 0" in result.stderr
    assert not os.path.exists(tmp_path / "out" / "checkpoints")


@pytest.mark.distributed
def test_two_processes_share_the_tokenizer_the_main_process_trained(tmp_path, text_data):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               os.path.join(REPO, "accelerate_configs", "cpu.yaml"), SCRIPT, recipe(tmp_path, text_data)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 (MULTI_CPU)" in result.stdout  # two real processes, not two single-process copies
    latest = find_latest(str(tmp_path / "out" / "checkpoints"))
    assert latest.endswith("%08d" % 2)  # 64 samples / (16 x 2 processes)
    assert Model.load(latest).preprocessor.vocab_size == Model.load(latest).config.vocab_size


@pytest.mark.distributed
def test_a_bad_recipe_under_two_processes_prints_its_error_once(tmp_path, text_data):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               os.path.join(REPO, "accelerate_configs", "cpu.yaml"), SCRIPT, recipe(tmp_path, text_data),
               "trainer.optimizer=adamm"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    assert (result.stdout + result.stderr).count("optimizer: `adamm` is not valid") == 1
