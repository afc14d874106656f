"""Relative paths in a recipe resolve against the recipe file's folder, so a recipe runs from any directory."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from hezar_accel.recipe import load_recipe
from hezar_accel.recipe_paths import resolve_recipe_paths
from hezar_accel.trainer.checkpoint import find_latest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_recipe(folder, **sections):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "recipe.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(sections, f, allow_unicode=True)
    return path


def test_relative_paths_written_in_a_recipe_resolve_against_its_folder(tmp_path, monkeypatch, capsys):
    os.makedirs(tmp_path / "recipes" / "data")
    os.makedirs(tmp_path / "recipes" / "base_model")
    path = write_recipe(str(tmp_path / "recipes"), trainer={"output_dir": "runs/a", "init_weights_from": "base_model",
                                                            "resume_from_checkpoint": True},
                        dataset={"path": "data"}, model={"name": "bert_text_classification"})
    monkeypatch.chdir(tmp_path / "recipes" / "data")  # anywhere but the recipe's folder
    recipe = load_recipe(os.path.relpath(path))
    assert os.path.samefile(recipe["dataset"]["path"], tmp_path / "recipes" / "data")
    assert os.path.samefile(recipe["trainer"]["init_weights_from"], tmp_path / "recipes" / "base_model")
    assert os.path.abspath(recipe["trainer"]["output_dir"]) == str(tmp_path / "recipes" / "runs" / "a")
    assert recipe["trainer"]["resume_from_checkpoint"] is True
    assert capsys.readouterr().out.startswith(f"paths in {os.path.relpath(path)} resolve against ../")


def test_command_line_overrides_stay_relative_to_the_current_directory(tmp_path, monkeypatch):
    path = write_recipe(str(tmp_path / "recipes"), trainer={"output_dir": "runs/a"}, dataset={"path": "data"})
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(path, ["trainer.output_dir=mine", "dataset={path: here}"])
    assert recipe["trainer"]["output_dir"] == "mine" and recipe["dataset"]["path"] == "here"


def test_a_hub_repo_id_and_an_absolute_path_stay_as_written(tmp_path):
    absolute = str(tmp_path / "elsewhere")
    recipe = {"model": {"path": "hezarai/bert-base-fa"}, "dataset": {"path": absolute}}
    resolved, lines = resolve_recipe_paths(recipe, str(tmp_path / "r.yaml"))
    assert resolved["model"]["path"] == "hezarai/bert-base-fa" and resolved["dataset"]["path"] == absolute
    assert "  model.path: `hezarai/bert-base-fa` is not a local path; read as a Hub repo id" in lines
    assert recipe["model"]["path"] == "hezarai/bert-base-fa"  # the input is not modified


def test_an_input_found_only_in_the_current_directory_is_read_there_and_said(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "work" / "old_data")
    monkeypatch.chdir(tmp_path / "work")
    resolved, lines = resolve_recipe_paths({"dataset": {"path": "old_data"}}, str(tmp_path / "recipes" / "r.yaml"))
    assert resolved["dataset"]["path"] == "old_data"
    assert any(line.startswith("  dataset.path: `old_data` is not in") and "current directory" in line
               for line in lines)


@pytest.mark.parametrize("name", ["sentiment_bert", "pretrain_mlm_bert", "ner_bert", "ocr_plates", "speech_digits",
                                  "translation_gpt2"])
def test_each_shipped_recipe_finds_its_data_from_any_directory(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(os.path.join(REPO, "configs", f"{name}.yaml"))
    data = recipe["dataset"]["path"]
    if "shared" in data and not os.path.exists(data):
        pytest.skip(f"the shared data set {data} is not present here")
    assert os.path.isdir(data), data
    assert os.path.abspath(recipe["trainer"]["output_dir"]).startswith(os.path.join(REPO, "outputs") + os.sep)


def test_a_recipe_trains_when_run_from_another_directory(tmp_path, text_data):
    recipes = tmp_path / "project" / "recipes"
    shutil.copytree(text_data, recipes / "data")
    path = write_recipe(str(recipes), trainer={
        "output_dir": "out", "task": "text_classification", "device": "cpu", "max_steps": 2, "batch_size": 16,
        "log_with": None, "show_progress_bar": False, "metrics": ["accuracy"]},
        preprocessor={"path": "data/tokenizer"}, dataset={"path": "data", "eval_split": None},
        model={"name": "bert_text_classification", "hidden_size": 16, "num_hidden_layers": 1,
               "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "train.py"), str(path)], cwd=elsewhere,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"paths in {path} resolve against {recipes}/" in result.stdout
    assert find_latest(str(recipes / "out" / "checkpoints")).endswith("%08d" % 2)
    assert os.listdir(elsewhere) == []
