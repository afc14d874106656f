"""Tiny T5 and Whisper setups shared by tests/test_seq2seq_families.py, tests/test_hezar_compat_seq2seq.py and the
2-process script tests/scripts/seq2seq_eval.py: tokenizers, models and datasets over the fixtures in tests/fixtures."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSLATE = os.path.join(HERE, "fixtures", "translate_tiny")
SPEECH = os.path.join(HERE, "fixtures", "speech_digits")
# 4 s chunks: 400 frames, so the encoder has 200 positions; the fixture clips are at most 3.25 s long.
CHUNK_SECONDS = 4
T5_TINY = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4, dropout_rate=0.0,
               relative_attention_num_buckets=8, relative_attention_max_distance=16, max_length=16)
WHISPER_TINY = dict(d_model=48, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=96, decoder_ffn_dim=96,
                    max_source_positions=CHUNK_SECONDS * 50, max_target_positions=32)


def fixture_rows(folder: str, split: str) -> list[dict]:
    """The rows of a fixture's ``<split>.csv``."""
    with open(os.path.join(folder, f"{split}.csv"), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def transcripts(split: str = "train") -> list[str]:
    return [row["sentence"] for row in fixture_rows(SPEECH, split)]


def clips(split: str = "test", count: int = 3) -> list[str]:
    return [os.path.join(SPEECH, row["path"]) for row in fixture_rows(SPEECH, split)][:count]


def unigram_tokenizer():
    """A SentencePiece Unigram tokenizer over both sides of the translation fixture (<pad> 0, </s> 1, <unk> 2)."""
    from hezar_accel.data import TextGenerationDataset
    from hezar_accel.preprocessors import SentencePieceUnigramTokenizer

    texts = list(TextGenerationDataset.training_texts(TRANSLATE, prompt_field="text_en"))
    return SentencePieceUnigramTokenizer.train(texts, vocab_size=100, max_length=32)


def t5_model(tokenizer, seed: int = 0, **overrides):
    from hezar_accel.models import T5TextGeneration, T5TextGenerationConfig

    torch.manual_seed(seed)
    config = T5TextGenerationConfig(vocab_size=tokenizer.vocab_size, **{**T5_TINY, **overrides})
    model = T5TextGeneration(config)
    model.preprocessor = tokenizer
    return model


def t5_datasets(tokenizer):
    """English number words -> Persian ones, framed for an encoder-decoder model."""
    from hezar_accel.data import Dataset

    train = Dataset.load(TRANSLATE, split="train", preprocessor=tokenizer, task="text_generation",
                         prompt_field="text_en", encoder_decoder=True, max_length=32)
    return train, Dataset.load(TRANSLATE, split="test", preprocessor=tokenizer, config=train.config)


def whisper_preprocessors():
    """A Whisper tokenizer trained on the speech transcripts (Persian, transcribe) and a 4 s feature extractor."""
    from hezar_accel.preprocessors import (PreprocessorsContainer, WhisperBPETokenizer, WhisperFeatureExtractor,
                                           WhisperFeatureExtractorConfig)

    tokenizer = WhisperBPETokenizer.train(transcripts(), vocab_size=300, min_frequency=1, language="fa",
                                          task="transcribe")
    extractor = WhisperFeatureExtractor(WhisperFeatureExtractorConfig(chunk_length=CHUNK_SECONDS))
    return PreprocessorsContainer({"whisper_bpe_tokenizer": tokenizer, "whisper_feature_extractor": extractor})


def whisper_config_values(tokenizer, max_length: int = 20) -> dict:
    """The id fields of a Whisper config for ``tokenizer`` (a WhisperBPETokenizer), Hezar's generation block included."""
    g = tokenizer.generation_settings()
    return dict(vocab_size=tokenizer.vocab_size, pad_token_id=g["pad_token_id"], bos_token_id=g["bos_token_id"],
                eos_token_id=g["eos_token_id"], decoder_start_token_id=g["decoder_start_token_id"],
                begin_suppress_tokens=g["begin_suppress_tokens"], generation_config={**g, "max_length": max_length})


def whisper_model(preprocessors, seed: int = 0, **overrides):
    from hezar_accel.models import WhisperSpeechRecognition, WhisperSpeechRecognitionConfig

    torch.manual_seed(seed)
    values = whisper_config_values(preprocessors["whisper_bpe_tokenizer"])
    model = WhisperSpeechRecognition(WhisperSpeechRecognitionConfig(**{**values, **WHISPER_TINY, **overrides}))
    model.preprocessor = preprocessors
    return model


def whisper_datasets(preprocessors, splits=("train", "test")):
    """The speech splits (features and Whisper token labels), in ``splits`` order."""
    from hezar_accel.data import SpeechRecognitionDataset, SpeechRecognitionDatasetConfig

    config = SpeechRecognitionDatasetConfig(path=SPEECH)
    return tuple(SpeechRecognitionDataset(config, split=split, preprocessor=preprocessors) for split in splits)


def trainer_for(model, task: str, output_dir: str, train=None, evaluation=None, **overrides):
    """A CPU Trainer with no evaluation during training and no trackers (tests evaluate explicitly)."""
    from hezar_accel.trainer import Trainer, TrainerConfig

    settings = dict(output_dir=output_dir, task=task, device="cpu", num_epochs=10, batch_size=8, optimizer="adamw",
                    learning_rate=1e-2, do_evaluate=False, save_enabled=False, log_with=None, show_progress_bar=False,
                    seed=0)
    return Trainer(TrainerConfig(**{**settings, **overrides}), model, train_dataset=train, eval_dataset=evaluation)


def launch_two_processes(script: str, *arguments: str) -> dict:
    """Run ``script arguments... OUT_JSON`` under ``accelerate launch`` with 2 CPU processes and return the JSON the
    main process wrote; the last argument must be that path.

    Raises:
        AssertionError: the launch failed (with the end of its stderr).
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
               script, *arguments]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(arguments[-1], encoding="utf-8") as f:
        return json.load(f)
