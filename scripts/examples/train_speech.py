"""Train a Conformer-CTC speech recognizer on Persian spoken digits with the Python API, then predict with the checkpoint.

    python scripts/examples/train_speech.py [--data ../shared/data/speech_digits_fa] [--epochs 30] [--num-threads 1] [--no-augmentation]

Builds the audio feature extractor, the train/test ``SpeechRecognitionDataset``, a CPU-sized ``CTCSpeechRecognition``
and a ``Trainer``; trains with train-time augmentation of the training clips (CER/WER with Persian normalisation after every epoch); then loads the latest checkpoint
folder with ``Model.load`` (as a user would) and transcribes a few test clips. The same recipe for the generic CLI is
``configs/speech_digits.yaml``.
"""

from __future__ import annotations

import argparse

import torch

from hezar_accel.data import SpeechRecognitionDataset, SpeechRecognitionDatasetConfig
from hezar_accel.models import CTCSpeechRecognition, CTCSpeechRecognitionConfig
from hezar_accel.preprocessors import AudioFeatureExtractor, AudioFeatureExtractorConfig
from hezar_accel.trainer import Trainer, TrainerConfig

from checkpoint_predictions import predict_from_checkpoint  # this folder (on sys.path when run as a script)

# The recipe's augmentation (configs/speech_digits.yaml, where each unit is explained): keep the two equal.
AUGMENTATION = dict(probability=0.8, speed=[0.6, 1.7], noise_snr=[15, 40], freq_masks=2, freq_mask_bins=8,
                    time_masks=2, time_mask_frames=8, time_mask_ratio=0.05, seed=0)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/speech_digits_fa", help="folder with train.csv/test.csv + audio")
    parser.add_argument("--output-dir", default="outputs/speech_digits_example")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--num-predictions", type=int, default=5)
    parser.add_argument("--no-augmentation", action="store_true", help="train on the clips as stored")
    return parser.parse_args(argv)


def build(args) -> Trainer:
    """Feature extractor, datasets, model and trainer of the recipe."""
    extractor = AudioFeatureExtractor(AudioFeatureExtractorConfig(feature_size=80, sampling_rate=16000))
    augmentation = None if args.no_augmentation else AUGMENTATION
    train_dataset = SpeechRecognitionDataset(SpeechRecognitionDatasetConfig(path=args.data, augmentation=augmentation),
                                             split="train", preprocessor=extractor)
    # The test split uses the training vocabulary, so ids mean the same characters in both.
    eval_dataset = SpeechRecognitionDataset(
        SpeechRecognitionDatasetConfig(path=args.data, id2label=train_dataset.id2label), split="test",
        preprocessor=extractor)

    def model_init():  # called by the Trainer once it has seeded every RNG: the seed decides the initial weights
        return CTCSpeechRecognition(CTCSpeechRecognitionConfig(
            id2label=train_dataset.id2label, num_mel_bins=80, d_model=96, num_layers=3, num_heads=4, ff_dim=384,
            conv_kernel_size=15, subsampling_channels=64, dropout=0.1))

    config = TrainerConfig(
        output_dir=args.output_dir, task="speech_recognition", device="cpu", num_epochs=args.epochs,
        batch_size=args.batch_size, eval_batch_size=32, optimizer="adamw", learning_rate=args.learning_rate,
        lr_scheduler="cosine", warmup_steps=0.1, metrics=["cer", "wer"], metric_for_best_model="wer",
        save_total_limit=2, log_steps=10, log_with=None)
    return Trainer(config, model_init=model_init, train_dataset=train_dataset, eval_dataset=eval_dataset,
                   data_collator=train_dataset.data_collator, preprocessor=extractor)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    trainer = build(args)
    initial = trainer.evaluate()
    print("untrained evaluation on test:", {k: round(v, 4) for k, v in initial.items()})
    results = trainer.train()
    if trainer.accelerator.is_main_process:
        print("final evaluation on test:", {k: round(v, 4) for k, v in results.items()})
        predict_from_checkpoint(trainer.config.checkpoints_path, args.data, args.num_predictions, "sentence")


if __name__ == "__main__":
    main()
