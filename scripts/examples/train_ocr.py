"""Train a CRNN OCR model on Persian licence plates with the Python API, then predict with the saved checkpoint.

    python scripts/examples/train_ocr.py [--data ../shared/data/ocr_plates_fa] [--epochs 25] [--num-threads 1] [--no-augmentation]

Builds the image processor, the train/test ``OCRDataset``, a CPU-sized ``CRNNImage2Text`` and a ``Trainer``;
trains (with train-time augmentation of the training images); then loads the latest checkpoint folder with ``Model.load`` (as a user would) and reads a few test plates.
The same recipe for the generic CLI is ``configs/ocr_plates.yaml``.
"""

from __future__ import annotations

import argparse

import torch

from hezar_accel.data import OCRDataset, OCRDatasetConfig
from hezar_accel.models import CRNNImage2Text, CRNNImage2TextConfig
from hezar_accel.preprocessors import ImageProcessor, ImageProcessorConfig
from hezar_accel.trainer import Trainer, TrainerConfig

from checkpoint_predictions import predict_from_checkpoint  # this folder (on sys.path when run as a script)

WIDTH, HEIGHT = 128, 32  # the 192x48 plates keep their 4:1 ratio; smaller images keep CPU training to minutes
# The recipe's augmentation (configs/ocr_plates.yaml, where each unit is explained): keep the two equal.
AUGMENTATION = dict(probability=0.8, rotation=2, shear=12, scale=0.08, translate=0.03, perspective=0.03, elastic=1.0,
                    elastic_grid=8, stroke=0.7, blur=0.8, contrast=0.3, brightness=25, noise=8, seed=0)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/ocr_plates_fa", help="folder with train.csv/test.csv + images")
    parser.add_argument("--output-dir", default="outputs/ocr_plates_example")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--num-predictions", type=int, default=5)
    parser.add_argument("--no-augmentation", action="store_true", help="train on the images as stored")
    return parser.parse_args(argv)


def build(args):
    """Image processor, datasets, model and trainer of the recipe."""
    processor = ImageProcessor(ImageProcessorConfig(gray_scale=True, size=[WIDTH, HEIGHT], rescale=1 / 255,
                                                    mean=[0.5], std=[0.5]))
    augmentation = None if args.no_augmentation else AUGMENTATION
    train_dataset = OCRDataset(OCRDatasetConfig(path=args.data, augmentation=augmentation), split="train",
                               preprocessor=processor)
    # The test split uses the training character set, so ids mean the same characters in both.
    eval_dataset = OCRDataset(OCRDatasetConfig(path=args.data, id2label=train_dataset.config.id2label),
                              split="test", preprocessor=processor)

    def model_init():  # called by the Trainer once it has seeded every RNG: the seed decides the initial weights
        return CRNNImage2Text(CRNNImage2TextConfig(
            id2label=train_dataset.config.id2label, n_channels=1, image_height=HEIGHT, image_width=WIDTH,
            cnn_channels=[16, 32, 64, 64, 128, 128, 128], map2seq_out_dim=64, rnn_dim=128))

    config = TrainerConfig(
        output_dir=args.output_dir, task="image2text", device="cpu", num_epochs=args.epochs,
        batch_size=args.batch_size, eval_batch_size=64, optimizer="adam", learning_rate=args.learning_rate,
        lr_scheduler="cosine", warmup_steps=0.05, metrics=["cer", "wer"], metric_for_best_model="cer",
        save_total_limit=2, log_steps=20, log_with=None)
    trainer = Trainer(config, model_init=model_init, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      data_collator=train_dataset.data_collator, preprocessor=processor)
    return trainer


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    trainer = build(args)
    results = trainer.train()
    if trainer.accelerator.is_main_process:
        print("final evaluation on test:", {k: round(v, 4) for k, v in results.items()})
        predict_from_checkpoint(trainer.config.checkpoints_path, args.data, args.num_predictions, "text")


if __name__ == "__main__":
    main()
