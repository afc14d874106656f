"""Encoder-decoder families: the shared search (greedy, beams), T5 with its Unigram tokenizer and text-to-text data,
Whisper with its tokenizer, log-mel features and token labels; tiny trainings with the Trainer, save/load round trips,
and exact 2-process evaluation through generate. Offline and CPU-only; tests/seq2seq_tiny.py builds the pieces."""

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import seq2seq_tiny as tiny
from hezar_accel.errors import ConfigError
from hezar_accel.models import Model, T5TextGeneration, T5TextGenerationConfig, WhisperSpeechRecognitionConfig
from hezar_accel.models.generation import beam_search, choose_next_tokens, decode
from hezar_accel.preprocessors import (Preprocessor, SentencePieceUnigramTokenizer, WhisperFeatureExtractor,
                                       WhisperFeatureExtractorConfig)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the shared search on a toy model ---------------------------------------------------------------------------------
def table_step(table: torch.Tensor):
    """A decoder whose next-token logits depend only on the last token: ``table[last]``."""
    def step(inputs, mask, past):
        return table[inputs[:, -1]], None
    return step


def sequence_logprob(table, start, tokens):
    log_probs, last, total = torch.log_softmax(table, -1), start, 0.0
    for token in tokens:
        total += float(log_probs[last, token])
        last = token
    return total


def test_beam_search_with_one_beam_and_early_stopping_is_greedy_decoding():
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        table = torch.randn(12, 12, generator=generator) * 3
        prompts = torch.randint(0, 12, (4, 1), generator=generator)
        mask = torch.ones_like(prompts)
        greedy = decode(table_step(table), prompts, mask, 8, choose_next_tokens, eos_token_id=3, pad_token_id=5,
                        use_cache=False)
        beams = beam_search(table_step(table), prompts, mask, 8, num_beams=1, eos_token_id=3, pad_token_id=5,
                            early_stopping=True, use_cache=False)
        assert beams.tolist() == greedy.tolist()


def test_beam_search_finds_the_likelier_sequence_that_greedy_decoding_misses():
    # From token 0 greedy takes 1 (p=0.5) and then faces a flat choice; 2 (p=0.4) leads to a certain 3 (eos).
    probs = torch.full((6, 6), 1e-6)
    probs[0, 1], probs[0, 2] = 0.5, 0.4
    probs[1, 3:6] = 1 / 3
    probs[2, 3] = 1.0
    table = probs.log()
    prompt, mask = torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=torch.long)
    greedy = decode(table_step(table), prompt, mask, 2, choose_next_tokens, eos_token_id=3, pad_token_id=5,
                    use_cache=False)
    beams = beam_search(table_step(table), prompt, mask, 2, num_beams=2, eos_token_id=3, pad_token_id=5,
                        length_penalty=0.0, use_cache=False)
    assert greedy[0, 0].item() == 1 and beams[0].tolist() == [2, 3]
    assert sequence_logprob(table, 0, beams[0].tolist()) > sequence_logprob(table, 0, greedy[0].tolist())


def test_the_length_penalty_chooses_between_a_short_and_a_long_finished_hypothesis():
    # 0 -> 3 (eos) directly: log 0.4; 0 -> 1 -> 2 -> 3: log 0.6 (the other two steps are certain).
    probs = torch.full((6, 6), 1e-9)
    probs[0, 3], probs[0, 1], probs[1, 2], probs[2, 3] = 0.4, 0.6, 1.0, 1.0
    prompt, mask = torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=torch.long)
    short = beam_search(table_step(probs.log()), prompt, mask, 5, num_beams=2, eos_token_id=3, pad_token_id=5,
                        length_penalty=-2.0, early_stopping="never", use_cache=False)
    long = beam_search(table_step(probs.log()), prompt, mask, 5, num_beams=2, eos_token_id=3, pad_token_id=5,
                       length_penalty=2.0, early_stopping="never", use_cache=False)
    assert short[0].tolist() == [3] and long[0].tolist() == [1, 2, 3]


# -- tokenizers and features ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unigram():
    return tiny.unigram_tokenizer()


@pytest.fixture(scope="module")
def whisper_pre():
    return tiny.whisper_preprocessors()


def test_the_unigram_tokenizer_ends_texts_with_eos_decodes_them_back_and_reloads_from_its_folder(unigram, tmp_path):
    assert [unigram.id_to_token(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"]
    ids = unigram.encode("four seven ten")
    assert ids[-1] == 1 and unigram.decode(ids) == "four seven ten"
    assert unigram.decode(unigram.encode("یک  دو\tسه")) == "یک دو سه"  # whitespace runs fold to one space
    unigram.save(tmp_path)
    loaded = Preprocessor.load(tmp_path)
    assert isinstance(loaded, SentencePieceUnigramTokenizer) and loaded.config.name == "sentencepiece_unigram_tokenizer"
    pairs = loaded([("one two", "یک دو")], return_token_type_ids=True)
    assert pairs["token_ids"][0].count(1) == 2 and pairs["token_type_ids"][0][-1] == 1


def test_the_whisper_tokenizer_puts_special_tokens_after_the_text_and_builds_the_decoder_prompt(whisper_pre):
    tokenizer = whisper_pre["whisper_bpe_tokenizer"]
    eos = tokenizer.token_to_id("<|endoftext|>")
    assert eos == 300 and tokenizer.token_to_id("<|notimestamps|>") == tokenizer.vocab_size - 1
    assert tokenizer.token_to_id("<|fa|>") == eos + 2 + list(tiny_languages()).index("fa")
    prompt = tokenizer.decoder_prompt_ids()
    assert [tokenizer.id_to_token(i) for i in prompt] == ["<|startoftranscript|>", "<|fa|>", "<|transcribe|>",
                                                          "<|notimestamps|>"]
    assert tokenizer.decoder_prompt_ids(language="english", task="translate")[1:3] == [
        tokenizer.token_to_id("<|en|>"), tokenizer.token_to_id("<|translate|>")]
    text = tiny.transcripts()[0]
    assert tokenizer.decode(prompt + tokenizer.encode(text) + [eos]) == text
    with pytest.raises(ValueError, match="language"):
        tokenizer.decoder_prompt_ids(language="klingon")


def tiny_languages():
    from hezar_accel.preprocessors.tokenizers.whisper_languages import LANGUAGES

    return LANGUAGES


def test_whisper_features_fill_the_chunk_and_a_tone_peaks_in_the_mel_bin_of_its_frequency():
    extractor = WhisperFeatureExtractor(WhisperFeatureExtractorConfig(chunk_length=2, return_attention_mask=True))
    rate = 16000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(rate) / rate)).astype(np.float32)
    long = np.concatenate([tone] * 3)
    batch = extractor([tone, long])
    assert batch["input_features"].shape == (2, 80, 200)
    assert batch["attention_mask"].sum(-1).tolist() == [100, 200]
    features = batch["input_features"][0]
    filters = torch.from_numpy(tiny_filters())
    expected_bin = int(filters[int(1000 / (rate / 2) * 200)].argmax())
    assert int(features[:, 10:90].mean(-1).argmax()) == expected_bin
    # The silent half sits at the floor: 8 log10 units below the loudest bin, mapped by (x + 4) / 4.
    assert torch.allclose(features[:, 120:], features.max() - 2.0, atol=1e-6)
    assert torch.equal(extractor(long)["input_features"][0], batch["input_features"][1])  # cut to the chunk


def tiny_filters():
    from hezar_accel.preprocessors.whisper_feature_extractor import slaney_mel_filters

    return slaney_mel_filters(201, 80, 0.0, 8000.0, 16000)


# -- data ------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def t5_data(unigram):
    return tiny.t5_datasets(unigram)


@pytest.fixture(scope="module")
def speech_data(whisper_pre):
    return tiny.whisper_datasets(whisper_pre)


def test_text_to_text_pairs_give_the_encoder_the_prompt_and_the_decoder_the_target_with_eos(unigram, t5_data):
    train, test = t5_data
    import csv

    with open(os.path.join(tiny.TRANSLATE, "test.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    sample = test[0]
    assert sample["token_ids"] == unigram.encode(rows[0]["text_en"]) and sample["token_ids"][-1] == 1
    assert sample["labels"] == unigram.encode(rows[0]["text"], add_special_tokens=False) + [1]
    assert "prompt_ids" not in sample  # the encoder input is the prompt: generate reads token_ids
    batch = test.data_collator([test[i] for i in range(4)])
    assert (batch["labels"][batch["labels"] != -100] >= 0).all()
    assert batch["attention_mask"].sum(-1).tolist() == [len(test[i]["token_ids"]) for i in range(4)]
    with pytest.raises(ConfigError, match="prompt_field"):
        train.config.replace(prompt_field=None)


def test_whisper_labels_continue_the_decoder_prompt_and_batches_are_channels_first(whisper_pre, speech_data):
    tokenizer = whisper_pre["whisper_bpe_tokenizer"]
    train, _ = speech_data
    eos = tokenizer.token_to_id("<|endoftext|>")
    labels = train[0]["labels"].tolist()
    assert labels == tokenizer.decoder_prompt_ids()[1:] + tokenizer.encode(tiny.transcripts()[0]) + [eos]
    batch = train.data_collator([train[0], train[1]])
    assert batch["input_features"].shape == (2, 80, 400)
    assert train.id2label is None and len(train.lengths()) == 30 and max(train.lengths()) <= 400


# -- models ------------------------------------------------------------------------------------------------------------------
def test_t5_and_whisper_use_hezars_parameter_names_and_tie_their_embeddings(unigram, whisper_pre):
    t5 = tiny.t5_model(unigram)
    keys = set(t5.state_dict())
    assert {"t5.shared.weight", "t5.encoder.embed_tokens.weight", "t5.decoder.embed_tokens.weight", "t5.lm_head.weight",
            "t5.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            "t5.decoder.block.1.layer.1.EncDecAttention.o.weight", "t5.decoder.block.1.layer.2.DenseReluDense.wi_1.weight",
            "t5.encoder.final_layer_norm.weight"} <= keys
    assert "t5.encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" not in keys
    assert t5.t5.lm_head.weight is t5.t5.shared.weight is t5.t5.decoder.embed_tokens.weight
    whisper = tiny.whisper_model(whisper_pre)
    keys = set(whisper.state_dict())
    assert {"whisper.model.encoder.conv2.weight", "whisper.model.encoder.embed_positions.weight",
            "whisper.model.decoder.layers.1.encoder_attn.q_proj.bias", "whisper.proj_out.weight"} <= keys
    assert "whisper.model.decoder.layers.0.self_attn.k_proj.bias" not in keys
    assert whisper.whisper.proj_out.weight is whisper.whisper.model.decoder.embed_tokens.weight
    assert not whisper.whisper.model.encoder.embed_positions.weight.requires_grad  # fixed sinusoids


def test_a_t5_checkpoint_with_its_own_lm_head_keeps_it_through_load_and_save(unigram, tmp_path):
    # T5 v1.1 weights saved with transformers 4 train the head apart from the embedding.
    model = tiny.t5_model(unigram)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["t5.lm_head.weight"] = torch.randn_like(state["t5.lm_head.weight"])
    other = tiny.t5_model(unigram, seed=1)
    other.load_state_dict(state)
    assert torch.equal(other.t5.lm_head.weight, state["t5.lm_head.weight"])
    assert torch.equal(other.t5.shared.weight, state["t5.shared.weight"])
    other.save(tmp_path)
    loaded = Model.load(tmp_path)
    assert torch.equal(loaded.t5.lm_head.weight, state["t5.lm_head.weight"])
    assert loaded.t5.lm_head.weight is not loaded.t5.shared.weight


def test_teacher_forcing_reads_the_labels_shifted_right_and_the_loss_is_their_token_mean(unigram):
    model = tiny.t5_model(unigram).eval()
    token_ids = torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]])
    mask = (token_ids != 0).long()
    labels = torch.tensor([[10, 11, 12, 1], [13, 1, -100, -100]])
    logits = model(token_ids, mask, labels=labels)["logits"]
    explicit = torch.tensor([[0, 10, 11, 12], [0, 13, 1, 0]])
    assert torch.equal(logits, model(token_ids, mask, decoder_input_ids=explicit)["logits"])
    keep = labels != -100
    assert torch.allclose(model.compute_loss(logits, labels), F.cross_entropy(logits[keep], labels[keep]))


def test_cached_greedy_generation_equals_an_argmax_loop_over_full_recomputes(unigram, whisper_pre):
    model = tiny.t5_model(unigram).eval()
    token_ids = torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]])
    mask = (token_ids != 0).long()
    generated = model.generate(token_ids, mask, num_beams=1, max_new_tokens=6)
    decoder = torch.zeros(2, 1, dtype=torch.long)
    for _ in range(6):
        logits = model(token_ids, mask, decoder_input_ids=decoder)["logits"][:, -1]
        decoder = torch.cat([decoder, logits.argmax(-1, keepdim=True)], dim=1)
    assert generated.tolist() == decoder.tolist()  # no EOS in 6 tokens from this random model
    assert torch.equal(model.generate(token_ids, mask, use_cache=False, max_new_tokens=6), generated)
    whisper = tiny.whisper_model(whisper_pre).eval()
    features = whisper_pre["whisper_feature_extractor"](tiny.clips())["input_features"]
    assert torch.equal(whisper.generate(features, use_cache=False), whisper.generate(features))


# -- training, saving, loading -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_t5(unigram, t5_data, tmp_path_factory):
    train, test = t5_data
    model = tiny.t5_model(unigram, num_beams=2)
    folder = tmp_path_factory.mktemp("t5")
    trainer = tiny.trainer_for(model, "text_generation", str(folder / "run"), train, test, metrics=["bleu", "rouge"],
                               num_epochs=12)
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    trainer.save(str(folder / "model"))
    return trainer, before, after, str(folder / "model")


@pytest.fixture(scope="module")
def trained_whisper(whisper_pre, speech_data, tmp_path_factory):
    train, test = speech_data
    model = tiny.whisper_model(whisper_pre)
    folder = tmp_path_factory.mktemp("whisper")
    trainer = tiny.trainer_for(model, "speech_recognition", str(folder / "run"), train, train, num_epochs=20,
                               learning_rate=3e-3)
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    trainer.save(str(folder / "model"))
    return trainer, before, after, str(folder / "model")


def assert_same_outputs(model, loaded, inputs: dict, labels: torch.Tensor):
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(**inputs, labels=labels)["logits"], loaded(**inputs, labels=labels)["logits"])
    for beams in (1, 3):
        assert torch.equal(model.generate(**inputs, num_beams=beams), loaded.generate(**inputs, num_beams=beams))


def test_a_tiny_t5_learns_with_the_trainer_and_reloads_with_identical_outputs(trained_t5, t5_data):
    trainer, before, after, folder = trained_t5
    assert after["loss"] < before["loss"] / 3, (before, after)
    assert after["bleu"] > before["bleu"] + 5 and after["rouge1"] > before["rouge1"]
    loaded = Model.load(folder)
    assert isinstance(loaded, T5TextGeneration) and loaded.config.num_beams == 2
    assert isinstance(loaded.preprocessor, SentencePieceUnigramTokenizer)
    _, test = t5_data
    batch = test.data_collator([test[i] for i in range(4)])
    inputs = {"token_ids": batch["token_ids"], "attention_mask": batch["attention_mask"]}
    assert_same_outputs(trainer.unwrapped_model, loaded, inputs, batch["labels"])
    outputs = loaded.predict(["one two three", "ten"])
    assert len(outputs) == 2 and all(o["generated_text"] for o in outputs)
    assert loaded.predict(["one two three"], num_beams=1)[0]["generated_text"]


def test_a_tiny_whisper_learns_with_the_trainer_and_reloads_with_identical_outputs(trained_whisper, whisper_pre):
    trainer, before, after, folder = trained_whisper
    assert after["loss"] < before["loss"] / 3, (before, after)
    assert after["cer"] < before["cer"] - 0.2 and after["wer"] < before["wer"]
    loaded = Model.load(folder)
    assert set(loaded.preprocessor) == {"whisper_bpe_tokenizer", "whisper_feature_extractor"}
    features = loaded.preprocessor["whisper_feature_extractor"](tiny.clips())["input_features"]
    tokenizer = whisper_pre["whisper_bpe_tokenizer"]
    labels = torch.tensor([tokenizer.decoder_prompt_ids()[1:] + tokenizer.encode("یک دو") + [300]] * 3)
    assert_same_outputs(trainer.unwrapped_model, loaded, {"input_features": features}, labels)
    texts = [o["text"] for o in loaded.predict(tiny.clips())]
    assert len(texts) == 3 and any(texts)
    assert loaded.config.saved_dict()["num_hidden_layers"] == 2  # Hezar builds the same encoder depth


def test_configs_refuse_what_hezar_or_this_package_cannot_run():
    with pytest.raises(ConfigError, match="num_beams"):
        T5TextGenerationConfig(num_beams=0)
    with pytest.raises(ConfigError, match="feed_forward_proj"):
        T5TextGenerationConfig(feed_forward_proj="gated-swoosh")
    with pytest.raises(ConfigError, match="generation_config: unknown keys"):
        WhisperSpeechRecognitionConfig(generation_config={"num_beams": 4})
    with pytest.raises(ConfigError, match="apply_spec_augment"):
        WhisperSpeechRecognitionConfig(apply_spec_augment=True)
    with pytest.raises(ConfigError, match="lang_to_id"):
        WhisperSpeechRecognitionConfig(vocab_size=400, pad_token_id=0, bos_token_id=0, eos_token_id=0,
                                       decoder_start_token_id=1, generation_config={"lang_to_id": {"<|fa|>": 50300}})


def test_whisper_refuses_features_that_do_not_fill_its_positions(whisper_pre):
    model = tiny.whisper_model(whisper_pre)
    with pytest.raises(ValueError, match="chunk_length"):
        model.generate(torch.zeros(1, 80, 300))


# -- 2 processes ------------------------------------------------------------------------------------------------------------------
EVAL_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "seq2seq_eval.py")


def eval_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("seq2seq_eval", EVAL_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.distributed
def test_evaluation_through_generate_gives_the_same_corpus_metrics_with_two_processes(trained_t5, trained_whisper,
                                                                                      tmp_path):
    t5_folder, whisper_folder = trained_t5[3], trained_whisper[3]
    single_t5 = trained_t5[0].unwrapped_model
    double = tiny.launch_two_processes(EVAL_SCRIPT, t5_folder, whisper_folder, str(tmp_path / "eval.json"))
    assert double["num_processes"] == 2
    single, processes = eval_script().evaluate(t5_folder, whisper_folder, str(tmp_path / "one"))
    assert processes == 1 and single_t5.config.num_beams == 2  # evaluation decodes with beams
    for family in ("t5", "whisper"):
        assert {k: v for k, v in double[family].items() if k != "loss"} == \
            {k: v for k, v in single[family].items() if k != "loss"}, family
        assert math.isclose(double[family]["loss"], single[family]["loss"], rel_tol=1e-6)
    assert single["t5"]["bleu"] > 0 and single["whisper"]["cer"] < 1
