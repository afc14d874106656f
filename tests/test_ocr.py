"""OCR (image2text): image processor, CRNN + CTC, OCRDataset and a tiny real training run (offline, small, CPU)."""

import csv
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from hezar_accel.configs import ConfigError
from hezar_accel.constants import IMAGE_PROCESSOR_CONFIG_FILE, PREPROCESSOR_SUBFOLDER
from hezar_accel.data import Dataset, OCRDataset, OCRDatasetConfig
from hezar_accel.errors import DataError
from hezar_accel.models import CRNNImage2Text, CRNNImage2TextConfig, Model
from hezar_accel.preprocessors import ImageProcessor, ImageProcessorConfig, Preprocessor
from hezar_accel.trainer import Trainer, TrainerConfig

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "ocr_plates")
WIDTH, HEIGHT = 96, 32
TINY = dict(cnn_channels=[8, 16, 32, 32, 64, 64, 64], map2seq_out_dim=64, rnn_dim=64)


def rows_of(split):
    with open(os.path.join(FIXTURE, f"{split}.csv"), encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def processor():
    config = ImageProcessorConfig(gray_scale=True, size=[WIDTH, HEIGHT], rescale=1 / 255, mean=[0.5], std=[0.5])
    return ImageProcessor(config)


@pytest.fixture(scope="module")
def train_dataset(processor):
    return Dataset.load(FIXTURE, split="train", task="image2text", preprocessor=processor)


def tiny_model(id2label, seed=0):
    torch.manual_seed(seed)
    return CRNNImage2Text(CRNNImage2TextConfig(id2label=id2label, image_height=HEIGHT, image_width=WIDTH, **TINY))


def write_csv(folder, name, rows):
    with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "text"])
        writer.writeheader()
        writer.writerows(rows)


# -- image processor -------------------------------------------------------------------------------------------------
def half_black_half_white(width=64, height=16):
    array = np.zeros((height, width), dtype=np.uint8)
    array[:, width // 2:] = 255
    return Image.fromarray(array)


def test_image_processor_gives_a_normalised_float_batch_of_the_configured_size(processor):
    out = processor(half_black_half_white())["pixel_values"]
    assert out.shape == (1, 1, HEIGHT, WIDTH) and out.dtype == torch.float32
    assert out.min().item() == pytest.approx(-1.0) and out.max().item() == pytest.approx(1.0)
    assert torch.all(out[..., :WIDTH // 2 - 1] == -1) and torch.all(out[..., WIDTH // 2 + 1:] == 1)


def test_image_processor_reads_paths_and_lists_and_converts_to_rgb(tmp_path):
    path = tmp_path / "plate.png"
    half_black_half_white().save(path)
    rgb = ImageProcessor(ImageProcessorConfig(size=[32, 16], rescale=1 / 255))
    out = rgb([str(path), half_black_half_white()], return_tensors="np")["pixel_values"]
    assert out.shape == (2, 3, 16, 32) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_array_equal(out[0], out[1])


def test_keeping_the_aspect_ratio_pads_the_right_side_with_the_pad_value():
    keep = ImageProcessor(ImageProcessorConfig(gray_scale=True, size=[64, 16], keep_aspect_ratio=True, pad_value=255))
    out = keep(Image.new("L", (16, 16), 0))["pixel_values"][0, 0]
    assert torch.all(out[:, :16] == 0) and torch.all(out[:, 16:] == 255)


def test_image_processor_config_rejects_inconsistent_values():
    with pytest.raises(ConfigError) as e:
        ImageProcessorConfig(gray_scale=True, size=[10], mean=[0.5, 0.5, 0.5])
    assert "size" in str(e.value) and "mean/std" in str(e.value) and "mean:" in str(e.value)


def test_image_processor_round_trips_through_hezars_config_file(processor, tmp_path):
    processor.save(tmp_path)
    assert os.path.isfile(tmp_path / PREPROCESSOR_SUBFOLDER / IMAGE_PROCESSOR_CONFIG_FILE)
    loaded = Preprocessor.load(tmp_path)
    assert isinstance(loaded, ImageProcessor) and loaded.config == processor.config


def test_an_unreadable_image_is_reported_with_its_file_name(processor, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        processor(str(bad))


# -- model -----------------------------------------------------------------------------------------------------------
ID2LABEL = {0: "", 1: "ب", 2: "۱", 3: "۲"}


def crafted_logits(paths):
    """Logits whose per-frame argmax follows ``paths`` (one list of class ids per image)."""
    logits = torch.full((len(paths), len(paths[0]), len(ID2LABEL)), -5.0)
    for b, path in enumerate(paths):
        for t, class_id in enumerate(path):
            logits[b, t, class_id] = 5.0
    return logits


def test_greedy_ctc_decoding_merges_repeats_and_drops_blanks():
    model = tiny_model(ID2LABEL)
    logits = crafted_logits([[2, 2, 0, 2, 1, 1, 0, 3], [0, 0, 0, 0, 0, 0, 0, 0]])
    assert model.decode(logits) == [[2, 2, 1, 3], []]
    texts = model.post_process({"logits": logits}, return_scores=True)
    assert [t["text"] for t in texts] == ["۱۱ب۲", ""]
    assert all(0.0 < t["score"] <= 1.0 for t in texts)


def test_forward_is_batch_first_and_ignores_labels_and_the_ctc_loss_skips_padding():
    model = tiny_model(ID2LABEL).eval()
    pixels = torch.randn(2, 1, HEIGHT, WIDTH)
    labels = torch.tensor([[1, 2, -100], [3, 3, 1]])
    logits = model(pixels, labels=labels)["logits"]
    assert logits.shape == (2, WIDTH // 4, len(ID2LABEL))
    loss = model.compute_loss(logits, labels)
    expected = torch.nn.functional.ctc_loss(logits.log_softmax(-1).transpose(0, 1), torch.tensor([1, 2, 3, 3, 1]),
                                            torch.tensor([WIDTH // 4] * 2), torch.tensor([2, 3]), blank=0)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_state_dict_keys_follow_hezars_crnn():
    keys = set(tiny_model(ID2LABEL).state_dict())
    for key in ("cnn.0.conv.weight", "cnn.0.bn.running_mean", "cnn.7.bn.weight", "cnn.10.conv.bias", "map2seq.weight",
                "rnn1.weight_ih_l0_reverse", "rnn2.weight_hh_l0", "classifier.bias"):
        assert key in keys


def test_model_config_requires_a_character_map_and_a_valid_height():
    with pytest.raises(ConfigError) as e:
        CRNNImage2TextConfig(image_height=40)
    assert "id2label" in str(e.value) and "image_height" in str(e.value)


def test_a_saved_model_loads_with_identical_logits_and_predicts_an_image_path(train_dataset, processor, tmp_path):
    model = tiny_model(train_dataset.config.id2label).eval()
    model.preprocessor = processor
    model.save(tmp_path / "ocr")
    loaded = Model.load(tmp_path / "ocr")
    assert isinstance(loaded, CRNNImage2Text) and isinstance(loaded.preprocessor, ImageProcessor)
    pixels = train_dataset.data_collator(train_dataset.__getitems__([0, 1, 2]))["pixel_values"]
    torch.testing.assert_close(loaded.eval()(pixels)["logits"], model(pixels)["logits"], rtol=0, atol=0)
    image = os.path.join(FIXTURE, rows_of("test")[0]["path"])
    outputs = loaded.predict(image)
    assert len(outputs) == 1 and isinstance(outputs[0]["text"], str)
    assert set(outputs[0]["text"]) <= set(train_dataset.config.id2label.values())


# -- dataset ---------------------------------------------------------------------------------------------------------
def test_dataset_builds_a_sorted_character_set_with_the_blank_at_zero(train_dataset):
    id2label = train_dataset.config.id2label
    characters = sorted(set("".join(r["text"] for r in rows_of("train"))))
    assert id2label[0] == "" and [id2label[i] for i in range(1, len(id2label))] == characters
    assert len(train_dataset) == 40 and train_dataset.num_skipped == 0
    batch = train_dataset.data_collator(train_dataset.__getitems__([0, 1]))
    assert batch["pixel_values"].shape == (2, 1, HEIGHT, WIDTH) and batch["pixel_values"].dtype == torch.float32
    assert train_dataset.decode_labels(batch["labels"][0]) == rows_of("train")[0]["text"]


def test_the_test_split_reuses_the_character_set_of_the_train_split(train_dataset, processor):
    test = OCRDataset(OCRDatasetConfig(path=FIXTURE), split="test", preprocessor=processor)
    assert test.config.id2label == train_dataset.config.id2label and len(test) == 20


def test_padding_labels_uses_minus_100(train_dataset):
    lengths = [len(r["text"]) for r in rows_of("train")]
    short = lengths.index(min(lengths))
    batch = train_dataset.data_collator(train_dataset.__getitems__([short, lengths.index(max(lengths))]))
    if min(lengths) < max(lengths):
        assert (batch["labels"][0] == -100).sum().item() == max(lengths) - min(lengths)


def make_data(folder, bad_text=True, bad_image=True):
    """train.csv = 5 fixture rows; test.csv = 3 good rows (+ one with a Latin letter, + one undecodable image)."""
    os.makedirs(folder / "img")
    rows = rows_of("train")[:5]
    for row in rows:
        shutil.copy(os.path.join(FIXTURE, row["path"]), folder / "img")
        row["path"] = "img/" + os.path.basename(row["path"])
    (folder / "img" / "broken.png").write_bytes(b"\x89PNG but not really")
    write_csv(folder, "train.csv", rows)
    text = rows[0]["text"]
    extra = ([{"path": rows[3]["path"], "text": text[:2] + "X"}] if bad_text else []) + \
            ([{"path": "img/broken.png", "text": text}] if bad_image else [])
    write_csv(folder, "test.csv", rows[:3] + extra)
    return str(folder)


def test_unknown_characters_are_rejected_with_the_row_and_character(tmp_path, processor):
    with pytest.raises(DataError) as e:
        OCRDataset(OCRDatasetConfig(path=make_data(tmp_path)), split="test", preprocessor=processor)
    message = str(e.value)
    assert "row 3" in message and "'X'" in message and "skip_invalid_rows" in message and "test.csv" in message


def test_an_undecodable_image_is_rejected_with_its_file_name(tmp_path, processor):
    with pytest.raises(DataError, match=r"row 3: .*broken.png"):
        OCRDataset(OCRDatasetConfig(path=make_data(tmp_path, bad_text=False)), split="test", preprocessor=processor)


def test_invalid_rows_are_skipped_and_counted_with_the_option(tmp_path, processor):
    config = OCRDatasetConfig(path=make_data(tmp_path), skip_invalid_rows=True)
    test = OCRDataset(config, split="test", preprocessor=processor)
    assert len(test) == 3 and test.num_skipped == 2


def test_images_stored_as_bytes_in_parquet_give_the_same_pixels_as_files(tmp_path, processor, train_dataset):
    import datasets

    rows = rows_of("train")[:4]
    images = [open(os.path.join(FIXTURE, r["path"]), "rb").read() for r in rows]
    datasets.Dataset.from_dict({"image": images, "text": [r["text"] for r in rows]}).to_parquet(tmp_path / "train.parquet")
    data = OCRDataset(OCRDatasetConfig(path=str(tmp_path), images_paths_column="image"), split="train",
                      preprocessor=processor)
    np.testing.assert_array_equal(data[0]["pixel_values"], train_dataset[0]["pixel_values"])


def test_an_ocr_dataset_needs_an_image_processor_with_a_fixed_size():
    with pytest.raises(ConfigError, match="size"):
        OCRDataset(OCRDatasetConfig(path=FIXTURE), split="train", preprocessor=ImageProcessor())


def test_an_image_folder_with_a_labels_file_loads(tmp_path, processor):
    os.makedirs(tmp_path / "train")
    lines = []
    for row in rows_of("train")[:4]:
        shutil.copy(os.path.join(FIXTURE, row["path"]), tmp_path / "train")
        lines.append(f"{os.path.basename(row['path'])}\t{row['text']}")
    (tmp_path / "train" / "labels.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = OCRDataset(OCRDatasetConfig(path=str(tmp_path)), split="train", preprocessor=processor)
    assert len(data) == 4 and data.decode_labels(data[0]["labels"]) == rows_of("train")[0]["text"]


# -- training --------------------------------------------------------------------------------------------------------
def test_a_short_training_run_lowers_the_cer_on_the_training_images(train_dataset, processor, tmp_path,
                                                                    one_torch_thread):
    model = tiny_model(train_dataset.config.id2label)
    config = TrainerConfig(output_dir=str(tmp_path / "run"), task="image2text", device="cpu", log_with=None,
                           num_epochs=100, batch_size=8, learning_rate=3e-3, metrics=["cer"], do_evaluate=False,
                           save_enabled=False, show_progress_bar=False, seed=0)
    trainer = Trainer(config, model, train_dataset=train_dataset, eval_dataset=train_dataset,
                      data_collator=train_dataset.data_collator, preprocessor=processor)
    before = trainer.evaluate()["cer"]
    trainer.train()
    after = trainer.evaluate()["cer"]
    assert after < before and after < 0.7, (before, after)
