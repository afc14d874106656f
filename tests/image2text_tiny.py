"""Tiny ViT-RoBERTa / TrOCR setups shared by tests/test_image2text_families.py, tests/test_hezar_compat_image2text.py
and the 2-process script tests/scripts/image2text_eval.py: a BPE tokenizer over the plate texts, the image processor
the encoder reads, models and OCR datasets with token labels over tests/fixtures/ocr_plates."""

from __future__ import annotations

import os

import torch

from seq2seq_tiny import fixture_rows

HERE = os.path.dirname(os.path.abspath(__file__))
PLATES = os.path.join(HERE, "fixtures", "ocr_plates")
# 24 x 96 images in 8 x 8 patches: 36 patches + [CLS]. The decoder is narrower than the encoder, so the encoder
# states go through enc_to_dec_proj, as in 🤗 when the widths differ.
ENCODER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=[24, 96],
               patch_size=8)
DECODER = dict(is_decoder=True, add_cross_attention=True, hidden_size=24, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=48, max_position_embeddings=24, type_vocab_size=1, hidden_dropout_prob=0.0,
               attention_probs_dropout_prob=0.0)
# <s> 0, <pad> 1, </s> 2. ViT-RoBERTa keeps Hezar's decoder padding id (2) and starts with <pad> (1), the token
# Hezar's ViTRobertaImage2Text.generate() starts with; TrOCR keeps Hezar's ids (padding 1, start 0).
GENERATION = {
    "vit_roberta_image2text": dict(bos_token_id=0, decoder_start_token_id=1, eos_token_id=2, pad_token_id=2,
                                   max_length=12, num_beams=3, length_penalty=2.0, early_stopping=True,
                                   no_repeat_ngram_size=3),
    "trocr_image2text": dict(bos_token_id=0, decoder_start_token_id=0, eos_token_id=2, pad_token_id=1, max_length=12,
                             num_beams=3, length_penalty=2.0, early_stopping=True, no_repeat_ngram_size=3),
}
DECODER_PAD = {"vit_roberta_image2text": 2, "trocr_image2text": 1}


def plate_texts(split: str = "train") -> list[str]:
    return [row["text"] for row in fixture_rows(PLATES, split)]


def plate_images(split: str = "test", count: int = 3) -> list[str]:
    return [os.path.join(PLATES, row["path"]) for row in fixture_rows(PLATES, split)][:count]


def bpe_tokenizer():
    """A byte-level BPE over the plate texts; ids <s> 0, <pad> 1, </s> 2 (RoBERTa's order)."""
    from hezar_accel.preprocessors import BPETokenizer

    return BPETokenizer.train(plate_texts(), vocab_size=300, min_frequency=1, max_length=32)


def config_values(name: str, vocab_size: int, **generation) -> dict:
    """Blocks of a tiny ``name`` config (``vit_roberta_image2text`` / ``trocr_image2text``) for ``vocab_size``."""
    return dict(encoder=dict(ENCODER),
                decoder=dict(DECODER, vocab_size=vocab_size, pad_token_id=DECODER_PAD[name]),
                generation={**GENERATION[name], **generation})


def model(name: str, tokenizer, seed: int = 0, **generation):
    """A tiny model of the registry ``name`` with its preprocessors (the encoder's image processor + ``tokenizer``)."""
    from hezar_accel.preprocessors import ImageProcessor, PreprocessorsContainer
    from hezar_accel.registry import get_entry

    entry = get_entry("model", name)
    torch.manual_seed(seed)
    built = entry.cls(entry.config_class(**config_values(name, tokenizer.vocab_size, **generation)))
    processor = ImageProcessor(built.config.image_processor_config())
    built.preprocessor = PreprocessorsContainer({"image_processor": processor, "bpe_tokenizer": tokenizer})
    return built


def datasets(preprocessors, splits=("train", "test")):
    """The plate splits with token labels, in ``splits`` order."""
    from hezar_accel.data import Dataset

    return tuple(Dataset.load(PLATES, split=split, task="image2text", preprocessor=preprocessors) for split in splits)
