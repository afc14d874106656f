"""Train the toy English -> Persian GPT-2 of ``configs/translation_gpt2.yaml`` and report BLEU before and after.

    python scripts/examples/train_translation.py [--recipe configs/translation_gpt2.yaml] [section.key=value ...]
    python scripts/examples/train_translation.py trainer.num_epochs=2 trainer.output_dir=/tmp/translation

Builds the run from the recipe (BPE tokenizer trained on the train split's English and Persian sentences, prompt/target
``TextGenerationDataset``, ``GPT2TextGeneration``), evaluates the untrained model with ``generate`` (BLEU ~0), trains,
then loads the latest checkpoint folder with ``Model.load`` and translates a few dev sentences.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import torch

from hezar_accel.errors import HezarAccelError
from hezar_accel.models import Model
from hezar_accel.trainer.checkpoint import find_latest
from hezar_accel.recipe import build_trainer, load_recipe


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. trainer.num_epochs=4")
    parser.add_argument("--recipe", default="configs/translation_gpt2.yaml")
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--num-predictions", type=int, default=3)
    return parser.parse_args(argv)


def show_translations(trainer, recipe: dict, count: int) -> None:
    """Load the latest checkpoint as a fresh model and translate ``count`` sentences of the eval split."""
    latest = find_latest(trainer.config.checkpoints_path)
    if latest is None or count <= 0:
        return
    dataset = recipe["dataset"]
    path = os.path.join(dataset["path"], f"{dataset.get('eval_split', 'test')}.csv")
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:count]
    model = Model.load(latest)
    outputs = model.predict([row[dataset["prompt_field"]] for row in rows])
    print(f"translations of the model saved in {latest}:")
    for row, output in zip(rows, outputs):
        print(f"  en:        {row[dataset['prompt_field']]}\n  predicted: {output['generated_text']}\n"
              f"  reference: {row[dataset['text_field']]}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        trainer = build_trainer(recipe)
        before = trainer.evaluate()
        after = trainer.train()
    except HezarAccelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.accelerator.is_main_process:
        print(f"BLEU before training: {before.get('bleu', float('nan')):.2f} (loss {before['loss']:.3f})")
        print(f"BLEU after training:  {after.get('bleu', float('nan')):.2f} (loss {after['loss']:.3f})")
        show_translations(trainer, recipe, args.num_predictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
