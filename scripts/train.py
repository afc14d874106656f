"""Train from a YAML recipe: ``accelerate launch scripts/train.py configs/<name>.yaml [section.key=value ...]``.

When the recipe's dataset section names a ``test_split``, the model the run ends with (the best checkpoint on
``eval_split`` under ``load_best_model_at_end``) is evaluated on both ``eval_split`` and ``test_split`` after
training; both are printed and written to ``<output_dir>/final_evaluation.json`` with the wall time.

After training, the main process loads the last (or best) checkpoint's model folder and predicts the recipe's
``predict`` inputs, showing that what was saved is a complete, loadable model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from hezar_accel.errors import HezarAccelError
from hezar_accel.trainer.checkpoint import find_latest
from hezar_accel.recipe import build_run, load_recipe

FINAL_EVALUATION_FILE = "final_evaluation.json"


def final_evaluation(run, recipe: dict, recipe_path: str, seconds: float) -> dict | None:
    """Score the run's final model on the eval and test splits (every process takes part; exact under several).

    Args:
        run: the :class:`~hezar_accel.recipe.RecipeRun` after ``train()``.
        recipe: the loaded recipe. recipe_path: its file, recorded in the result. seconds: the training wall time.

    Returns:
        ``{"model": "best"|"last", "best_step", "dev": {...}, "test": {...}, ...}``, or None without a test split.
    """
    trainer, dataset = run.trainer, recipe["dataset"]
    if run.test_dataset is None:
        return None
    best = trainer.config.load_best_model_at_end and trainer.state.best_checkpoint is not None
    result = {
        "recipe": recipe_path,
        "model": "best" if best else "last",
        "metric_for_best_model": trainer.config.metric_for_best_model,
        "best_step": trainer.state.best_step if best else None,
        "global_step": trainer.state.global_step,
        # From the start of main(): recipe, tokenizer training, data, training with its evaluations and saves.
        "train_wall_seconds": round(seconds, 1),
        "train_cpu_seconds": round(_cpu_seconds(), 1),  # this process's user + system time (less load-dependent)
        "dev_split": dataset.get("eval_split", "test"),
        "test_split": dataset["test_split"],
    }
    if trainer.eval_dataset is not None:
        result["dev"] = trainer.evaluate()
    result["test"] = trainer.evaluate(eval_dataset=run.test_dataset)
    return result


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _print_final(result: dict, output_dir: str) -> None:
    which = (f"the best checkpoint (step {result['best_step']}, by {result['metric_for_best_model']} on "
             f"{result['dev_split']})" if result["model"] == "best" else "the last weights (load_best_model_at_end is off)")
    print(f"final model: {which}; {result['train_wall_seconds']:.0f} s wall, {result['train_cpu_seconds']:.0f} s CPU "
          "to train")
    for key, split in (("dev", result["dev_split"]), ("test", result["test_split"])):
        if key in result:
            print(f"  {key} ({split}):", {k: round(v, 4) for k, v in result[key].items()})
    path = os.path.join(output_dir, FINAL_EVALUATION_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
    print(f"written to {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", help="YAML with trainer / preprocessor / dataset / model sections")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. trainer.batch_size=16")
    args = parser.parse_args(argv)
    try:
        started = time.perf_counter()
        recipe = load_recipe(args.recipe, args.overrides)
        run = build_run(recipe)
        trainer = run.trainer
        results = trainer.train()
        final = final_evaluation(run, recipe, args.recipe, time.perf_counter() - started)
    except HezarAccelError as e:
        # Every process meets the same invalid input; one copy of the message is enough (the launcher then reports
        # that its workers exited with status 2).
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.accelerator.is_main_process:
        print("final evaluation:", {k: round(v, 4) for k, v in results.items()})
        if trainer.state.best_metric is not None:
            print(f"best {trainer.config.metric_for_best_model}: {trainer.state.best_metric:.4f} "
                  f"at step {trainer.state.best_step}")
        if final is not None:
            _print_final(final, trainer.config.output_dir)
        best = trainer.state.best_checkpoint if trainer.config.load_best_model_at_end else None
        latest = os.path.join(trainer.config.checkpoints_path, best) if best else find_latest(trainer.config.checkpoints_path)
        if latest and recipe.get("predict"):
            from hezar_accel.models import Model

            model = Model.load(latest)
            print(f"predictions of the model saved in {latest}:")
            for text, output in zip(recipe["predict"], model.predict(recipe["predict"])):
                print(f"  {text}  ->  {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
