"""OCR (image2text): image + text rows -> fixed-size ``pixel_values`` + labels.

Labels are character ids (``id2label``, for CTC models such as CRNN) or, when the preprocessor holds a tokenizer,
token ids framed for an encoder-decoder model (ViT-RoBERTa, TrOCR): the text's tokens without special tokens, then
EOS; the model feeds them, shifted right behind its start token, to its decoder (as the speech data does for Whisper).

Rows come from ``<split>.csv|json|jsonl|parquet`` (an image column with paths relative to that file's folder, raw
bytes or 🤗 ``Image`` values, and a text column), or from an image folder ``<path>/<split>/`` with a labels file of
``file_name<TAB>text`` lines. Images are decoded and resized once, in a batched ``datasets.map``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass

import numpy as np

from ..configs import DatasetConfig
from ..constants import TaskType
from ..errors import ConfigError, DataError
from ..preprocessors.image_processor import ImageProcessor, ImageProcessorConfig, load_image
from ..preprocessors.preprocessor import Preprocessor
from ..registry import register_dataset
from .augmenting import AugmentingDataset
from .collators import PaddingCollator
from .dataset import check_not_empty, preprocessor_fingerprint
from .image_augmentation import ImageAugmentationConfig, augment_image, pixel_units
from .loading import load_split, require_columns

BLANK_LABEL = ""
# Hezar's TextSplitType values: character labels, or tokenizer labels.
TEXT_SPLIT_TYPES = ("char_split", "tokenize")


@dataclass
class OCRDatasetConfig(DatasetConfig):
    """Columns, character set and image handling of an OCR dataset (Hezar's ``OCRDatasetConfig`` names).

    Args:
        text_column: column holding the text of each image.
        images_paths_column: column holding the image (a path relative to the data file's folder, bytes, or an image).
        text_split_type: ``char_split`` (character labels for CTC models), ``tokenize`` (token labels; the
            preprocessor must hold a tokenizer), or None = ``tokenize`` exactly when the preprocessor holds one.
        id2label: class id -> character, with the CTC blank ``""`` at id 0. None = built from the sorted characters of
            the train split's texts, so every split of the same folder gets the same map. Unused with token labels.
        max_length: texts longer than this many characters are invalid. None = no limit.
        reverse_digits: reverse every digit run of the texts (Hezar's fix for right-to-left annotations).
        labels_file: labels file inside ``<path>/<split>/`` for the image-folder layout (``file_name<TAB>text`` lines).
        data_files: split name -> file name in the folder; None = ``<split>.<ext>``.
        skip_invalid_rows: drop rows with unknown characters, over-long or missing texts, or undecodable images
            (counted in ``num_skipped``) instead of raising.
        image_processor_config: how to process images when no preprocessor is passed.
        preprocessor_path: model folder or Hub id whose ``preprocessor/`` processes the images (and, when it has
            one, tokenizes the texts) when no preprocessor is passed.
        augmentation: train-time augmentation of the training images (an :class:`ImageAugmentationConfig` or its
            fields as a mapping: rotation, shear, scale, translate, perspective, elastic, stroke, blur, contrast,
            brightness, noise, each with its unit and 0 = off). None = off. Applied on the fly to the samples of the
            Trainer's training dataset only, keyed on (seed, epoch, sample index); evaluation never sees it.
    """

    name: str = "ocr"
    task: str = TaskType.IMAGE2TEXT
    text_column: str = "text"
    images_paths_column: str = "path"
    text_split_type: str | None = None
    id2label: dict | None = None
    max_length: int | None = None
    reverse_digits: bool = False
    labels_file: str = "labels.txt"
    data_files: dict | None = None
    skip_invalid_rows: bool = False
    image_processor_config: ImageProcessorConfig | None = None
    preprocessor_path: str | None = None
    augmentation: ImageAugmentationConfig | None = None

    def __post_init__(self):
        if isinstance(self.augmentation, dict):  # Python callers may give the settings as a mapping, as YAML does
            self.augmentation = ImageAugmentationConfig.from_dict(self.augmentation)
        super().__post_init__()

    def validate(self) -> list[str]:
        problems = super().validate()
        if isinstance(self.max_length, int) and self.max_length < 1:
            problems.append(f"max_length: {self.max_length} must be >= 1 (or null for no limit)")
        if self.text_split_type is not None and self.text_split_type not in TEXT_SPLIT_TYPES:
            problems.append(f"text_split_type: {self.text_split_type!r}; use one of {', '.join(TEXT_SPLIT_TYPES)} "
                            "or null (tokenize when the preprocessor holds a tokenizer)")
        if isinstance(self.id2label, dict) and BLANK_LABEL not in [str(v) for v in self.id2label.values()]:
            problems.append('id2label: needs the CTC blank "" (conventionally at id 0)')
        return problems


def build_id2label(texts) -> dict[int, str]:
    """``{0: "", 1..N: sorted distinct characters}`` of ``texts`` (deterministic: independent of row order)."""
    chars = sorted({c for t in texts if t is not None for c in str(t)})
    return {0: BLANK_LABEL, **{i + 1: c for i, c in enumerate(chars)}}


def read_labels_file(folder: str, labels_file: str):
    """Read an image folder's ``file_name<TAB>text`` labels file into a table (``path``, ``text``).

    Raises:
        DataError: a line without a tab (the message names the file and line).
    """
    import datasets

    file_path = os.path.join(folder, labels_file)
    paths, texts = [], []
    with open(file_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            if "\t" not in line:
                raise DataError(f"`{file_path}` line {number}: expected `file_name<TAB>text`, got {line!r}")
            name, text = line.split("\t", 1)
            paths.append(name)
            texts.append(text)
    return datasets.Dataset.from_dict({"path": paths, "text": texts}), file_path


def _reverse_digits(text: str) -> str:
    """Reverse every digit run (with single separators between digits), as Hezar's ``reverse_string_digits``."""
    return re.sub(r"(\d+(?:\D\d+)*)", lambda m: m.group(1)[::-1], text)


@register_dataset("ocr", OCRDatasetConfig)
class OCRDataset(AugmentingDataset):
    """OCR data: images with character labels (CTC models) or token labels (encoder-decoder models).

    Each sample is ``{"pixel_values": float32 (C, H, W), "labels": [ids]}``: character ids (``id2label``) or, with
    a tokenizer (see ``text_split_type``), the text's token ids followed by EOS (``tokenizer``; ``id2label`` None).
    ``data_collator`` pads ``labels`` with -100 (``pixel_values`` have the processor's fixed size). ``num_skipped``
    counts dropped rows. With ``augmentation`` set, the Trainer's training dataset returns augmented images (same
    shape, labels untouched), drawn from (seed, epoch, index) once the Trainer has set an epoch (see
    :mod:`hezar_accel.data.augmenting`).

    Args:
        config: an :class:`OCRDatasetConfig`.
        split: the split to load (``train``, ``test`` ...).
        preprocessor: an :class:`ImageProcessor`, or a container holding one (and a tokenizer for token labels);
            default from the config.

    Raises:
        DataError: missing split/file/column, unknown characters or undecodable images (unless skipped).
        ConfigError: no usable image processor (one with a fixed ``size``), or ``tokenize`` without a tokenizer.
    """

    def __init__(self, config: OCRDatasetConfig, split: str | None = None, preprocessor=None, **kwargs):
        if preprocessor is None and config.image_processor_config is None and config.preprocessor_path:
            preprocessor = Preprocessor.load(config.preprocessor_path)
        super().__init__(config, split=split, preprocessor=preprocessor)
        self.image_processor = self._image_processor(preprocessor)
        self.tokenizer = self._tokenizer(preprocessor)
        self.preprocessor = preprocessor if self.tokenizer is not None else self.image_processor
        table, source, base = self._read(split)
        require_columns(table, {"text_column": config.text_column,
                                "images_paths_column": config.images_paths_column}, source)
        self.id2label = self.label2id = None
        if self.tokenizer is None:
            if config.id2label is None:
                texts = table[config.text_column] if split == "train" else self._read("train")[0][config.text_column]
                self.config = config.replace(id2label=build_id2label(texts))
            self.id2label = {int(k): str(v) for k, v in self.config.id2label.items()}
            self.label2id = {v: k for k, v in self.id2label.items() if v != BLANK_LABEL}
        num_rows = len(table)
        table, labels, kept_rows = self._check_texts(table, source)
        self.data, skipped_images = self._encode(table, labels, kept_rows, source, base)
        self.num_skipped = num_rows - len(kept_rows) + skipped_images
        check_not_empty(self.data, source)
        self.data.set_format("numpy")
        self.data_collator = PaddingCollator({"labels": -100})
        self._init_augmentation(self.config.augmentation)
        self._pixel_scale, self._pixel_offset = pixel_units(self.image_processor.config,
                                                            self.image_processor.config.num_channels)

    def augment(self, row: dict, index: int, epoch: int) -> dict:
        """The sample's image augmented in 0-255 units, then normalised again as the image processor does."""
        values = row["pixel_values"]
        pixels = values * self._pixel_scale + self._pixel_offset
        augmented = augment_image(pixels, self.augmentation, (epoch, index))
        if augmented is pixels:  # left out by the probability draw: exactly the stored sample
            return row
        return {**row, "pixel_values": ((augmented - self._pixel_offset) / self._pixel_scale).astype(np.float32)}

    def _image_processor(self, preprocessor) -> ImageProcessor:
        if isinstance(preprocessor, dict):
            preprocessor = next((p for p in preprocessor.values() if isinstance(p, ImageProcessor)), None)
        if preprocessor is None and self.config.image_processor_config is not None:
            preprocessor = ImageProcessor(self.config.image_processor_config)
        if not isinstance(preprocessor, ImageProcessor) or preprocessor.config.size is None:
            raise ConfigError("OCRDataset", [
                f"preprocessor: needs an ImageProcessor with a fixed size: [width, height], got {preprocessor!r}; pass "
                "preprocessor=, or set image_processor_config / preprocessor_path in the dataset config"])
        return preprocessor

    def _tokenizer(self, preprocessor):
        """The tokenizer that frames token labels, or None for character labels (see ``text_split_type``)."""
        from ..preprocessors.tokenizers import Tokenizer

        candidates = list(preprocessor.values()) if isinstance(preprocessor, dict) else [preprocessor]
        tokenizer = next((c for c in candidates if isinstance(c, Tokenizer)), None)
        if self.config.text_split_type == "char_split":
            return None
        if tokenizer is None and self.config.text_split_type == "tokenize":
            raise ConfigError("OCRDataset", [
                f"text_split_type: `tokenize` needs a tokenizer in the preprocessor, got {preprocessor!r}; pass a "
                "container with the image processor and the model's tokenizer (or a model folder as "
                "preprocessor_path), or use char_split"])
        if tokenizer is not None and tokenizer.token_to_id(tokenizer.config.setting("eos_token") or "") is None:
            raise ConfigError("OCRDataset", [
                f"preprocessor: {type(tokenizer).__name__} has no EOS token (eos_token: "
                f"{tokenizer.config.setting('eos_token')!r}) to end token labels with; use the model's tokenizer"])
        return tokenizer

    def _read(self, split: str):
        """``(table, source, base folder of relative image paths)`` for ``split``."""
        path, config = os.fspath(self.config.path), self.config
        folder = os.path.join(path, split) if split else path
        if os.path.isdir(path) and config.data_files is None and os.path.isfile(os.path.join(folder, config.labels_file)):
            table, source = read_labels_file(folder, config.labels_file)
            table = table.rename_columns({"path": config.images_paths_column, "text": config.text_column})
            return table, source, folder
        table, source = load_split(path, split, config.data_files)
        check_not_empty(table, source)
        feature = table.features.get(config.images_paths_column)
        if type(feature).__name__ == "Image" and feature.decode:
            # Undecoded {"bytes", "path"} values: images are decoded once, in _encode, where failures are reported.
            table = table.cast_column(config.images_paths_column, type(feature)(decode=False))
        base = os.path.dirname(os.path.abspath(source)) if os.path.isfile(source) else None
        return table, source, base

    def _check_texts(self, table, source: str):
        """``(table, label ids, kept row numbers)``; rows with missing/over-long texts or (character labels) unknown
        characters raise, or are dropped with ``skip_invalid_rows``."""
        config, texts, bad = self.config, [], []
        paths = table[config.images_paths_column]
        for i, text in enumerate(table[config.text_column]):
            text = None if text is None else (_reverse_digits(str(text)) if config.reverse_digits else str(text))
            unknown = sorted({c for c in text if c not in self.label2id}) if text and self.label2id is not None else []
            if text is None:
                bad.append(f"row {i} ({_describe(paths[i])}): missing text")
            elif unknown:
                bad.append(f"row {i} ({_describe(paths[i])}): text {text!r} has unknown character(s) {unknown}")
            elif config.max_length is not None and len(text) > config.max_length:
                bad.append(f"row {i} ({_describe(paths[i])}): text {text!r} is longer than max_length={config.max_length}")
            else:
                texts.append(text)
                continue
            texts.append(None)
        if bad and not config.skip_invalid_rows:
            valid = (f" Valid characters: {''.join(sorted(self.label2id))!r}." if self.label2id is not None else "")
            raise DataError(
                f"`{source}`: {len(bad)} invalid row(s): " + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
                + f".{valid} Fix the data, add the characters to the dataset config's id2label (character labels), "
                "or set skip_invalid_rows: true to drop such rows.")
        keep = [i for i, text in enumerate(texts) if text is not None]
        if len(keep) < len(texts):
            table = table.select(keep)
        return table, self._labels([texts[i] for i in keep]), keep

    def _labels(self, texts: list[str]) -> list[list[int]]:
        """Character ids, or token ids (no special tokens) followed by EOS."""
        if self.tokenizer is None:
            return [[self.label2id[c] for c in text] for text in texts]
        eos = self.tokenizer.token_to_id(self.tokenizer.config.setting("eos_token"))
        ids = self.tokenizer(texts, add_special_tokens=False, padding=False, truncation=False,
                             return_attention_mask=False, return_token_type_ids=False)["token_ids"] if texts else []
        return [row + [eos] for row in ids]

    def _encode(self, table, labels: list[list[int]], rows: list[int], source: str, base: str | None):
        """Decode + process every image once (batched map); returns (data, number of undecodable images skipped).

        ``rows`` are the rows' numbers in the source file (for error messages).
        """
        import datasets

        processor, column, skip = self.image_processor, self.config.images_paths_column, self.config.skip_invalid_rows
        width, height = processor.config.size
        shape = (processor.config.num_channels, height, width)
        table = table.add_column("__labels", labels).add_column("__row", rows)

        def encode(batch):
            pixels, ok = [], []
            for value, row in zip(batch[column], batch["__row"]):
                try:
                    pixels.append(processor.process_one(load_image(_resolve(value, base))))
                    ok.append(True)
                except (DataError, TypeError) as e:
                    if not skip:
                        raise DataError(f"`{source}` row {row}: {e} Fix or remove the row, "
                                        "or set skip_invalid_rows: true.") from None
                    pixels.append(np.zeros(shape, dtype=np.float32))
                    ok.append(False)
            return {"pixel_values": pixels, "labels": batch["__labels"], "__ok": ok}

        features = datasets.Features({"pixel_values": datasets.Array3D(shape=shape, dtype="float32"),
                                      "labels": datasets.Sequence(datasets.Value("int64")),
                                      "__ok": datasets.Value("bool")})
        data = table.map(encode, batched=True, batch_size=256, remove_columns=table.column_names, features=features,
                         new_fingerprint=self._fingerprint(table, base), desc=None)
        failed = len(data) - sum(data["__ok"])
        if failed:
            data = data.filter(lambda ok: ok, input_columns="__ok")
        return data.remove_columns("__ok"), failed

    def _fingerprint(self, table, base: str | None) -> str:
        """Names the rows, the image files' sizes/mtimes, the processing and the labels (datasets' cache key)."""
        files = []
        for value in table[self.config.images_paths_column]:
            resolved = _resolve(value, base)
            if isinstance(resolved, str) and os.path.isfile(resolved):
                stat = os.stat(resolved)
                files.append((resolved, stat.st_size, stat.st_mtime_ns))
        tokenizer = preprocessor_fingerprint(self.tokenizer) if self.tokenizer is not None else None
        key = json.dumps([table._fingerprint, files, self.image_processor.fingerprint(), tokenizer,
                          self.config.skip_invalid_rows], sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def decode_labels(self, ids) -> str:
        """Label ids (padding -100 ignored) -> text: characters joined, or tokens decoded without special tokens."""
        ids = [int(i) for i in ids if int(i) != -100]
        if self.tokenizer is not None:
            return self.tokenizer.decode(ids, skip_special_tokens=True)
        return "".join(self.id2label.get(i, "") for i in ids)


def _resolve(value, base: str | None):
    """A relative image path is relative to the data file's folder; other values (bytes, images) pass through."""
    if isinstance(value, str) and base is not None and not os.path.isabs(value):
        return os.path.join(base, value)
    return value


def _describe(value) -> str:
    return value if isinstance(value, str) else type(value).__name__
