"""``Model.predict(inputs, batch_size=...)``: inputs run a chunk at a time, results equal one batch's, in order."""

import csv
import os

import numpy as np
import pytest
import torch

import seq2seq_tiny
from tiny import make_model, make_tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


class LargestBatch:
    """Records the batch size of every top-level forward call of ``model`` (generation calls forward-like steps
    inside ``generate``; there the preprocessed batch is what ``generate`` receives)."""

    def __init__(self, model):
        self.sizes = []
        target = model.generate if model.is_generative else model.forward
        name = "generate" if model.is_generative else "forward"

        def recording(*args, **kwargs):
            first = next(v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor))
            self.sizes.append(first.shape[0])
            return target(*args, **kwargs)

        setattr(model, name, recording)  # an instance attribute: nn.Module.__call__ and predict both find it

    @property
    def largest(self):
        return max(self.sizes)


def texts(text_data, count):
    with open(os.path.join(text_data, "train.csv"), encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)][:count]


def assert_same(chunked, whole):
    """Equal outputs; probabilities may differ in the last bits because padding lengths differ between chunks."""
    assert len(chunked) == len(whole)
    for a, b in zip(chunked, whole):
        if isinstance(a, dict):
            assert a.keys() == b.keys()
            for key in a:
                assert a[key] == pytest.approx(b[key], abs=1e-5) if isinstance(a[key], float) else a[key] == b[key]
        else:
            assert isinstance(a, list)
            assert_same(a, b)


@pytest.fixture(scope="module")
def classifier(text_data):
    tokenizer = make_tokenizer(text_data)
    model = make_model({0: "angry", 1: "happy", 2: "sad"}, tokenizer.vocab_size, dropout=0.0).eval()
    model.preprocessor = tokenizer
    return model


def test_a_classifier_predicts_in_chunks_with_the_results_of_one_batch(classifier, text_data):
    inputs = texts(text_data, 11)
    whole = classifier.predict(inputs, batch_size=None)
    counter = LargestBatch(classifier)
    assert_same(classifier.predict(inputs, batch_size=4), whole)
    assert counter.sizes == [4, 4, 3]
    assert_same(classifier.predict(inputs, batch_size=0), whole)
    assert counter.sizes[-1] == 11  # 0 = all at once


def test_the_largest_forward_batch_does_not_grow_with_the_number_of_inputs(classifier, text_data):
    counter = LargestBatch(classifier)
    classifier.predict(texts(text_data, 40))  # default batch_size: 32
    assert counter.largest == 32
    counter.sizes.clear()
    classifier.predict(texts(text_data, 64), batch_size=8)
    assert counter.largest == 8 and len(counter.sizes) == 8


def test_one_input_and_text_pairs_are_single_inputs(classifier):
    assert len(classifier.predict("عالی بود", batch_size=1)) == 1
    pairs = [("عالی", "بود"), ("غمگین", "شدم"), ("عصبانی", "هستم")]
    whole = classifier.predict(pairs, batch_size=None)
    counter = LargestBatch(classifier)
    assert_same(classifier.predict(pairs, batch_size=2), whole)
    assert counter.sizes == [2, 1]


def test_a_bad_batch_size_names_the_value(classifier):
    with pytest.raises(ValueError, match="batch_size: -1 must be an integer >= 1"):
        classifier.predict(["عالی"], batch_size=-1)


def test_a_tagger_splits_by_sentence_never_inside_a_sentence_of_words(text_data):
    from hezar_accel.models import BertSequenceLabeling, BertSequenceLabelingConfig

    tokenizer = make_tokenizer(text_data)
    torch.manual_seed(0)
    model = BertSequenceLabeling(BertSequenceLabelingConfig(
        id2label={0: "O", 1: "B-LOC"}, vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)).eval()
    model.preprocessor = tokenizer
    sentences = [t.split()[:6] for t in texts(text_data, 5)]
    whole = model.predict(sentences, batch_size=None)
    counter = LargestBatch(model)
    assert_same(model.predict(sentences, batch_size=2), whole)
    assert counter.sizes == [2, 2, 1]
    one_sentence = sentences[0]  # a list of words is one sentence, even when longer than batch_size
    assert [p["token"] for p in model.predict(one_sentence, batch_size=2)[0]] == one_sentence


def test_mask_filling_predicts_in_chunks(text_data):
    from hezar_accel.models import BertMaskFilling, BertMaskFillingConfig

    tokenizer = make_tokenizer(text_data)
    torch.manual_seed(0)
    model = BertMaskFilling(BertMaskFillingConfig(vocab_size=tokenizer.vocab_size, hidden_size=16,
                                                  num_hidden_layers=1, num_attention_heads=2,
                                                  intermediate_size=32, max_position_embeddings=32)).eval()
    model.preprocessor = tokenizer
    inputs = [f"{t.split()[0]} {tokenizer.mask_token} {' '.join(t.split()[1:4])}" for t in texts(text_data, 5)]
    whole = model.predict(inputs, batch_size=None, top_k=2)
    counter = LargestBatch(model)
    assert_same(model.predict(inputs, batch_size=2, top_k=2), whole)
    assert counter.sizes == [2, 2, 1]


def test_gpt2_generation_pads_each_chunk_and_gives_the_same_texts():
    from hezar_accel.data import TextGenerationDataset
    from hezar_accel.models import GPT2TextGeneration, GPT2TextGenerationConfig
    from hezar_accel.preprocessors import BPETokenizer

    prompts = list(TextGenerationDataset.training_texts(seq2seq_tiny.TRANSLATE, prompt_field="text_en"))
    tokenizer = BPETokenizer.train(prompts, vocab_size=300, min_frequency=1, max_length=32)
    torch.manual_seed(0)
    model = GPT2TextGeneration(GPT2TextGenerationConfig(
        vocab_size=tokenizer.vocab_size, n_positions=32, n_embd=16, n_layer=1, n_head=2, resid_pdrop=0.0,
        embd_pdrop=0.0, attn_pdrop=0.0, max_new_tokens=4, bos_token_id=tokenizer.token_to_id("<s>"),
        eos_token_id=tokenizer.token_to_id("</s>"), pad_token_id=tokenizer.pad_token_id)).eval()
    model.preprocessor = tokenizer
    inputs = prompts[:5]
    whole = model.predict(inputs, batch_size=None)
    counter = LargestBatch(model)
    assert model.predict(inputs, batch_size=2) == whole
    assert counter.sizes == [2, 2, 1]


def test_t5_generation_predicts_in_chunks():
    tokenizer = seq2seq_tiny.unigram_tokenizer()
    model = seq2seq_tiny.t5_model(tokenizer, max_length=6).eval()
    inputs = ["one two three", "ten", "four five", "six", "seven eight nine"]
    whole = model.predict(inputs, batch_size=None, num_beams=1)
    counter = LargestBatch(model)
    assert model.predict(inputs, batch_size=2, num_beams=1) == whole
    assert counter.sizes == [2, 2, 1]


def test_whisper_predicts_clips_in_chunks():
    model = seq2seq_tiny.whisper_model(seq2seq_tiny.whisper_preprocessors(), max_target_positions=16).eval()
    clips = seq2seq_tiny.clips(count=3)
    whole = model.predict(clips, batch_size=None, num_beams=1, max_new_tokens=3)
    counter = LargestBatch(model)
    assert model.predict(clips, batch_size=2, num_beams=1, max_new_tokens=3) == whole
    assert counter.sizes == [2, 1]


def test_ctc_speech_recognition_predicts_clips_in_chunks_and_a_waveform_list_is_one_clip():
    from hezar_accel.models import CTCSpeechRecognition, CTCSpeechRecognitionConfig
    from hezar_accel.preprocessors import AudioFeatureExtractor

    torch.manual_seed(0)
    model = CTCSpeechRecognition(CTCSpeechRecognitionConfig(
        id2label={0: "<blank>", 1: "a", 2: "b"}, d_model=16, num_layers=1, num_heads=2, ff_dim=32,
        subsampling_channels=8, conv_kernel_size=3, dropout=0.0)).eval()
    model.preprocessor = AudioFeatureExtractor()
    clips = seq2seq_tiny.clips(count=3)
    whole = model.predict(clips, batch_size=None)
    counter = LargestBatch(model)
    assert model.predict(clips, batch_size=2) == whole and counter.sizes == [2, 1]
    waveform = [float(x) for x in np.sin(np.arange(4000) / 5.0)]
    assert len(model.predict(waveform, batch_size=2)) == 1


def test_ocr_predicts_images_in_chunks():
    from hezar_accel.models import CRNNImage2Text, CRNNImage2TextConfig
    from hezar_accel.preprocessors import ImageProcessor, ImageProcessorConfig

    folder = os.path.join(HERE, "fixtures", "ocr_plates")
    with open(os.path.join(folder, "test.csv"), encoding="utf-8") as f:
        images = [os.path.join(folder, row["path"]) for row in csv.DictReader(f)][:3]
    torch.manual_seed(0)
    model = CRNNImage2Text(CRNNImage2TextConfig(
        id2label={0: "<blank>", 1: "۱", 2: "۲"}, image_height=32, image_width=96,
        cnn_channels=[8, 8, 16, 16, 16, 16, 16], map2seq_out_dim=16, rnn_dim=16)).eval()
    model.preprocessor = ImageProcessor(ImageProcessorConfig(gray_scale=True, size=[96, 32], rescale=1 / 255,
                                                             mean=[0.5], std=[0.5]))
    whole = model.predict(images, batch_size=None)
    counter = LargestBatch(model)
    assert model.predict(tuple(images), batch_size=2) == whole and counter.sizes == [2, 1]
