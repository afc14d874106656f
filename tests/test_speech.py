"""Speech recognition: log-mel features, the character dataset and its collator, the Conformer-CTC model (mask,
lengths, save/load, predict) and a tiny real training run on the fixture clips. Offline and CPU-only."""

import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from hezar_accel.data import Dataset, SpeechRecognitionDataset, SpeechRecognitionDatasetConfig
from hezar_accel.errors import ConfigError, DataError
from hezar_accel.models import CTCSpeechRecognition, CTCSpeechRecognitionConfig, Model
from hezar_accel.preprocessors import AudioFeatureExtractor, AudioFeatureExtractorConfig, Preprocessor
from hezar_accel.trainer import Trainer, TrainerConfig

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "speech_digits")
TINY_MODEL = dict(d_model=96, num_layers=2, num_heads=4, ff_dim=192, subsampling_channels=32, conv_kernel_size=7,
                  dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def extractor():
    return AudioFeatureExtractor()


@pytest.fixture(scope="module")
def train_set(extractor):
    return SpeechRecognitionDataset(SpeechRecognitionDatasetConfig(path=FIXTURE), split="train", preprocessor=extractor)


def sine(freq: float, seconds: float, rate: int) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def tiny_model(id2label, extractor=None, seed=0):
    torch.manual_seed(seed)
    model = CTCSpeechRecognition(CTCSpeechRecognitionConfig(id2label=id2label, **TINY_MODEL))
    model.preprocessor = extractor
    return model.eval()


# -- feature extractor ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_samples", [400, 401, 559, 560, 16000, 12345])
def test_frame_count_follows_the_documented_formula(extractor, num_samples):
    features = extractor.extract(np.zeros(num_samples, dtype=np.float32) + 0.1)
    assert features.shape == (1 + (num_samples - 400) // 160, 80)
    assert extractor.num_frames(num_samples) == features.shape[0]


def test_inputs_shorter_than_one_window_give_one_frame(extractor):
    assert extractor.extract(np.ones(100, dtype=np.float32)).shape == (1, 80)


def test_a_sine_tone_peaks_in_the_mel_bin_holding_its_frequency():
    raw = AudioFeatureExtractor(AudioFeatureExtractorConfig(normalize=False))
    fbank = raw._fbank  # (201 FFT bins, 80 mels); 1 kHz is FFT bin 25 at 16 kHz / 400
    for freq in (500.0, 1000.0, 3000.0):
        energy = raw.extract(sine(freq, 1.0, 16000)).mean(0)
        fft_bin = int(round(freq * 400 / 16000))
        assert fbank[fft_bin, int(energy.argmax())] > 0.5, freq


def test_normalized_features_have_zero_mean_and_unit_variance_per_bin(extractor):
    features = extractor.extract(np.random.default_rng(0).normal(size=8000).astype(np.float32))
    assert np.allclose(features.mean(0), 0, atol=1e-4)
    assert np.allclose(features.std(0), 1, atol=1e-3)


def test_resampling_8khz_to_16khz_doubles_the_length_and_keeps_the_tone(tmp_path, extractor):
    path = str(tmp_path / "tone8k.wav")
    sf.write(path, np.stack([sine(1000, 1.0, 8000)] * 2, axis=1), 8000)  # stereo, mixed down to mono
    waveform = extractor.load_waveform(path)
    assert waveform.ndim == 1 and len(waveform) == 16000
    direct = extractor.extract(sine(1000, 1.0, 16000))
    assert np.abs(extractor.extract(waveform) - direct).mean() < 0.2
    from_array = extractor(sine(1000, 1.0, 8000), sampling_rate=8000)
    assert from_array["input_features"].shape == (1, 98, 80)


def test_a_batch_is_right_padded_with_lengths(extractor):
    clips = [os.path.join(FIXTURE, "train", name) for name in ("00000.flac", "00001.flac")]
    batch = extractor(clips)
    lengths = batch["input_lengths"].tolist()
    assert batch["input_features"].shape == (2, max(lengths), 80) and batch["input_lengths"].dtype == torch.int64
    assert lengths == [extractor.num_frames(sf.info(c).frames) for c in clips]
    short = int(np.argmin(lengths))
    assert torch.all(batch["input_features"][short, lengths[short]:] == 0)
    alone = extractor(clips[short])["input_features"][0]
    assert torch.allclose(alone, batch["input_features"][short, : lengths[short]], atol=1e-5)


def test_the_feature_extractor_config_round_trips_under_hezars_file_name(tmp_path):
    custom = AudioFeatureExtractor(AudioFeatureExtractorConfig(feature_size=40, hop_length=80))
    folder = custom.save(str(tmp_path))
    assert os.path.isfile(os.path.join(folder, "feature_extractor_config.yaml"))
    loaded = Preprocessor.load(str(tmp_path))
    assert isinstance(loaded, AudioFeatureExtractor) and loaded.config == custom.config


def test_an_unreadable_audio_file_is_a_data_error_naming_it(tmp_path, extractor):
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(DataError, match="broken.flac"):
        extractor(str(bad))


# -- dataset and collator ---------------------------------------------------------------------------------------
def test_vocabulary_is_blank_then_sorted_train_characters(train_set):
    chars = sorted({c for text in open(os.path.join(FIXTURE, "train.csv"), encoding="utf-8").read().splitlines()[1:]
                    for c in text.split(",", 1)[1]})
    assert train_set.id2label == {0: "<blank>", **{i + 1: c for i, c in enumerate(chars)}}
    assert " " in chars and len(train_set) == 30 and train_set.num_skipped == 0


def test_the_test_split_gets_the_train_vocabulary_through_dataset_load(train_set, extractor):
    test_set = Dataset.load(FIXTURE, split="test", task="speech_recognition", preprocessor=extractor)
    assert isinstance(test_set, SpeechRecognitionDataset) and test_set.id2label == train_set.id2label
    sample = test_set[0]
    assert sample["input_features"].shape[1] == 80 and sample["input_features"].dtype == np.float32


def make_copy(tmp_path, test_rows: list[str]) -> str:
    folder = tmp_path / "data"
    shutil.copytree(FIXTURE, folder)
    (folder / "test.csv").write_text("path,sentence\n" + "\n".join(test_rows) + "\n", encoding="utf-8")
    return str(folder)


def test_unknown_characters_raise_a_data_error_naming_the_row(tmp_path, train_set, extractor):
    folder = make_copy(tmp_path, ["test/00000.flac,یک دو", "test/00001.flac,abc", "test/00002.flac,سه"])
    config = SpeechRecognitionDatasetConfig(path=folder, id2label=train_set.id2label)
    with pytest.raises(DataError, match=r"row 1 \('abc'\): unknown characters \['a', 'b', 'c'\]"):
        SpeechRecognitionDataset(config, split="test", preprocessor=extractor)


def test_unreadable_audio_raises_a_data_error_naming_the_file_and_row(tmp_path, train_set, extractor):
    folder = make_copy(tmp_path, ["test/00000.flac,یک دو", "test/missing.flac,سه"])
    config = SpeechRecognitionDatasetConfig(path=folder, id2label=train_set.id2label)
    with pytest.raises(DataError, match=r"row 1 \(audio `test/missing.flac`\)"):
        SpeechRecognitionDataset(config, split="test", preprocessor=extractor)


def test_bad_rows_are_skipped_and_counted_when_asked(tmp_path, train_set, extractor):
    folder = make_copy(tmp_path, ["test/00000.flac,یک دو", "test/00001.flac,abc", "test/missing.flac,سه",
                                  "test/00002.flac,", "test/00003.flac,سه"])
    config = SpeechRecognitionDatasetConfig(path=folder, id2label=train_set.id2label, skip_invalid_rows=True)
    dataset = SpeechRecognitionDataset(config, split="test", preprocessor=extractor)
    assert len(dataset) == 2 and dataset.num_skipped == 3
    assert dataset[1]["labels"].tolist() == [dataset.label2id[c] for c in "سه"]


def test_collator_pads_features_and_labels_and_reports_input_lengths(train_set):
    samples = train_set.__getitems__([0, 1, 2])
    batch = train_set.data_collator(samples)
    lengths = [len(s["input_features"]) for s in samples]
    assert batch["input_lengths"].tolist() == lengths == train_set.lengths()[:3]
    assert batch["input_features"].shape == (3, max(lengths), 80)
    label_lengths = [len(s["labels"]) for s in samples]
    assert ((batch["labels"] != -100).sum(1)).tolist() == label_lengths
    short = int(np.argmin(lengths))
    assert torch.all(batch["input_features"][short, lengths[short]:] == 0)


# -- model ------------------------------------------------------------------------------------------------------
def test_the_model_config_needs_a_vocabulary_and_sane_sizes():
    with pytest.raises(ConfigError) as error:
        CTCSpeechRecognitionConfig(id2label=None, d_model=90, num_heads=4, conv_kernel_size=4, subsampling_factor=3)
    text = str(error.value)
    for field in ("id2label", "num_heads", "conv_kernel_size", "subsampling_factor"):
        assert field in text


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_output_lengths_follow_the_subsampling_formula(factor):
    id2label = {0: "<blank>", 1: "a", 2: "b"}
    torch.manual_seed(0)
    model = CTCSpeechRecognition(CTCSpeechRecognitionConfig(id2label=id2label, subsampling_factor=factor,
                                                            **TINY_MODEL)).eval()
    lengths = torch.tensor([57, 40, 33, 1])
    out = model(torch.randn(4, 57, 80), input_lengths=lengths)
    expected = lengths.clone()
    for _ in range(int(np.log2(factor))):
        expected = (expected - 1) // 2 + 1
    assert out["output_lengths"].tolist() == expected.tolist()
    assert out["output_lengths"].dtype == torch.int64 and out["logits"].shape == (4, int(expected.max()), 3)


def test_padding_does_not_change_the_real_frames_and_padded_frames_decode_to_nothing(train_set):
    model = tiny_model(train_set.id2label)
    batch = train_set.data_collator(train_set.__getitems__([0, 1, 2]))
    with torch.no_grad():
        out = model(**batch)
        for i, length in enumerate(batch["input_lengths"].tolist()):
            alone = model(batch["input_features"][i: i + 1, :length])
            real = int(out["output_lengths"][i])
            assert alone["logits"].shape[1] == real
            assert torch.allclose(alone["logits"][0], out["logits"][i, :real], atol=1e-4)
            assert torch.all(out["logits"][i, real:].argmax(-1) == 0)
    mask = torch.arange(batch["input_features"].shape[1])[None, :] < batch["input_lengths"][:, None]
    with torch.no_grad():
        from_mask = model(batch["input_features"], attention_mask=mask.long())
    assert torch.equal(from_mask["logits"], out["logits"])


def test_ctc_loss_is_finite_ignores_padding_and_has_gradients(train_set):
    model = tiny_model(train_set.id2label).train()
    batch = train_set.data_collator(train_set.__getitems__([0, 1, 2, 3]))
    out = model(**batch)
    loss = model.compute_loss(out["logits"], batch["labels"], out["output_lengths"])
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_decoding_drops_frames_beyond_output_lengths():
    model = tiny_model({0: "<blank>", 1: "a", 2: "b"})
    logits = torch.full((1, 6, 3), -5.0)
    for t, label in enumerate([1, 1, 0, 1, 2, 2]):
        logits[0, t, label] = 5.0
    assert model.decode(logits, torch.tensor([6])) == ["aab"]
    assert model.decode(logits, torch.tensor([3])) == ["a"]


def test_save_load_round_trip_gives_identical_logits_and_predict_works(tmp_path, train_set, extractor):
    model = tiny_model(train_set.id2label, extractor)
    model.save(str(tmp_path / "model"))
    assert os.path.isfile(tmp_path / "model" / "preprocessor" / "feature_extractor_config.yaml")
    loaded = Model.load(str(tmp_path / "model"))
    assert isinstance(loaded, CTCSpeechRecognition) and isinstance(loaded.preprocessor, AudioFeatureExtractor)
    clips = [os.path.join(FIXTURE, "test", n) for n in ("00000.flac", "00001.flac")]
    batch = extractor(clips)
    with torch.no_grad():
        assert torch.equal(model.eval()(**batch)["logits"], loaded.eval()(**batch)["logits"])
    outputs = loaded.predict(clips)
    assert len(outputs) == 2 and all(isinstance(o["text"], str) for o in outputs)
    assert loaded.predict(clips[0]) == outputs[:1]


# -- training ---------------------------------------------------------------------------------------------------
def test_a_tiny_training_run_lowers_cer_and_wer(tmp_path, train_set, extractor):
    # The tiny run memorises the 30 training clips; evaluating on them shows the whole pipeline learns. Evaluation
    # runs only before and after training (do_evaluate=False skips the per-epoch passes) to keep the test short.
    model = tiny_model(train_set.id2label, extractor).train()
    config = TrainerConfig(output_dir=str(tmp_path / "run"), task="speech_recognition", device="cpu", log_with=None,
                           num_epochs=25, batch_size=8, optimizer="adamw", learning_rate=3e-3, lr_scheduler="cosine",
                           warmup_steps=0.1, do_evaluate=False, save_enabled=False, show_progress_bar=False, seed=0)
    trainer = Trainer(config, model, train_dataset=train_set, eval_dataset=train_set)
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    assert before["wer"] >= 0.9 and before["cer"] >= 0.6
    assert after["cer"] < 0.2 and after["wer"] < 0.4, after
    assert after["loss"] < before["loss"] / 3
