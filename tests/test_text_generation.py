"""Text generation: byte-level BPE, GPT-2 (key names, KV cache, EOS, sampling), prompt/target data, a tiny run."""

import csv
import dataclasses
import os

import pytest
import torch
import torch.nn.functional as F

from hezar_accel.data import Dataset, TextGenerationDataset
from hezar_accel.models import GPT2TextGeneration, GPT2TextGenerationConfig, Model
from hezar_accel.models.gpt2.generation import choose_next_tokens
from hezar_accel.preprocessors import BPETokenizer, Preprocessor

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "translate_tiny")
PERSIAN = "می‌خواهم فردا ساعت ۱۰ به کتابخانه‌ی مرکزی بروم؛ تو هم می‌آیی؟ 😀"


@pytest.fixture(scope="module")
def tokenizer():
    texts = list(TextGenerationDataset.training_texts(FIXTURE, prompt_field="text_en")) + [PERSIAN] * 3
    return BPETokenizer.train(texts, vocab_size=400, min_frequency=1, max_length=32)


def read_texts(split):
    with open(os.path.join(FIXTURE, f"{split}.csv"), encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def tiny_model(tokenizer, seed=0, **overrides):
    torch.manual_seed(seed)
    settings = dict(vocab_size=tokenizer.vocab_size, n_positions=32, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0,
                    embd_pdrop=0.0, attn_pdrop=0.0, max_new_tokens=8, bos_token_id=tokenizer.token_to_id("<s>"),
                    eos_token_id=tokenizer.token_to_id("</s>"), pad_token_id=tokenizer.pad_token_id)
    model = GPT2TextGeneration(GPT2TextGenerationConfig(**{**settings, **overrides})).eval()
    model.preprocessor = tokenizer
    return model


def test_bpe_round_trips_persian_text_and_reloads_from_its_folder(tmp_path, tokenizer):
    ids = tokenizer.encode(PERSIAN)
    assert tokenizer.decode(ids) == PERSIAN  # byte-level: ZWNJ, Persian digits and emoji survive exactly
    assert [tokenizer.id_to_token(i) for i in range(5)] == ["<s>", "<pad>", "</s>", "<unk>", "<sep>"]
    tokenizer.save(str(tmp_path))
    assert sorted(os.listdir(tmp_path / "preprocessor")) == ["tokenizer.json", "tokenizer_config.yaml"]
    loaded = Preprocessor.load(str(tmp_path))
    assert isinstance(loaded, BPETokenizer) and loaded.encode(PERSIAN) == ids
    assert loaded.config.name == "bpe_tokenizer" and loaded.pad_token_id == 1


def test_gpt2_uses_hezar_and_hf_parameter_names_and_conv1d_shapes(tokenizer):
    model = tiny_model(tokenizer)
    state = model.state_dict()
    block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
             "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
             "mlp.c_proj.bias"]
    expected = ["gpt2.transformer.wte.weight", "gpt2.transformer.wpe.weight"]
    expected += [f"gpt2.transformer.h.{i}.{name}" for i in range(2) for name in block]
    expected += ["gpt2.transformer.ln_f.weight", "gpt2.transformer.ln_f.bias", "gpt2.lm_head.weight"]
    assert list(state) == expected
    assert state["gpt2.transformer.h.0.attn.c_attn.weight"].shape == (32, 96)  # Conv1D: (in, out)
    assert state["gpt2.transformer.h.0.mlp.c_fc.weight"].shape == (32, 128)
    assert model.gpt2.lm_head.weight is model.gpt2.transformer.wte.weight


def test_a_bare_hf_gpt2_state_dict_loads(tokenizer):
    model, other = tiny_model(tokenizer, seed=0), tiny_model(tokenizer, seed=1)
    hf_state = {k[len("gpt2."):]: v for k, v in model.state_dict().items() if k != "gpt2.lm_head.weight"}
    hf_state["transformer.h.0.attn.bias"] = torch.ones(1, 1, 32, 32)  # old transformers' causal-mask buffer
    result = other.load_state_dict(hf_state, strict=False)
    assert result.missing_keys == ["gpt2.lm_head.weight"] and not result.unexpected_keys  # tied: loaded with wte
    ids = torch.tensor([[5, 6, 7]])
    assert torch.equal(model(ids)["logits"], other(ids)["logits"])


def test_greedy_generation_is_the_same_with_and_without_the_kv_cache_and_for_any_padding(tokenizer):
    model = tiny_model(tokenizer)
    ids = torch.randint(10, tokenizer.vocab_size, (3, 6), generator=torch.Generator().manual_seed(0))
    left = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6, [0, 1, 1, 1, 1, 1]])
    cached = model.generate(ids, left, max_new_tokens=8, eos_token_id=None)
    uncached = model.generate(ids, left, max_new_tokens=8, eos_token_id=None, use_cache=False)
    assert cached.shape == (3, 8) and torch.equal(cached, uncached)
    for row in range(3):
        alone = model.generate(ids[row: row + 1, left[row].bool()], max_new_tokens=8, eos_token_id=None)
        assert torch.equal(alone[0], cached[row])
    right_ids = torch.stack([torch.cat([r[m.bool()], r[~m.bool()]]) for r, m in zip(ids, left)])
    right = left.flip(1)
    assert torch.equal(model.generate(right_ids, right, max_new_tokens=8, eos_token_id=None), cached)


def test_generation_stops_at_eos_and_pads_after_it(tokenizer):
    model = tiny_model(tokenizer)
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    free = model.generate(ids, max_new_tokens=6, eos_token_id=None)
    eos = int(free[0, 1])
    stopped = model.generate(ids, max_new_tokens=6, eos_token_id=eos, pad_token_id=1)
    assert torch.equal(stopped[0, :2], free[0, :2]) and (stopped[0, 2:] == 1).all()
    for row in stopped.tolist():
        if eos in row:
            assert all(t == 1 for t in row[row.index(eos) + 1:])
    alone = model.generate(ids[:1], max_new_tokens=6, eos_token_id=eos)
    assert alone.tolist() == [free[0, :2].tolist()]  # the loop ends once every row has stopped


def test_sampling_is_reproducible_with_a_seed(tokenizer):
    model = tiny_model(tokenizer)
    ids = torch.tensor([[5, 6, 7, 8]] * 4)
    options = dict(max_new_tokens=10, do_sample=True, temperature=1.5, top_k=50, top_p=0.95, eos_token_id=None)
    torch.manual_seed(3)
    first = model.generate(ids, **options)
    torch.manual_seed(3)
    assert torch.equal(model.generate(ids, **options), first)
    assert not torch.equal(model.generate(ids, **options), first)
    logits = torch.randn(5, 30)
    assert torch.equal(choose_next_tokens(logits, do_sample=True, top_k=1), logits.argmax(-1))
    assert torch.equal(choose_next_tokens(logits, do_sample=True, top_p=1e-6), logits.argmax(-1))


def test_the_loss_is_computed_on_target_tokens_only(tokenizer):
    train = Dataset.load(FIXTURE, split="train", preprocessor=tokenizer, task="text_generation",
                         prompt_field="text_en", max_length=32)
    sample = train[0]
    prompt_length = sample["labels"].index(next(x for x in sample["labels"] if x != -100))
    sep = tokenizer.token_to_id("<sep>")
    assert sample["token_ids"][prompt_length - 1] == sep and sample["labels"][-1] == tokenizer.token_to_id("</s>")
    assert tokenizer.decode(sample["labels"][prompt_length:]) == read_texts("train")[0]
    model = tiny_model(tokenizer)
    batch = train.data_collator([train[0], train[1]])
    logits = model(batch["token_ids"], batch["attention_mask"])["logits"]
    loss = model.compute_loss(logits, batch["labels"])
    noisy = logits.clone()
    noisy[0, : prompt_length - 1] += 100 * torch.randn_like(noisy[0, : prompt_length - 1])
    assert torch.allclose(model.compute_loss(noisy, batch["labels"]), loss)
    targets = batch["labels"][:, 1:]
    manual = F.cross_entropy(logits[:, :-1][targets != -100], targets[targets != -100])
    assert torch.allclose(loss, manual)


def test_evaluation_samples_carry_the_prompt_alone_left_padded(tokenizer):
    train = Dataset.load(FIXTURE, split="train", preprocessor=tokenizer, task="text_generation",
                         prompt_field="text_en", max_length=32)
    test = Dataset.load(FIXTURE, split="test", preprocessor=tokenizer, config=train.config)
    assert "prompt_ids" not in train[0] and "prompt_ids" in test[0]
    batch = test.data_collator([test[i] for i in range(4)])
    assert (batch["prompt_attention_mask"][:, -1] == 1).all()
    assert (batch["prompt_ids"][batch["prompt_attention_mask"] == 0] == tokenizer.pad_token_id).all()
    labels = [[t for t in row if t != -100] for row in batch["labels"].tolist()]
    assert tokenizer.batch_decode(labels) == read_texts("test")[:4]


def test_a_tiny_translator_trained_by_the_trainer_improves_bleu_and_loss(tmp_path, tokenizer):
    from hezar_accel.trainer import Trainer, TrainerConfig

    train = Dataset.load(FIXTURE, split="train", preprocessor=tokenizer, task="text_generation",
                         prompt_field="text_en", max_length=32)
    test = Dataset.load(FIXTURE, split="test", preprocessor=tokenizer, config=train.config)
    model = tiny_model(tokenizer, n_embd=64).train()
    config = TrainerConfig(output_dir=str(tmp_path / "run"), task="text_generation", device="cpu", num_epochs=25,
                           batch_size=8, optimizer="adamw", learning_rate=5e-3, metrics=["bleu"], do_evaluate=False,
                           save_freq=25, log_with=None, show_progress_bar=False)
    trainer = Trainer(config, model, train_dataset=train, eval_dataset=test, preprocessor=tokenizer)
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    forced = Trainer(dataclasses.replace(config, evaluate_with_generate=False), trainer.unwrapped_model,
                     eval_dataset=test, preprocessor=tokenizer).evaluate()
    print("bleu", before["bleu"], "->", after["bleu"], "teacher-forced", forced["bleu"], "loss", before["loss"], "->",
          after["loss"])
    assert after["loss"] < before["loss"] / 2
    assert after["bleu"] > before["bleu"] + 10
    # Teacher forcing scores each next token given the true prefix: no worse than free generation once trained.
    assert forced["loss"] == pytest.approx(after["loss"]) and forced["bleu"] >= after["bleu"] - 5
    loaded = Model.load(os.path.join(str(tmp_path / "run"), "checkpoints", f"{trainer.plan.total_steps:08d}"))
    outputs = loaded.predict(["one two three", "ten"])
    assert len(outputs) == 2 and all(isinstance(o["generated_text"], str) for o in outputs)
    assert loaded.config.max_new_tokens == 8  # the generation settings travel in model_config.yaml


def test_training_resumes_from_a_checkpoint_with_the_tied_lm_head(tmp_path, tokenizer):
    from hezar_accel.trainer import Trainer, TrainerConfig

    train = Dataset.load(FIXTURE, split="train", preprocessor=tokenizer, task="text_generation",
                         prompt_field="text_en", max_length=32)

    def run(epochs, resume):
        config = TrainerConfig(output_dir=str(tmp_path), task="text_generation", device="cpu", num_epochs=epochs,
                               batch_size=16, learning_rate=3e-3, resume_from_checkpoint=resume, log_with=None,
                               show_progress_bar=False)
        trainer = Trainer(config, tiny_model(tokenizer).train(), train_dataset=train, preprocessor=tokenizer)
        trainer.train()
        return trainer

    first = run(1, None)
    resumed = run(2, True)
    assert resumed.state.global_step == 2 * first.plan.steps_per_epoch
    tied = resumed.unwrapped_model.gpt2
    assert tied.lm_head.weight is tied.transformer.wte.weight


def test_saved_config_carries_its_decoding_as_hezars_generation_block_and_reads_back_without_it(tmp_path):
    from hezar_accel.configs import load_yaml

    config = GPT2TextGenerationConfig(vocab_size=50, n_positions=16, n_embd=8, n_layer=1, n_head=2, do_sample=True,
                                      temperature=0.7, top_p=0.9, max_new_tokens=5)
    path = config.save(tmp_path)
    block = load_yaml(path)["generation"]
    assert block == {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "max_new_tokens": 5, "do_sample": True,
                     "num_beams": 1, "use_cache": True, "temperature": 0.7, "top_k": 0, "top_p": 0.9}
    loaded = GPT2TextGenerationConfig.load(tmp_path)
    assert loaded.generation is None and loaded == config
    hezars = {**block, "num_beams": 4, "no_repeat_ngram_size": 3}  # a block written by Hezar is kept as it is
    assert GPT2TextGenerationConfig.from_dict({**config.to_dict(), "generation": hezars}).generation == hezars
