"""Evaluate a saved model folder on a dataset split and print its metrics.

(Not named evaluate.py: a script of that name would shadow the 🤗 `evaluate` package for every script in this folder.)

    accelerate launch scripts/evaluate_model.py MODEL_FOLDER DATA_PATH [--split test [other ...]] [--metrics f1 accuracy] [--batch-size 32]

MODEL_FOLDER is any Hezar-format model folder (e.g. a checkpoint), a checkpoints folder (its latest complete checkpoint)
or a Hub repo id; its preprocessor encodes the data.
Runs on any number of processes with the same (exact) result. Several splits print a JSON list, one object per split
(the model is loaded once).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from hezar_accel.data import Dataset
from hezar_accel.errors import HezarAccelError
from hezar_accel.models import Model
from hezar_accel.trainer import Trainer, TrainerConfig


def _model_folder(path: str) -> str:
    """A checkpoints folder (no model config of its own, complete checkpoints inside) means its latest checkpoint."""
    import os

    from hezar_accel.constants import MODEL_CONFIG_FILE
    from hezar_accel.trainer.checkpoint import find_latest

    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, MODEL_CONFIG_FILE)):
        return find_latest(path) or path
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder or Hub repo id")
    parser.add_argument("data", help="dataset folder, file or Hub id")
    parser.add_argument("--split", nargs="+", default=["test"], help="one or more splits of DATA_PATH")
    parser.add_argument("--metrics", nargs="*", default=None, help="metric names (default: the task's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda", help="cuda (falls back to CPU) or cpu")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                        help="dataset config field, e.g. text_field=tweet (YAML value)")
    args = parser.parse_args(argv)
    try:
        import yaml

        model = Model.load(_model_folder(args.model))
        options = dict(item.split("=", 1) for item in args.dataset_option)
        options = {k: yaml.safe_load(v) for k, v in options.items()}
        options.setdefault("task", model.config.task)
        if getattr(model.config, "id2label", None) is not None:
            options.setdefault("id2label", model.config.id2label)
        datasets = [Dataset.load(args.data, split=split, preprocessor=model.preprocessor, **options)
                    for split in args.split]
        with tempfile.TemporaryDirectory() as scratch:
            config = TrainerConfig(output_dir=scratch, task=model.config.task, device=args.device, num_epochs=1,
                                   eval_batch_size=args.batch_size, metrics=args.metrics, log_with=None)
            trainer = Trainer(config, model, eval_dataset=datasets[0], preprocessor=model.preprocessor)
            results = [trainer.evaluate(eval_dataset=dataset) for dataset in datasets]
    except HezarAccelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.accelerator.is_main_process:
        rows = [{"model": args.model, "data": args.data, "split": split, "samples": len(dataset),
                 **{k: round(v, 6) for k, v in result.items()}}
                for split, dataset, result in zip(args.split, datasets, results)]
        print(json.dumps(rows[0] if len(rows) == 1 else rows, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
