"""Speech recognition: rows of audio path + transcript -> log-mel features + label ids.

Labels are character ids (``id2label``, for CTC models) or, when the preprocessor holds a Whisper tokenizer, token
ids framed for an encoder-decoder model: the decoder prompt without its start token, the transcript, then EOS
(``<|fa|> <|transcribe|> <|notimestamps|> ... <|endoftext|>``); the model feeds them, shifted right behind its start
token, to its decoder. Features are computed once, with a batched ``datasets.map`` whose cache key covers the table,
the audio files' sizes and modification times, the preprocessors' settings and the vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from ..configs import DatasetConfig
from ..constants import TaskType
from ..errors import DataError
from ..registry import register_dataset
from .audio_augmentation import AudioAugmentationConfig, augment_waveform, draws_augmentation, spec_augment
from .augmenting import AugmentingDataset
from .collators import PaddingCollator
from .dataset import check_not_empty, preprocessor_fingerprint
from .loading import load_split, require_columns

__all__ = ["SpeechRecognitionDatasetConfig", "SpeechRecognitionDataset", "build_char_vocab", "BLANK_LABEL"]

BLANK_LABEL = "<blank>"


@dataclass
class SpeechRecognitionDatasetConfig(DatasetConfig):
    """Columns, vocabulary and error policy of a speech recognition dataset.

    Args:
        audio_field: column holding audio file paths, relative to the data folder (absolute paths are kept).
        transcript_field: column holding the transcripts.
        id2label: class id -> character, blank at id 0. None = ``<blank>`` + the sorted characters of the train
            split's transcripts, so every split of the same folder gets the same map. Unused with a tokenizer.
        preprocessor_path: model folder or Hub id whose feature extractor (and tokenizer, for Whisper) to use when no
            preprocessor is passed (otherwise a default ``AudioFeatureExtractor`` is created).
        data_files: split name -> file name in the folder; None = ``<split>.<ext>``.
        skip_invalid_rows: drop rows with characters outside id2label, empty transcripts or unreadable audio
            (counted in ``num_skipped``) instead of raising DataError.
        map_batch_size: rows per batch of the feature-extraction map.
        augmentation: train-time augmentation of the training samples (an :class:`AudioAugmentationConfig` or its
            fields as a mapping: speed, noise_snr, freq_masks, time_masks ..., each with its unit and off value).
            None = off. Applied on the fly to the samples of the Trainer's training dataset only, keyed on (seed,
            epoch, sample index); evaluation never sees it. With speed or noise on, the waveforms are kept (in the
            dataset cache, 4 bytes per audio sample) and each augmented sample's features are computed again.
    """

    name: str = "speech_recognition"
    task: str = TaskType.SPEECH_RECOGNITION
    audio_field: str = "path"
    transcript_field: str = "sentence"
    id2label: dict | None = None
    preprocessor_path: str | None = None
    data_files: dict | None = None
    skip_invalid_rows: bool = False
    map_batch_size: int = 64
    augmentation: AudioAugmentationConfig | None = None

    def __post_init__(self):
        if isinstance(self.augmentation, dict):  # Python callers may give the settings as a mapping, as YAML does
            self.augmentation = AudioAugmentationConfig.from_dict(self.augmentation)
        super().__post_init__()

    def validate(self) -> list[str]:
        problems = super().validate()
        if isinstance(self.map_batch_size, int) and self.map_batch_size < 1:
            problems.append(f"map_batch_size: {self.map_batch_size} must be a positive integer")
        if isinstance(self.id2label, dict) and self.id2label:
            labels = {int(k): v for k, v in self.id2label.items() if str(k).lstrip("-").isdigit()}
            if len(labels) != len(self.id2label) or labels.get(0) != BLANK_LABEL:
                problems.append(f"id2label: needs integer ids with the blank `{BLANK_LABEL}` at id 0, "
                                f"got {dict(list(self.id2label.items())[:5])} ...")
        return problems


def clean_transcript(text) -> str:
    """A transcript with surrounding whitespace removed and inner whitespace runs folded to one space."""
    return " ".join(str(text).split()) if text is not None else ""


def build_char_vocab(transcripts) -> dict[int, str]:
    """``{0: "<blank>", 1..n: sorted distinct characters}`` of the (cleaned) transcripts."""
    chars = sorted({c for t in transcripts for c in clean_transcript(t)})
    return {0: BLANK_LABEL, **{i + 1: c for i, c in enumerate(chars)}}


def speech_tokenizer_of(preprocessor):
    """The Whisper tokenizer in a preprocessor container (token labels), or None (character labels).

    Raises:
        DataError: the container's tokenizer has no Whisper decoder prompt.
    """
    from ..preprocessors.tokenizers import Tokenizer

    candidates = list(preprocessor.values()) if isinstance(preprocessor, dict) else [preprocessor]
    tokenizer = next((c for c in candidates if isinstance(c, Tokenizer)), None)
    if tokenizer is not None and not hasattr(tokenizer, "decoder_prompt_ids"):
        raise DataError(f"SpeechRecognitionDataset frames token labels for Whisper; {type(tokenizer).__name__} has no "
                        "decoder prompt. Use a WhisperBPETokenizer, or no tokenizer for character (CTC) labels.")
    return tokenizer


def feature_extractor_of(preprocessor):
    """The ``AudioFeatureExtractor`` in ``preprocessor`` (itself or in a container), else a default one.

    Raises:
        DataError: a preprocessor was given but holds no audio feature extractor.
    """
    from ..preprocessors.audio_feature_extractor import AudioFeatureExtractor

    if preprocessor is None:
        return AudioFeatureExtractor()
    candidates = list(preprocessor.values()) if isinstance(preprocessor, dict) else [preprocessor]
    for candidate in candidates:
        if isinstance(candidate, AudioFeatureExtractor):
            return candidate
    raise DataError(f"SpeechRecognitionDataset needs an AudioFeatureExtractor as preprocessor, got {preprocessor!r}")


@register_dataset("speech_recognition", SpeechRecognitionDatasetConfig)
class SpeechRecognitionDataset(AugmentingDataset):
    """Rows of ``audio_field`` + ``transcript_field``, turned once into ``{"input_features", "labels"}``.

    ``input_features`` is ``(frames, mels)`` float32 and ``labels`` the transcript's character ids (``id2label`` holds
    the vocabulary) or, with a Whisper tokenizer in the preprocessor, its token ids (``tokenizer``; ``id2label`` None).
    ``data_collator`` pads features with 0 and labels with -100 and adds ``input_lengths``; for a feature extractor
    whose model reads channels first (Whisper's), batches are ``(batch, mels, frames)``. ``num_skipped`` counts the
    rows dropped under ``skip_invalid_rows``. With ``augmentation`` set, the Trainer's training dataset returns
    augmented features (labels untouched; speed perturbation changes the number of frames, and the collator's
    ``input_lengths`` follow), drawn from (seed, epoch, index) once the Trainer has set an epoch.

    Raises:
        DataError: missing split/columns, a transcript with unknown characters or an unreadable audio file (naming the
            file and row), unless ``skip_invalid_rows``.
    """

    def __init__(self, config: SpeechRecognitionDatasetConfig, split: str | None = None, preprocessor=None, **kwargs):
        extractor, self.tokenizer = feature_extractor_of(preprocessor), speech_tokenizer_of(preprocessor)
        super().__init__(config, split=split, preprocessor=preprocessor if self.tokenizer is not None else extractor)
        self.feature_extractor = extractor
        table, source = load_split(config.path, split, config.data_files)
        check_not_empty(table, source)
        require_columns(table, {"audio_field": config.audio_field, "transcript_field": config.transcript_field}, source)
        self.id2label = self.label2id = None
        if self.tokenizer is not None:
            tokenizer = self.tokenizer
            eos = tokenizer.token_to_id(tokenizer.config.setting("eos_token"))
            # Labels continue the decoder prompt after its start token, which the model's decoder_start_token_id is.
            self._label_prefix, self._label_suffix = tokenizer.decoder_prompt_ids()[1:], [eos]
        else:
            if config.id2label is None:
                train_table = table if split == "train" else load_split(config.path, "train", config.data_files)[0]
                self.config = config.replace(id2label=build_char_vocab(train_table[config.transcript_field]))
            self.id2label = {int(k): str(v) for k, v in self.config.id2label.items()}
            self.label2id = {v: k for k, v in self.id2label.items() if k != 0}
        self.data_root = os.path.dirname(source)
        augmentation = self.config.augmentation
        self._keep_waveforms = augmentation is not None and not augmentation.is_off and augmentation.changes_waveform
        table, skipped_text = self._check_transcripts(table, source)
        data = self._encode(table, source)
        skipped_audio = len(table) - len(data)
        self.num_skipped = skipped_text + skipped_audio
        check_not_empty(data, source)
        self._lengths = list(data["num_frames"])
        # The waveforms (kept for speed/noise augmentation only) live beside the model inputs, never in a sample.
        self._waveforms = data.select_columns(["waveform"]).with_format("numpy") if self._keep_waveforms else None
        extra = ["num_frames", "waveform"] if self._keep_waveforms else ["num_frames"]
        self.data = data.remove_columns(extra).with_format("numpy")
        self._init_augmentation(augmentation)
        self.data_collator = PaddingCollator(
            {"input_features": 0.0, "labels": -100}, length_fields={"input_features": "input_lengths"},
            channels_first=("input_features",) if getattr(extractor, "channels_first", False) else ())

    def _check_transcripts(self, table, source: str):
        """Rows whose transcript is empty or has characters outside the vocabulary: raise, or drop and count."""
        texts = [clean_transcript(t) for t in table[self.config.transcript_field]]
        bad = {}
        for i, text in enumerate(texts):
            unknown = sorted(set(text) - set(self.label2id)) if self.label2id is not None else []
            if not text or unknown:
                bad[i] = f"row {i} ({text!r}): " + (f"unknown characters {unknown}" if unknown else "empty transcript")
        if bad and not self.config.skip_invalid_rows:
            shown = "; ".join(list(bad.values())[:5])
            raise DataError(
                f"`{source}`: {len(bad)} transcript(s) cannot be encoded: {shown}. Fix the data, add the characters "
                "to the dataset config's id2label (character labels), or set skip_invalid_rows: true."
            )
        if bad:
            table = table.select([i for i in range(len(texts)) if i not in bad])
        return table, len(bad)

    def _audio_path(self, path) -> str:
        return os.path.join(self.data_root, str(path))

    def _encode(self, table, source: str):
        config, extractor = self.config, self.feature_extractor
        skip = config.skip_invalid_rows

        def encode(rows, indices):
            waveforms, kept = [], []
            for index, path, text in zip(indices, rows[config.audio_field], rows[config.transcript_field]):
                try:
                    waveforms.append(extractor.load_waveform(self._audio_path(path)))
                except DataError as e:
                    if skip:
                        continue
                    raise DataError(f"`{source}` row {index} (audio `{path}`): {e}") from None
                kept.append(text)
            features = extractor.extract_batch(waveforms) if waveforms else []
            out = {"input_features": features, "num_frames": [extractor.num_frames(len(w)) for w in waveforms],
                   "labels": self._labels([clean_transcript(text) for text in kept])}
            if self._keep_waveforms:
                out["waveform"] = waveforms
            return out

        return table.map(encode, batched=True, batch_size=config.map_batch_size, with_indices=True,
                         remove_columns=table.column_names,
                         features=_features(extractor.config.feature_size, self._keep_waveforms),
                         new_fingerprint=self._fingerprint(table), desc=None)

    def augment(self, row: dict, index: int, epoch: int) -> dict:
        """Speed/noise on the kept waveform (then new features), then SpecAugment masks on the features."""
        config, key = self.augmentation, (epoch, index)
        if not draws_augmentation(config, key):
            return row
        features = row["input_features"]
        if self._waveforms is not None:
            waveform = self._waveforms[index]["waveform"]
            features = self.feature_extractor.extract(
                augment_waveform(waveform, self.feature_extractor.config.sampling_rate, config, key))
        return {**row, "input_features": spec_augment(features, config, key)}

    def _labels(self, texts: list[str]) -> list[list[int]]:
        if self.tokenizer is None:
            return [[self.label2id[c] for c in text] for text in texts]
        ids = self.tokenizer(texts, add_special_tokens=False, padding=False, truncation=False,
                             return_attention_mask=False, return_token_type_ids=False)["token_ids"] if texts else []
        return [self._label_prefix + row + self._label_suffix for row in ids]

    def _fingerprint(self, table) -> str:
        """Cache key: raw table + audio files' (size, mtime) + extractor settings + vocabulary + error policy."""
        stats = []
        for path in table[self.config.audio_field]:
            try:
                st = os.stat(self._audio_path(path))
                stats.append((st.st_size, st.st_mtime_ns))
            except OSError:
                stats.append(None)
        labels = (preprocessor_fingerprint(self.tokenizer) + repr(self._label_prefix) if self.tokenizer is not None
                  else sorted(self.id2label.items()))
        parts = [table._fingerprint, stats, self.feature_extractor.fingerprint(), labels,
                 self.config.skip_invalid_rows, self.config.audio_field, self.config.transcript_field]
        if self._keep_waveforms:  # another table (one more column); the key of the plain table stays as it was
            parts.append("waveform")
        key = json.dumps(parts)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def lengths(self) -> list[int]:
        """Feature frames per sample (for length-grouped batching)."""
        return self._lengths


def _features(num_mels: int, with_waveform: bool = False):
    import datasets

    features = {
        "input_features": datasets.Array2D(shape=(None, num_mels), dtype="float32"),
        "labels": datasets.Sequence(datasets.Value("int64")),
        "num_frames": datasets.Value("int64"),
    }
    if with_waveform:
        features["waveform"] = datasets.Sequence(datasets.Value("float32"))
    return datasets.Features(features)
