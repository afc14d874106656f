"""Evaluate a saved tiny T5 (BLEU/ROUGE) and a saved tiny Whisper (WER/CER) through generate, under however many
processes `accelerate launch` starts; the main process writes the metrics as JSON.

Usage: seq2seq_eval.py T5_FOLDER WHISPER_FOLDER OUT_JSON
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import seq2seq_tiny  # noqa: E402

from hezar_accel.models import Model  # noqa: E402


def evaluate(t5_folder: str, whisper_folder: str, output_dir: str) -> tuple[dict, int]:
    """``({"t5": metrics, "whisper": metrics}, number of processes)``; evaluation batches hold 3 T5 / 5 Whisper
    samples, so one process and two see the same batches."""
    t5 = Model.load(t5_folder)
    _, t5_test = seq2seq_tiny.t5_datasets(t5.preprocessor)
    trainer = seq2seq_tiny.trainer_for(t5, "text_generation", output_dir, evaluation=t5_test, eval_batch_size=3,
                                       metrics=["bleu", "rouge"])
    results = {"t5": trainer.evaluate()}
    whisper = Model.load(whisper_folder)
    (speech_test,) = seq2seq_tiny.whisper_datasets(whisper.preprocessor, splits=("test",))
    trainer = seq2seq_tiny.trainer_for(whisper, "speech_recognition", output_dir, evaluation=speech_test,
                                       eval_batch_size=5)
    results["whisper"] = trainer.evaluate()
    return results, trainer.accelerator.num_processes


if __name__ == "__main__":
    t5_path, whisper_path, out = sys.argv[1:4]
    metrics, processes = evaluate(t5_path, whisper_path, os.path.dirname(out))
    if int(os.environ.get("RANK", "0")) == 0:
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"num_processes": processes, **metrics}, f)
