"""Evaluate a saved tiny ViT-RoBERTa (CER/WER through generate, with beams) under however many processes
`accelerate launch` starts; the main process writes the metrics as JSON.

Usage: image2text_eval.py MODEL_FOLDER OUT_JSON
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import image2text_tiny  # noqa: E402
import seq2seq_tiny  # noqa: E402

from hezar_accel.models import Model  # noqa: E402


def evaluate(folder: str, output_dir: str) -> tuple[dict, int]:
    """``(metrics, number of processes)``; evaluation batches hold 5 of the 20 test plates, so one process and two
    see the same batches."""
    model = Model.load(folder)
    (test,) = image2text_tiny.datasets(model.preprocessor, splits=("test",))
    trainer = seq2seq_tiny.trainer_for(model, "image2text", output_dir, evaluation=test, eval_batch_size=5)
    return trainer.evaluate(), trainer.accelerator.num_processes


if __name__ == "__main__":
    model_path, out = sys.argv[1:3]
    metrics, processes = evaluate(model_path, os.path.dirname(out))
    if int(os.environ.get("RANK", "0")) == 0:
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"num_processes": processes, **metrics}, f)
