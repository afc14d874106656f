"""Train from a YAML recipe: ``accelerate launch scripts/train.py configs/<name>.yaml [section.key=value ...]``.

After training, the main process loads the last checkpoint's model folder and predicts the recipe's ``predict``
inputs, showing that what was saved is a complete, loadable model.
"""

from __future__ import annotations

import argparse
import os
import sys

from hezar_accel.errors import HezarAccelError
from hezar_accel.trainer.checkpoint import find_latest
from hezar_accel.recipe import build_trainer, load_recipe


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", help="YAML with trainer / preprocessor / dataset / model sections")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. trainer.batch_size=16")
    args = parser.parse_args(argv)
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        trainer = build_trainer(recipe)
        results = trainer.train()
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
