"""Image-to-text encoder-decoders (ViT-RoBERTa, TrOCR): Hezar's names and config blocks, OCR data with token labels,
teacher forcing, decoding through the shared search (greedy, beams, no repeated n-grams), a tiny training with the
Trainer evaluated through generate, save/load round trips and exact 2-process metrics. Offline and CPU-only;
tests/image2text_tiny.py builds the pieces."""

import math
import os

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import image2text_tiny as tiny
import seq2seq_tiny
from hezar_accel.configs import ModelConfig
from hezar_accel.data import Dataset, OCRDatasetConfig
from hezar_accel.errors import ConfigError
from hezar_accel.models import (Model, RobertaMaskFilling, RobertaMaskFillingConfig, TrOCRImage2Text,
                                TrOCRImage2TextConfig, ViTRobertaImage2Text, ViTRobertaImage2TextConfig)
from hezar_accel.models.generation import ban_repeated_ngrams, beam_search, decode
from hezar_accel.models.vision_encoder_decoder import Image2TextGenerationConfig
from hezar_accel.preprocessors import ImageProcessor, PreprocessorsContainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
NAMES = ["vit_roberta_image2text", "trocr_image2text"]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny.bpe_tokenizer()


def images(count: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(count, 3, 24, 96, generator=generator)


# -- names and configs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_parameters_carry_hezars_names_and_the_lm_head_is_the_word_table(name, tokenizer):
    model = tiny.model(name, tokenizer)
    prefix = model.module_name
    keys = list(model.state_dict())
    layer = f"{prefix}.decoder.roberta.encoder.layer.1"
    expected = [f"{prefix}.encoder.embeddings.cls_token", f"{prefix}.encoder.embeddings.position_embeddings",
                f"{prefix}.encoder.embeddings.patch_embeddings.projection.weight",
                f"{prefix}.encoder.layers.1.attention.q_proj.weight", f"{prefix}.encoder.layers.1.attention.o_proj.bias",
                f"{prefix}.encoder.layers.0.layernorm_before.weight", f"{prefix}.encoder.layers.0.mlp.fc2.weight",
                f"{prefix}.encoder.layernorm.bias", f"{prefix}.encoder.pooler.dense.weight",
                f"{prefix}.decoder.roberta.embeddings.word_embeddings.weight",
                f"{prefix}.decoder.roberta.embeddings.position_embeddings.weight",
                f"{layer}.attention.self.query.weight", f"{layer}.crossattention.self.key.weight",
                f"{layer}.crossattention.output.LayerNorm.bias", f"{layer}.output.dense.weight",
                f"{prefix}.decoder.lm_head.bias", f"{prefix}.decoder.lm_head.decoder.weight",
                f"{prefix}.enc_to_dec_proj.weight"]
    assert set(expected) <= set(keys), sorted(set(expected) - set(keys))
    # 🤗's order within a layer: self-attention, cross-attention, feed-forward.
    assert keys.index(f"{layer}.attention.output.LayerNorm.bias") < keys.index(f"{layer}.crossattention.self.query.weight") \
        < keys.index(f"{layer}.intermediate.dense.weight")
    decoder = model.body.decoder
    assert decoder.lm_head.decoder.weight is decoder.roberta.embeddings.word_embeddings.weight
    assert decoder.lm_head.decoder.bias is decoder.lm_head.bias
    assert not any(p.requires_grad for p in model.body.encoder.pooler.parameters())  # never read by the decoder


def test_configs_take_hezars_defaults_for_a_missing_block_and_transformers_defaults_for_a_missing_key(tmp_path):
    vit, trocr = ViTRobertaImage2TextConfig(), TrOCRImage2TextConfig()
    assert (vit.decoder.vocab_size, vit.decoder.max_position_embeddings, vit.decoder.pad_token_id) == (42000, 514, 2)
    assert (trocr.decoder.pad_token_id, trocr.generation.pad_token_id) == (1, 1)
    assert (vit.generation.num_beams, vit.generation.no_repeat_ngram_size, vit.generation.length_penalty) == (4, 3, 2.0)
    assert vit.encoder.image_height_width == (224, 224) and vit.encoder.num_patches == 196
    partial = ViTRobertaImage2TextConfig(decoder={"is_decoder": True, "add_cross_attention": True, "hidden_size": 48,
                                                  "num_attention_heads": 2}, generation={"decoder_start_token_id": 0})
    assert (partial.decoder.vocab_size, partial.decoder.type_vocab_size, partial.decoder.pad_token_id) == (50265, 2, 1)
    assert (partial.generation.num_beams, partial.generation.max_length) == (1, 20)
    partial.save(tmp_path)
    text = (tmp_path / "model_config.yaml").read_text()
    assert text.count("config_type") == 1 and "name: vit_roberta_image2text" in text  # blocks carry no identity keys
    assert ModelConfig.load(tmp_path) == partial


def test_configs_refuse_what_neither_hezar_nor_this_package_can_run():
    blocks = tiny.config_values("vit_roberta_image2text", 300)
    with pytest.raises(ConfigError, match="decoder.is_decoder: false builds a RoBERTa that never sees the image"):
        ViTRobertaImage2TextConfig(**{**blocks, "decoder": {**blocks["decoder"], "is_decoder": False}})
    with pytest.raises(ConfigError, match=r"patch_size: 7 does not divide image_size \[24, 96\]"):
        ViTRobertaImage2TextConfig(**{**blocks, "encoder": {**blocks["encoder"], "patch_size": 7}})
    with pytest.raises(ConfigError, match="generation.max_length: 40 exceeds the decoder's 21 positions"):
        ViTRobertaImage2TextConfig(**{**blocks, "generation": {**blocks["generation"], "max_length": 40}})
    with pytest.raises(ConfigError, match=r"decoder.hiden_size: unknown key \(did you mean `hidden_size`"):
        ViTRobertaImage2TextConfig(**{**blocks, "decoder": {**blocks["decoder"], "hiden_size": 8}})
    with pytest.raises(ConfigError, match="return_dict_in_generate"):
        Image2TextGenerationConfig(decoder_start_token_id=0, return_dict_in_generate=True)
    with pytest.raises(ConfigError, match="generation.eos_token_id: 300 is not an id"):
        ViTRobertaImage2TextConfig(**{**blocks, "generation": {**blocks["generation"], "eos_token_id": 300}})


def test_the_image_processor_config_matches_the_encoders_input():
    config = ViTRobertaImage2TextConfig(**tiny.config_values("vit_roberta_image2text", 300))
    processor = ImageProcessor(config.image_processor_config())
    pixels = processor(Image.new("RGB", (192, 48), (255, 0, 128)))["pixel_values"]
    assert pixels.shape == (1, 3, 24, 96)
    assert pixels[0, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, 128 / 255 * 2 - 1], abs=1e-6)


# -- data ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def preprocessors(tokenizer):
    return tiny.model("vit_roberta_image2text", tokenizer).preprocessor


@pytest.fixture(scope="module")
def plates(preprocessors):
    return tiny.datasets(preprocessors)


def test_ocr_labels_with_a_tokenizer_are_the_texts_tokens_then_eos(tokenizer, plates):
    train, _ = plates
    text = tiny.plate_texts()[0]
    assert train[0]["labels"].tolist() == tokenizer.encode(text, add_special_tokens=False) + [2]
    assert train.decode_labels(train[0]["labels"]) == text and train.id2label is None
    batch = train.data_collator([train[0], train[1]])
    assert batch["pixel_values"].shape == (2, 3, 24, 96) and (batch["labels"][:, -1] == -100).any()


def test_char_split_keeps_character_labels_and_tokenize_needs_a_tokenizer(preprocessors, tmp_path):
    chars = Dataset.load(tiny.PLATES, split="test", task="image2text", preprocessor=preprocessors,
                         text_split_type="char_split")
    assert chars.tokenizer is None and chars.decode_labels(chars[0]["labels"]) == tiny.plate_texts("test")[0]
    with pytest.raises(ConfigError, match="text_split_type: `tokenize` needs a tokenizer"):
        Dataset.load(tiny.PLATES, split="test", task="image2text", preprocessor=preprocessors["image_processor"],
                     text_split_type="tokenize")
    with pytest.raises(ConfigError, match="text_split_type: 'words'"):
        OCRDatasetConfig(text_split_type="words")


# -- teacher forcing and decoding ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_teacher_forcing_reads_the_labels_behind_the_start_token_and_the_loss_is_their_token_mean(name, tokenizer):
    model = tiny.model(name, tokenizer).eval()
    start = model.config.generation.decoder_start_token_id
    labels = torch.tensor([[10, 11, 12, 2], [13, 2, -100, -100], [14, 15, 2, -100]])
    pixels = images()
    logits = model(pixels, labels=labels)["logits"]
    pad = model.config.decoder.pad_token_id
    explicit = torch.tensor([[start, 10, 11, 12], [start, 13, 2, pad], [start, 14, 15, 2]])
    assert torch.equal(logits, model(pixels, decoder_input_ids=explicit)["logits"])
    keep = labels != -100
    assert torch.allclose(model.compute_loss(logits, labels), F.cross_entropy(logits[keep], labels[keep]))


@pytest.mark.parametrize("name", NAMES)
def test_cached_greedy_decoding_equals_an_argmax_loop_and_a_one_beam_search(name, tokenizer):
    model = tiny.model(name, tokenizer, no_repeat_ngram_size=0).eval()
    pixels = images()
    generated = model.generate(pixels, num_beams=1, max_new_tokens=6)
    start = model.config.generation.decoder_start_token_id
    decoder = torch.full((3, 1), start)
    for _ in range(6):
        logits = model(pixels, decoder_input_ids=decoder)["logits"][:, -1]
        decoder = torch.cat([decoder, logits.argmax(-1, keepdim=True)], dim=1)
    assert generated.tolist() == decoder.tolist()  # no EOS in 6 tokens from this untrained model
    assert torch.equal(model.generate(pixels, num_beams=1, max_new_tokens=6, use_cache=False), generated)
    states, _ = model.encode(pixels)

    def step(inputs, mask, past):
        logits, past = model.decoder_step(inputs, states, None, past)
        return logits[:, -1], past

    one_beam = beam_search(step, decoder[:, :1], torch.ones_like(decoder[:, :1]), 6, num_beams=1, eos_token_id=2,
                           pad_token_id=model.config.generation.pad_token_id, early_stopping=True)
    assert one_beam.tolist() == generated[:, 1:].tolist()


def test_no_repeat_ngram_size_bans_the_token_that_would_repeat_an_ngram():
    # A decoder that always prefers 5 after 4 and 4 after 5: greedy loops "4 5 4 5 ..."; with bigrams banned, 4 5
    # appears once, then the next-best tokens break the loop.
    table = torch.zeros(8, 8)
    table[4, 5], table[5, 4], table[4, 6], table[5, 7], table[6, 4], table[7, 4] = 3.0, 3.0, 2.0, 2.0, 1.0, 1.0

    def step(inputs, mask, past):
        return table[inputs[:, -1]], None

    prompt, mask = torch.tensor([[4]]), torch.ones(1, 1, dtype=torch.long)
    free = decode(step, prompt, mask, 5, lambda s: s.argmax(-1), None, 0, use_cache=False)
    rule = lambda scores, generated, ids: ban_repeated_ngrams(scores, ids, 2)  # noqa: E731
    banned = decode(step, prompt, mask, 5, lambda s: s.argmax(-1), None, 0, use_cache=False, rule=rule)
    assert free.tolist() == [[5, 4, 5, 4, 5]]
    sequence = [4] + banned[0].tolist()
    bigrams = list(zip(sequence, sequence[1:]))
    assert len(bigrams) == len(set(bigrams)) and sequence[:2] == [4, 5]


# -- training, saving, loading -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tokenizer, plates, tmp_path_factory):
    train, test = plates
    model = tiny.model("vit_roberta_image2text", tokenizer)
    folder = tmp_path_factory.mktemp("vit_roberta")
    trainer = seq2seq_tiny.trainer_for(model, "image2text", str(folder / "run"), train, test, num_epochs=15,
                                       learning_rate=3e-3, eval_batch_size=10)
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    trainer.save(str(folder / "model"))
    return trainer, before, after, str(folder / "model")


def test_a_tiny_vit_roberta_learns_with_the_trainer_and_evaluates_through_beam_search(trained):
    trainer, before, after, _ = trained
    assert trainer.unwrapped_model.config.generation.num_beams == 3  # the evaluation decodes with beams
    assert after["loss"] < before["loss"] * 0.7, (before, after)
    assert after["cer"] < before["cer"] - 0.1 and 0.0 <= after["cer"] and 0.0 <= after["wer"], (before, after)


def assert_same_outputs(model, loaded, pixels: torch.Tensor, labels: torch.Tensor):
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(pixels, labels=labels)["logits"], loaded(pixels, labels=labels)["logits"])
    for beams in (1, 3):
        assert torch.equal(model.generate(pixels, num_beams=beams), loaded.generate(pixels, num_beams=beams))


def test_the_trained_model_reloads_with_identical_outputs_and_reads_a_pil_image(trained, plates):
    trainer, _, _, folder = trained
    loaded = Model.load(folder)
    assert isinstance(loaded, ViTRobertaImage2Text)
    assert isinstance(loaded.preprocessor, PreprocessorsContainer) and set(loaded.preprocessor) == {
        "image_processor", "bpe_tokenizer"}
    _, test = plates
    batch = test.data_collator([test[i] for i in range(4)])
    assert_same_outputs(trainer.unwrapped_model, loaded, batch["pixel_values"], batch["labels"])
    with Image.open(tiny.plate_images(count=1)[0]) as image:
        outputs = loaded.predict(image.copy())
    assert len(outputs) == 1 and isinstance(outputs[0]["text"], str) and outputs[0]["text"]
    assert loaded.predict(tiny.plate_images(count=2), num_beams=1)[1]["text"]


def test_a_trocr_model_trains_a_few_steps_and_reloads_with_identical_outputs(tokenizer, plates, tmp_path):
    train, test = plates
    model = tiny.model("trocr_image2text", tokenizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = seq2seq_tiny.trainer_for(model, "image2text", str(tmp_path / "run"), train, num_epochs=1, max_steps=3)
    trainer.train()
    frozen = {k for k in before if ".pooler." in k}
    assert [k for k, v in model.state_dict().items() if torch.equal(v, before[k]) and k not in frozen] == []
    model.save(tmp_path / "model")
    loaded = Model.load(tmp_path / "model")
    assert isinstance(loaded, TrOCRImage2Text) and loaded.config == model.config
    batch = test.data_collator([test[i] for i in range(3)])
    assert_same_outputs(model, loaded, batch["pixel_values"], batch["labels"])


def test_a_vit_saved_with_transformers_4_names_loads_under_the_new_ones(tokenizer):
    model = tiny.model("vit_roberta_image2text", tokenizer)
    renames = {".layers.": ".encoder.layer.", ".attention.q_proj.": ".attention.attention.query.",
               ".attention.k_proj.": ".attention.attention.key.", ".attention.v_proj.": ".attention.attention.value.",
               ".attention.o_proj.": ".attention.output.dense.", ".mlp.fc1.": ".intermediate.dense.",
               ".mlp.fc2.": ".output.dense."}
    legacy = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("vit_roberta.encoder."):
            for new, old in renames.items():
                key = key.replace(new, old)
        legacy[key] = tensor
    assert "vit_roberta.encoder.encoder.layer.0.attention.attention.query.weight" in legacy
    other = tiny.model("vit_roberta_image2text", tokenizer, seed=1)
    result = other.load_state_dict(legacy)
    assert not result.missing_keys and not result.unexpected_keys
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in other.state_dict().items())


def test_a_roberta_folder_initialises_the_decoder_body(tokenizer, tmp_path):
    sizes = {k: v for k, v in tiny.DECODER.items() if k not in ("is_decoder", "add_cross_attention")}
    torch.manual_seed(3)
    roberta = RobertaMaskFilling(RobertaMaskFillingConfig(vocab_size=tokenizer.vocab_size, **{**sizes,
                                                                                              "pad_token_id": 2}))
    roberta.save(tmp_path)
    model = tiny.model("vit_roberta_image2text", tokenizer)
    report = model.load_matching_weights(tmp_path)
    assert report.renamed == ("roberta_mask_filling.roberta.", "vit_roberta.decoder.roberta.")
    layer = model.body.decoder.roberta.encoder.layer[1]
    assert torch.equal(layer.attention.self.query.weight,
                       roberta.roberta_mask_filling.roberta.encoder.layer[1].attention.self.query.weight)
    assert any(k.endswith("crossattention.self.query.weight") for k in report.missing)  # no counterpart: kept


# -- 2 processes ---------------------------------------------------------------------------------------------------------
EVAL_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "image2text_eval.py")


@pytest.mark.distributed
def test_evaluation_through_beam_search_gives_the_same_corpus_cer_and_wer_with_two_processes(trained, tmp_path):
    import importlib.util

    folder = trained[3]
    double = seq2seq_tiny.launch_two_processes(EVAL_SCRIPT, folder, str(tmp_path / "eval.json"))
    spec = importlib.util.spec_from_file_location("image2text_eval", EVAL_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    single, processes = script.evaluate(folder, str(tmp_path / "one"))
    assert double["num_processes"] == 2 and processes == 1
    assert {k: v for k, v in double.items() if k not in ("loss", "num_processes")} == \
        {k: v for k, v in single.items() if k != "loss"}
    assert math.isclose(double["loss"], single["loss"], rel_tol=1e-6) and 0 < single["cer"] < 1
