"""Train-time augmentation in the data layer (OCR images, speech waveforms and features): off by default, a pure
function of (seed, epoch, sample index), training samples only, the same in a dataloader worker, and exact under
resume. Offline, CPU, fixture-sized."""

import os

import numpy as np
import pytest
import torch

from hezar_accel.data import OCRDataset, OCRDatasetConfig, SpeechRecognitionDataset, SpeechRecognitionDatasetConfig
from hezar_accel.data.audio_augmentation import AudioAugmentationConfig, add_noise, perturb_speed, spec_augment
from hezar_accel.data.image_augmentation import ImageAugmentationConfig
from hezar_accel.errors import CheckpointError, ConfigError
from hezar_accel.models import CRNNImage2Text, CRNNImage2TextConfig
from hezar_accel.models.model import read_state_dict
from hezar_accel.preprocessors import AudioFeatureExtractor, ImageProcessor, ImageProcessorConfig
from hezar_accel.trainer import Trainer, TrainerConfig
from hezar_accel.trainer.setup import build_eval_dataloader

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
OCR_DATA, SPEECH_DATA = os.path.join(FIXTURES, "ocr_plates"), os.path.join(FIXTURES, "speech_digits")
WIDTH, HEIGHT = 96, 32
IMAGE_AUGMENTATION = dict(rotation=3, shear=8, scale=0.08, translate=0.03, perspective=0.03, elastic=1.0, stroke=0.6,
                          blur=0.8, contrast=0.3, brightness=20, noise=8)
AUDIO_AUGMENTATION = dict(speed=[0.7, 1.4], noise_snr=[10, 30], freq_masks=2, freq_mask_bins=8, time_masks=2,
                          time_mask_frames=8)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def processor():
    return ImageProcessor(ImageProcessorConfig(gray_scale=True, size=[WIDTH, HEIGHT], rescale=1 / 255, mean=[0.5],
                                               std=[0.5]))


def ocr(processor, augmentation=None, split="train"):
    return OCRDataset(OCRDatasetConfig(path=OCR_DATA, augmentation=augmentation), split=split, preprocessor=processor)


def speech(augmentation=None, split="train"):
    return SpeechRecognitionDataset(SpeechRecognitionDatasetConfig(path=SPEECH_DATA, augmentation=augmentation),
                                    split=split, preprocessor=AudioFeatureExtractor())


def pixels(dataset, indices=range(6)):
    return [dataset[i]["pixel_values"] for i in indices]


def features(dataset, indices=range(6)):
    return [row["input_features"] for row in dataset.__getitems__(list(indices))]


def same(a, b):
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def plain_ocr(processor):
    return ocr(processor)


@pytest.fixture(scope="module")
def plain_speech():
    return speech()


# -- off by default ---------------------------------------------------------------------------------------------------
def test_without_augmentation_settings_every_epoch_gets_the_stored_samples_and_the_old_fingerprint(processor,
                                                                                                   plain_ocr):
    zeros = ocr(processor, augmentation={})  # every magnitude 0: the documented "off"
    zeros.set_train_epoch(3)
    assert zeros.augmentation is None and same(pixels(zeros), pixels(plain_ocr))
    assert zeros.fingerprint == plain_ocr.fingerprint == plain_ocr.data._fingerprint
    assert "augmentation" not in OCRDatasetConfig(path=OCR_DATA).saved_dict()  # saved folders are unchanged
    silent = ocr(processor, augmentation={**IMAGE_AUGMENTATION, "probability": 0})
    silent.set_train_epoch(3)
    assert same(pixels(silent), pixels(plain_ocr))


def test_speech_without_augmentation_keeps_no_waveforms_and_returns_the_stored_features(plain_speech):
    off = speech(augmentation={"time_masks": 0})
    off.set_train_epoch(2)
    assert off._waveforms is None and plain_speech._waveforms is None
    assert same(features(off), features(plain_speech)) and off.fingerprint == plain_speech.fingerprint


# -- a pure function of (seed, epoch, index) ----------------------------------------------------------------------
def test_ocr_augmentation_depends_only_on_seed_epoch_and_index_and_differs_across_epochs(processor, plain_ocr):
    first, second = ocr(processor, IMAGE_AUGMENTATION), ocr(processor, IMAGE_AUGMENTATION)
    first.set_train_epoch(1)
    second.set_train_epoch(1)
    epoch_one = pixels(first)
    assert same(epoch_one, pixels(second)) and not same(epoch_one, pixels(plain_ocr))
    # The batch a sample lands in does not matter: alone or among others, sample 4 is augmented alike.
    assert np.array_equal(first.__getitems__([7, 4, 0])[1]["pixel_values"], epoch_one[4])
    second.set_train_epoch(2)
    assert all(not np.array_equal(a, b) for a, b in zip(epoch_one, pixels(second)))
    other_seed = ocr(processor, {**IMAGE_AUGMENTATION, "seed": 1})
    other_seed.set_train_epoch(1)
    assert all(not np.array_equal(a, b) for a, b in zip(epoch_one, pixels(other_seed)))


@pytest.mark.parametrize("field, value", [
    ("rotation", 4), ("shear", 10), ("scale", 0.1), ("translate", 0.05), ("perspective", 0.05), ("elastic", 1.5),
    ("stroke", 0.8), ("blur", 1.0), ("contrast", 0.4), ("brightness", 30), ("noise", 10)])
def test_each_image_augmentation_alone_changes_the_image_and_keeps_shape_labels_and_value_range(
        processor, plain_ocr, field, value):
    dataset = ocr(processor, {field: value})
    dataset.set_train_epoch(1)
    rows, stored = dataset.__getitems__(list(range(6))), plain_ocr.__getitems__(list(range(6)))
    assert any(not np.array_equal(r["pixel_values"], s["pixel_values"]) for r, s in zip(rows, stored))
    for row, original in zip(rows, stored):
        assert row["pixel_values"].shape == original["pixel_values"].shape == (1, HEIGHT, WIDTH)
        assert row["pixel_values"].dtype == np.float32 and np.array_equal(row["labels"], original["labels"])
        assert -1.0 <= row["pixel_values"].min() and row["pixel_values"].max() <= 1.0  # normalised 0..255


def test_speech_augmentation_is_keyed_on_the_epoch_and_updates_the_lengths_the_collator_reports(plain_speech):
    first, second = speech(AUDIO_AUGMENTATION), speech(AUDIO_AUGMENTATION)
    first.set_train_epoch(1)
    second.set_train_epoch(1)
    epoch_one = features(first, range(8))
    assert same(epoch_one, features(second, range(8)))
    second.set_train_epoch(2)
    assert all(not np.array_equal(a, b) for a, b in zip(epoch_one, features(second, range(8))))
    stored = plain_speech.__getitems__(list(range(8)))
    assert {len(a) for a in epoch_one} != {len(s["input_features"]) for s in stored}  # speed changes the frames
    batch = first.data_collator(first.__getitems__(list(range(8))))
    assert batch["input_lengths"].tolist() == [len(a) for a in epoch_one]
    assert all(np.array_equal(r["labels"], s["labels"]) for r, s in zip(first.__getitems__(list(range(8))), stored))


# -- training samples only ------------------------------------------------------------------------------------------
def test_evaluation_never_sees_augmentation_even_on_the_training_object(processor, plain_ocr, tmp_path):
    dataset = ocr(processor, IMAGE_AUGMENTATION)
    assert same(pixels(dataset), pixels(plain_ocr))  # no Trainer epoch yet: not a training dataset
    dataset.set_train_epoch(1)
    assert not same(pixels(dataset), pixels(plain_ocr))
    assert same(pixels(dataset.for_evaluation()), pixels(plain_ocr))
    config = TrainerConfig(output_dir=str(tmp_path), task="image2text", num_epochs=1, eval_batch_size=6, log_with=None)
    batch = next(iter(build_eval_dataloader(config, dataset, dataset.data_collator, pin_memory=False)))
    assert torch.equal(batch["pixel_values"], torch.from_numpy(np.stack(pixels(plain_ocr))))
    audio = speech(AUDIO_AUGMENTATION)
    audio.set_train_epoch(1)
    assert same(features(audio.for_evaluation()), features(speech()))


# -- dataloader workers ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ocr", "speech"])
def test_a_dataloader_worker_augments_exactly_like_the_main_process(processor, kind):
    dataset = ocr(processor, IMAGE_AUGMENTATION) if kind == "ocr" else speech(AUDIO_AUGMENTATION)
    field = "pixel_values" if kind == "ocr" else "input_features"
    loader = torch.utils.data.DataLoader(dataset, batch_size=6, collate_fn=dataset.data_collator, num_workers=1,
                                         persistent_workers=True)
    dataset.set_train_epoch(1)
    in_worker = next(iter(loader))[field]
    dataset.set_train_epoch(2)  # the same worker process must see the new epoch
    in_worker_two = next(iter(loader))[field]
    assert torch.equal(in_worker_two, dataset.data_collator(dataset.__getitems__(list(range(6))))[field])
    dataset.set_train_epoch(1)
    assert torch.equal(in_worker, dataset.data_collator(dataset.__getitems__(list(range(6))))[field])


# -- the augmentation functions ---------------------------------------------------------------------------------------
def test_speed_noise_and_masks_do_what_their_units_say():
    rng = np.random.default_rng(0)
    tone = np.sin(2 * np.pi * 440 * np.arange(32000) / 16000).astype(np.float32)
    assert abs(len(perturb_speed(tone, 1.25, 16000)) - 32000 / 1.25) <= 2
    assert abs(len(perturb_speed(tone, 0.8, 16000)) - 32000 / 0.8) <= 2
    noisy = add_noise(tone, 10.0, rng)
    measured = 10 * np.log10(np.mean(tone.astype(np.float64) ** 2) / np.mean((noisy - tone).astype(np.float64) ** 2))
    assert abs(measured - 10.0) < 0.3
    frames = rng.standard_normal((200, 80)).astype(np.float32) + 5
    config = AudioAugmentationConfig(freq_masks=2, freq_mask_bins=10, time_masks=3, time_mask_frames=50,
                                     time_mask_ratio=0.05)
    masked = spec_augment(frames, config, (1, 0))
    fill = frames.mean()
    masked_bins = np.flatnonzero((masked == fill).all(axis=0))
    masked_frames = np.flatnonzero((masked == fill).all(axis=1))
    assert 0 < len(masked_bins) <= 2 * 10 and 0 < len(masked_frames) <= 3 * int(0.05 * 200)


def test_bad_augmentation_settings_name_the_field_the_value_and_the_range():
    with pytest.raises(ConfigError) as error:
        ImageAugmentationConfig(rotation=90, noise=-1, probability=2, elastic_grid=1)
    text = str(error.value)
    assert "rotation: 90 must be in [0, 45]" in text and "noise: -1" in text and "probability: 2" in text
    assert "elastic_grid: 1" in text
    with pytest.raises(ConfigError) as error:
        AudioAugmentationConfig(speed=[1.2, 0.9], noise_snr=[30, 10], time_mask_ratio=0)
    text = str(error.value)
    assert "speed: [1.2, 0.9]" in text and "noise_snr: [30, 10]" in text and "time_mask_ratio: 0" in text
    with pytest.raises(ConfigError, match="rotation"):
        OCRDatasetConfig(path=OCR_DATA, augmentation={"rotation": "a lot"})


# -- exact resume ------------------------------------------------------------------------------------------------------
def test_an_augmented_ocr_run_resumed_mid_epoch_ends_with_bitwise_equal_weights_and_other_settings_are_refused(
        processor, tmp_path):
    def run(output_dir, augmentation=IMAGE_AUGMENTATION, **overrides):
        train = ocr(processor, augmentation)
        torch.manual_seed(0)
        model = CRNNImage2Text(CRNNImage2TextConfig(id2label=train.config.id2label, image_height=HEIGHT,
                                                    image_width=WIDTH, cnn_channels=[8, 16, 16, 16, 32, 32, 32],
                                                    map2seq_out_dim=32, rnn_dim=32))
        config = TrainerConfig(output_dir=str(output_dir), task="image2text", device="cpu", num_epochs=2,
                               batch_size=8, learning_rate=3e-3, log_with=None, show_progress_bar=False,
                               do_evaluate=False, save_steps=3, write_plots=False, seed=0, **overrides)
        Trainer(config, model, train_dataset=train, data_collator=train.data_collator, preprocessor=processor).train()
        return model.state_dict()

    reference = run(tmp_path / "uninterrupted")  # 40 samples / 8 = 5 updates per epoch: step 6 is inside epoch 2
    checkpoint = tmp_path / "uninterrupted" / "checkpoints" / f"{6:08d}"
    resumed = run(tmp_path / "resumed", resume_from_checkpoint=str(checkpoint))
    assert [k for k in reference if not torch.equal(reference[k], resumed[k])] == []
    saved = read_state_dict(checkpoint / "model.pt")
    assert any(not torch.equal(saved[k], reference[k]) for k in reference)  # the resumed run did train on
    plain = run(tmp_path / "plain", augmentation=None)
    assert any(not torch.equal(plain[k], reference[k]) for k in reference)  # augmentation did change training
    with pytest.raises(CheckpointError, match="augmentation settings"):
        run(tmp_path / "other", augmentation={**IMAGE_AUGMENTATION, "rotation": 5},
            resume_from_checkpoint=str(checkpoint))


# -- the shipped recipes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("recipe_name, data", [("ocr_plates", OCR_DATA), ("speech_digits", SPEECH_DATA)])
def test_the_shipped_recipes_augment_their_training_set_only_and_start_from_weights_the_seed_decides(
        recipe_name, data, tmp_path):
    from hezar_accel.recipe import build_trainer, load_recipe

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", f"{recipe_name}.yaml")
    recipe = load_recipe(path, [f"trainer.output_dir={tmp_path / 'run'}", f"dataset.path={data}",
                                "trainer.log_with=null", "trainer.overwrite_output_dir=true"])
    fingerprints = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # whatever the global RNG holds before, the seed decides the initial weights
        trainer = build_trainer(recipe)
        fingerprints.append(trainer.initial_weights_fingerprint)
    assert fingerprints[0] == fingerprints[1]
    assert trainer.train_dataset.augmentation is not None
    assert trainer.eval_dataloader.dataset.augments is False
