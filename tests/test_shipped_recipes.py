"""Every recipe in configs/ builds as shipped: its data, tokenizer, model and Trainer pass every check that runs
before training (a recipe refused at start-up, e.g. a dataset max_length beyond the model's positions, is a broken
product even when each part has its own tests)."""

import glob
import importlib.util
import os

import pytest

from hezar_accel.recipe import build_run, load_recipe

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml")))
# What a recipe's task needs beyond the base install (the extras of pyproject.toml).
EXTRAS = {"image2text": ["PIL"], "speech_recognition": ["soundfile"]}


def test_the_recipe_folder_holds_the_recipes_this_test_builds():
    assert len(RECIPES) >= 7, RECIPES


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=[os.path.basename(p) for p in RECIPES])
def test_a_shipped_recipe_builds_its_trainer_as_written(path, tmp_path):
    recipe = load_recipe(path, [f"trainer.output_dir={tmp_path / 'out'}"])
    data = recipe["dataset"]["path"]
    if not os.path.exists(data):
        pytest.skip(f"the recipe's data {data} is not present here")
    for module in EXTRAS.get(recipe["trainer"]["task"], []):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (the task's extra)")
    run = build_run(recipe)
    trainer = run.trainer
    assert trainer.plan.total_steps > 0
    assert len(trainer.train_dataset) > 0 and len(trainer.eval_dataset) > 0
    if recipe["dataset"].get("test_split"):
        assert run.test_dataset is not None and len(run.test_dataset) > 0
