"""RoBERTa and DistilBERT (classification, labeling, mask filling) and BERT mask filling: Hezar's parameter names, a
few Trainer steps, save/load, predict; and the mask filling task: masking that is a pure function of (seed, epoch,
row), exact resume, corpus-level masked-token accuracy, and masked-LM pretraining feeding ``init_weights_from``.

Two-way checks against the real Hezar package are in tests/test_hezar_compat_encoders.py.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import torch
from tokenizers import processors

from hezar_accel.configs import ConfigError
from hezar_accel.data import Dataset, MaskFillingDatasetConfig, MaskedLMCollator, mask_tokens
from hezar_accel.models import Model
from hezar_accel.models.model import read_state_dict
from hezar_accel.preprocessors import BPETokenizer
from hezar_accel.registry import get_entry
from hezar_accel.trainer import Trainer, TrainerConfig

from tiny import make_tokenizer

FIXTURE_NER = os.path.join(os.path.dirname(__file__), "fixtures", "ner_tiny")
BERT_SIZES = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=40)
SIZES = {
    "bert": BERT_SIZES,
    # RoBERTa numbers positions after its padding id (1): 42 rows leave the same 40 positions.
    "roberta": {**BERT_SIZES, "max_position_embeddings": 42},
    "distilbert": dict(dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=40),
}
NEW_MODELS = ["roberta_text_classification", "roberta_sequence_labeling", "roberta_mask_filling",
              "distilbert_text_classification", "distilbert_sequence_labeling", "distilbert_mask_filling",
              "bert_mask_filling"]


def family(name: str) -> str:
    return name.split("_")[0]


def task_of(name: str) -> str:
    return name.split("_", 1)[1]


def build(name: str, vocab_size: int, id2label: dict | None = None, seed: int = 0, **overrides):
    """A tiny model of registry ``name`` (dropout off, so outputs compare exactly across save/load)."""
    entry = get_entry("model", name)
    dropouts = ({"dropout": 0.0, "attention_dropout": 0.0} if family(name) == "distilbert"
                else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    labels = {} if id2label is None else {"id2label": id2label}
    torch.manual_seed(seed)
    return entry.cls(entry.config_class(**{"vocab_size": vocab_size, **SIZES[family(name)], **dropouts, **labels,
                                           **overrides}))


@pytest.fixture(scope="module")
def wordpiece(text_data):
    return make_tokenizer(text_data)


@pytest.fixture(scope="module")
def bpe(text_data):
    """A byte-level BPE framed like Hezar's RoBERTa tokenizers (``<s> ... </s>``); ids: <s> 0, <pad> 1, </s> 2."""
    with open(os.path.join(text_data, "train.csv"), encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    tokenizer = BPETokenizer.train(texts, vocab_size=400, min_frequency=2, max_length=32)
    tokenizer.backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False)
    return tokenizer


def tokenizer_for(name, wordpiece, bpe):
    return bpe if family(name) == "roberta" else wordpiece


def datasets_for(name, data_folder, tokenizer):
    task = task_of(name)
    if task == "sequence_labeling":
        train = Dataset.load(FIXTURE_NER, split="train", preprocessor=tokenizer, task=task, max_length=32)
        return train, Dataset.load(FIXTURE_NER, split="test", preprocessor=tokenizer, config=train.config)
    options = {"name": task, "task": task} if task == "mask_filling" else {}
    return tuple(Dataset.load(data_folder, split=split, preprocessor=tokenizer, **options)
                 for split in ("train", "test"))


def trainer_for(model, train, test, tokenizer, output_dir, **overrides):
    settings = dict(output_dir=str(output_dir), task=model.config.task, device="cpu", num_epochs=1, batch_size=16,
                    optimizer="adamw", learning_rate=1e-2, log_with=None, show_progress_bar=False,
                    save_enabled=False)
    return Trainer(TrainerConfig(**{**settings, **overrides}), model, train_dataset=train, eval_dataset=test,
                   preprocessor=tokenizer)


def mlm_datasets(data_folder, tokenizer, **overrides):
    return tuple(Dataset.load(data_folder, split=split, preprocessor=tokenizer, name="mask_filling",
                              task="mask_filling", **overrides) for split in ("train", "test"))


# -- parameter names -----------------------------------------------------------------------------------------------
def bert_layer_keys(prefix):
    modules = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
               "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm")
    return [f"{prefix}encoder.layer.0.{m}.{p}" for m in modules for p in ("weight", "bias")]


def roberta_keys(prefix):
    embeddings = [f"{prefix}embeddings.{n}.weight" for n in ("word_embeddings", "token_type_embeddings")]
    embeddings += [f"{prefix}embeddings.LayerNorm.{p}" for p in ("weight", "bias")]
    return embeddings + [f"{prefix}embeddings.position_embeddings.weight"] + bert_layer_keys(prefix)


def distilbert_keys(prefix):
    keys = [f"{prefix}embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings")]
    keys += [f"{prefix}embeddings.LayerNorm.{p}" for p in ("weight", "bias")]
    modules = ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "sa_layer_norm",
               "ffn.lin1", "ffn.lin2", "output_layer_norm")
    return keys + [f"{prefix}transformer.layer.0.{m}.{p}" for m in modules for p in ("weight", "bias")]


def both(*names):
    return [f"{n}.{p}" for n in names for p in ("weight", "bias")]


# Transformers' (and so Hezar's) state-dict keys of the 1-layer models, in their order.
EXPECTED_KEYS = {
    "roberta_text_classification": roberta_keys("roberta.") + both("classifier.dense", "classifier.out_proj"),
    "roberta_sequence_labeling": roberta_keys("roberta.") + both("classifier.dense", "classifier.out_proj"),
    "roberta_mask_filling": roberta_keys("roberta_mask_filling.roberta.") + [
        "roberta_mask_filling.lm_head.bias", *both("roberta_mask_filling.lm_head.dense",
                                                   "roberta_mask_filling.lm_head.layer_norm",
                                                   "roberta_mask_filling.lm_head.decoder")],
    "distilbert_text_classification": distilbert_keys("distilbert.") + both("pre_classifier", "classifier"),
    "distilbert_sequence_labeling": distilbert_keys("distilbert.") + both("classifier"),
    "distilbert_mask_filling": distilbert_keys("distilbert_mask_filling.distilbert.") + both(
        "distilbert_mask_filling.vocab_transform", "distilbert_mask_filling.vocab_layer_norm",
        "distilbert_mask_filling.vocab_projector"),
    "bert_mask_filling": [f"bert_mask_filling.bert.embeddings.{n}.weight"
                          for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    + both("bert_mask_filling.bert.embeddings.LayerNorm") + bert_layer_keys("bert_mask_filling.bert.") + [
        "bert_mask_filling.cls.predictions.bias", *both("bert_mask_filling.cls.predictions.transform.dense",
                                                        "bert_mask_filling.cls.predictions.transform.LayerNorm",
                                                        "bert_mask_filling.cls.predictions.decoder")],
}


@pytest.mark.parametrize("name", NEW_MODELS)
def test_state_dict_keys_are_exactly_the_transformers_names_hezar_saves_in_their_order(name):
    id2label = None if task_of(name) == "mask_filling" else {0: "a", 1: "b"}
    model = build(name, vocab_size=30, id2label=id2label)
    assert list(model.state_dict()) == EXPECTED_KEYS[name]
    assert model.config.name == name and model.config.task == task_of(name)


@pytest.mark.parametrize("name", ["bert_mask_filling", "roberta_mask_filling", "distilbert_mask_filling"])
def test_the_output_projection_of_a_masked_lm_is_tied_to_its_word_embeddings(name):
    model = build(name, vocab_size=30)
    state = model.state_dict()
    words = next(v for k, v in state.items() if k.endswith("word_embeddings.weight"))
    projection = next(v for k, v in state.items() if k.endswith(("decoder.weight", "vocab_projector.weight")))
    assert projection.data_ptr() == words.data_ptr()


@pytest.mark.parametrize("name", ["bert_mask_filling", "distilbert_mask_filling", "gpt2_text_generation"])
def test_a_model_with_tied_weights_saves_as_safetensors_and_loads_back_tied(name, tmp_path):
    if name == "gpt2_text_generation":
        from hezar_accel.models import GPT2TextGeneration, GPT2TextGenerationConfig

        model = GPT2TextGeneration(GPT2TextGenerationConfig(vocab_size=30, n_positions=8, n_embd=8, n_layer=1,
                                                            n_head=2))
    else:
        model = build(name, vocab_size=30)
    model.save(tmp_path, safe_serialization=True)
    loaded = Model.load(tmp_path)
    state = loaded.state_dict()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    tied = [k for k in state if k.endswith(("decoder.weight", "vocab_projector.weight", "lm_head.weight"))]
    words = [k for k in state if k.endswith(("word_embeddings.weight", "wte.weight"))]
    assert state[tied[0]].data_ptr() == state[words[0]].data_ptr()


def test_roberta_positions_start_after_the_padding_id_and_padding_does_not_change_a_row():
    model = build("roberta_text_classification", vocab_size=30, id2label={0: "a", 1: "b"}).eval()
    embeddings = model.roberta.embeddings
    token_ids = torch.tensor([[0, 7, 8, 2, 1, 1]])
    assert embeddings.default_position_ids(token_ids).tolist() == [[2, 3, 4, 5, 1, 1]]
    short, padded = torch.tensor([[0, 7, 8, 2]]), torch.tensor([[0, 7, 8, 2, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    torch.testing.assert_close(model(short)["logits"], model(padded, attention_mask=mask)["logits"])
    with pytest.raises(ValueError, match="exceeds the 40 positions"):
        model(torch.full((1, 41), 5))


def test_bad_encoder_configs_name_the_field_and_the_fix():
    from hezar_accel.models import DistilBertTextClassificationConfig, RobertaMaskFillingConfig

    with pytest.raises(ConfigError, match="max_position_embeddings: 2 leaves no position after pad_token_id=1"):
        RobertaMaskFillingConfig(max_position_embeddings=2)
    with pytest.raises(ConfigError) as error:
        DistilBertTextClassificationConfig(num_labels=2, dim=10, n_heads=4, seq_classif_dropout=1.5,
                                           activation="swish")
    text = str(error.value)
    assert "dim: 10 is not divisible by n_heads=4" in text and "seq_classif_dropout: 1.5" in text
    assert "activation: 'swish' is not supported" in text


# -- every new model trains, saves, loads, predicts ----------------------------------------------------------------
@pytest.mark.parametrize("name", NEW_MODELS)
def test_each_new_model_trains_with_the_trainer_and_loads_back_with_identical_outputs_and_predictions(
        name, text_data, wordpiece, bpe, tmp_path):
    tokenizer = tokenizer_for(name, wordpiece, bpe)
    train, test = datasets_for(name, text_data, tokenizer)
    id2label = getattr(train.config, "id2label", None)
    model = build(name, vocab_size=tokenizer.vocab_size, id2label=id2label)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = trainer_for(model, train, test, tokenizer, tmp_path / "run", max_steps=3)
    results = trainer.train()
    assert np.isfinite(results["loss"])
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) > len(before) // 2, f"only {changed} changed"

    model.save(tmp_path / "saved")
    loaded = Model.load(tmp_path / "saved")
    assert type(loaded) is type(model) and type(loaded.preprocessor) is type(tokenizer)
    batch = {k: v for k, v in test.data_collator([test[i] for i in range(4)]).items()
             if isinstance(v, torch.Tensor)}
    model.eval()
    assert torch.equal(model(**batch)["logits"], loaded(**batch)["logits"])

    task = task_of(name)
    if task == "text_classification":
        inputs = ["عالی بود", "غمگین شدم"]
        assert loaded.predict(inputs) == model.predict(inputs)
        assert {p["label"] for p in loaded.predict(inputs)} <= set(id2label.values())
    elif task == "sequence_labeling":
        words = ["علی", "به", "تهران", "رفت"]
        predicted = loaded.predict([words])[0]
        assert [p["token"] for p in predicted] == words and predicted == model.predict([words])[0]
    else:
        text = f"عالی {tokenizer.mask_token} بود"
        fills = loaded.predict(text, top_k=3)[0]
        assert fills == model.predict(text, post_process_kwargs={"top_k": 3})[0]
        assert len(fills) == 3 and fills[0]["score"] >= fills[1]["score"] >= fills[2]["score"]
        assert all(f["sequence"].startswith("عالی") and isinstance(f["token_id"], int) for f in fills)


def test_mask_filling_predict_refuses_texts_without_exactly_one_mask(wordpiece):
    model = build("bert_mask_filling", vocab_size=wordpiece.vocab_size)
    model.preprocessor = wordpiece
    with pytest.raises(ValueError, match=r"holds no `\[MASK\]`"):
        model.predict("عالی بود")
    with pytest.raises(ValueError, match=r"holds 2 `\[MASK\]` tokens"):
        model.predict("[MASK] عالی [MASK]")
    with pytest.raises(ValueError, match="top_k: 0"):
        model.predict("عالی [MASK]", top_k=0)


# -- the masking ----------------------------------------------------------------------------------------------------
def collate(dataset, rows):
    return dataset.data_collator(dataset.__getitems__(list(rows)))


def test_masking_is_a_pure_function_of_seed_epoch_and_row(text_data, wordpiece):
    train, _ = mlm_datasets(text_data, wordpiece)
    first = collate(train, range(8))
    again = collate(train, range(8))
    assert all(torch.equal(first[k], again[k]) for k in first)
    # Each row is masked the same wherever it sits in a batch (and whatever else is in it).
    shuffled = collate(train, [5, 2, 7])
    for position, row in enumerate([5, 2, 7]):
        length = int(first["attention_mask"][row].sum())
        assert torch.equal(shuffled["labels"][position, :length], first["labels"][row, :length])
    train.set_train_epoch(1)
    other_epoch = collate(train, range(8))
    assert not torch.equal(other_epoch["labels"], first["labels"])
    train.set_train_epoch(0)
    assert torch.equal(collate(train, range(8))["labels"], first["labels"])
    other_seed, _ = mlm_datasets(text_data, wordpiece, seed=7)
    assert not torch.equal(collate(other_seed, range(8))["labels"], first["labels"])
    # A resume with other masking settings is refused like one with other data (the data-order record holds this).
    assert other_seed.fingerprint != train.fingerprint == mlm_datasets(text_data, wordpiece)[0].fingerprint


def test_bert_style_shares_are_kept_and_special_tokens_and_padding_are_never_chosen():
    special = np.array([0, 1, 2, 3, 4])
    replacements = np.arange(5, 1000)
    chosen = masked = randomized = 0
    for row in range(400):
        ids = np.concatenate([[2], np.random.default_rng(row).integers(5, 1000, 38), [3]])
        inputs, labels = mask_tokens(ids, (42, 1, row), special, 4, replacements)
        picked = labels != -100
        assert picked.sum() == round(0.15 * 38) and not picked[[0, -1]].any()
        assert (labels[picked] == ids[picked]).all() and (inputs[~picked] == ids[~picked]).all()
        chosen += picked.sum()
        masked += (inputs[picked] == 4).sum()
        randomized += ((inputs[picked] != 4) & (inputs[picked] != ids[picked])).sum()
    assert 0.76 < masked / chosen < 0.84 and 0.07 < randomized / chosen < 0.13
    collator = MaskedLMCollator(pad_token_id=0, mask_token_id=4, special_ids=[2, 3], vocab_size=50)
    batch = collator([{"token_ids": [2, 9, 9, 9, 3], "masking_key": [1, 0, 0]},
                      {"token_ids": [2, 9, 3], "masking_key": [1, 0, 1]}])
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]
    assert batch["labels"][1, 3:].tolist() == [-100, -100] and batch["token_ids"][1, 3:].tolist() == [0, 0]
    assert (batch["labels"] != -100).sum(1).tolist() == [1, 1]  # max(1, round(0.15 * n)) for n = 3 and 1


def test_a_dataloader_worker_process_masks_with_the_epoch_the_trainer_set(text_data, wordpiece):
    train, _ = mlm_datasets(text_data, wordpiece)
    loader = torch.utils.data.DataLoader(train, batch_size=8, collate_fn=train.data_collator, num_workers=1,
                                         persistent_workers=True)
    in_worker = [next(iter(loader))["labels"]]
    train.set_train_epoch(3)
    in_worker.append(next(iter(loader))["labels"])  # the same worker process, after the epoch changed
    assert torch.equal(in_worker[1], collate(train, range(8))["labels"])
    train.set_train_epoch(0)
    assert torch.equal(in_worker[0], collate(train, range(8))["labels"])


def test_mask_filling_dataset_settings_are_validated_and_a_tokenizer_without_a_mask_token_is_refused(text_data):
    with pytest.raises(ConfigError) as error:
        MaskFillingDatasetConfig(mlm_probability=0.0, mask_replace_prob=0.9, random_replace_prob=0.2, seed=-1)
    text = str(error.value)
    assert "mlm_probability: 0.0 must be in (0, 1]" in text and "exceeds 1" in text and "seed: -1" in text
    from hezar_accel.errors import DataError
    from hezar_accel.preprocessors import WordPieceTokenizer

    no_mask = WordPieceTokenizer.from_vocab(["عالی"], mask_token=None)
    with pytest.raises(DataError, match="needs a tokenizer with a mask and a pad token"):
        mlm_datasets(text_data, no_mask)


# -- metrics, evaluation, resume ------------------------------------------------------------------------------------
def test_masked_token_accuracy_and_loss_equal_a_brute_force_count_and_repeat_at_every_evaluation(
        text_data, wordpiece, tmp_path):
    train, test = mlm_datasets(text_data, wordpiece)
    model = build("bert_mask_filling", vocab_size=wordpiece.vocab_size)
    trainer = trainer_for(model, train, test, wordpiece, tmp_path / "run", max_steps=2, eval_batch_size=5)
    trainer.train()
    first, second = trainer.evaluate(), trainer.evaluate()
    assert first == second
    correct = total = 0
    loss_sum = 0.0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(test), 7):  # other batches than the trainer's: the result must not depend on them
            batch = collate(test, range(start, min(start + 7, len(test))))
            logits = model(batch["token_ids"], attention_mask=batch["attention_mask"])["logits"]
            scored = batch["labels"] != -100
            correct += int((logits.argmax(-1)[scored] == batch["labels"][scored]).sum())
            total += int(scored.sum())
            loss_sum += float(torch.nn.functional.cross_entropy(logits[scored], batch["labels"][scored],
                                                                reduction="sum"))
    assert total >= len(test) and first["accuracy"] == correct / total
    assert first["loss"] == pytest.approx(loss_sum / total, rel=1e-6)


def test_a_mask_filling_run_resumed_from_a_mid_epoch_checkpoint_ends_with_bitwise_equal_weights(
        text_data, wordpiece, tmp_path):
    def run(output_dir, **overrides):
        train, test = mlm_datasets(text_data, wordpiece)
        model = build("bert_mask_filling", vocab_size=wordpiece.vocab_size, seed=0, hidden_dropout_prob=0.1)
        trainer = trainer_for(model, train, test, wordpiece, output_dir, num_epochs=2, save_enabled=True,
                              save_steps=3, do_evaluate=False, **overrides)
        trainer.train()
        return model.state_dict()

    reference = run(tmp_path / "uninterrupted")  # 4 updates per epoch: step 6 is in the middle of epoch 2
    checkpoint = tmp_path / "uninterrupted" / "checkpoints" / f"{6:08d}"
    resumed = run(tmp_path / "resumed", resume_from_checkpoint=str(checkpoint))
    assert [k for k in reference if not torch.equal(reference[k], resumed[k])] == []
    saved = read_state_dict(checkpoint / "model.pt")
    assert any(not torch.equal(saved[k], reference[k]) for k in reference)  # the resumed run did train on


# -- pretraining then fine-tuning -----------------------------------------------------------------------------------
def test_a_pretrained_bert_mask_filling_folder_initialises_every_encoder_tensor_of_a_classifier(
        text_data, wordpiece, tmp_path):
    train, test = mlm_datasets(text_data, wordpiece)
    mlm = build("bert_mask_filling", vocab_size=wordpiece.vocab_size)
    trainer = trainer_for(mlm, train, test, wordpiece, tmp_path / "pretrain", max_steps=3, do_evaluate=False)
    trainer.train()
    trainer.save(tmp_path / "pretrained")

    train_tc = Dataset.load(text_data, split="train", preprocessor=wordpiece)
    classifier = build("bert_text_classification", vocab_size=wordpiece.vocab_size,
                       id2label=train_tc.config.id2label, seed=1)
    fine_tune = trainer_for(classifier, train_tc, None, wordpiece, tmp_path / "finetune", max_steps=1,
                            init_weights_from=str(tmp_path / "pretrained"))
    report = fine_tune.init_weights_report
    encoder = {k.replace("bert_mask_filling.bert.", "bert."): v for k, v in mlm.state_dict().items()
               if k.startswith("bert_mask_filling.bert.")}
    assert report.renamed == ("bert_mask_filling.bert.", "bert.")
    assert report.loaded == sorted(encoder) and not report.mismatched
    assert report.missing == ["bert.pooler.dense.bias", "bert.pooler.dense.weight", "classifier.bias",
                              "classifier.weight"]
    assert sorted(report.unexpected) == sorted(k for k in mlm.state_dict() if k.startswith("bert_mask_filling.cls."))
    fine_tune.train()  # the initialised classifier fine-tunes

    # And back: a classifier's encoder initialises a masked LM (its tied head keeps its own init).
    back = build("bert_mask_filling", vocab_size=wordpiece.vocab_size, seed=2)
    classifier.save(tmp_path / "classifier")
    back_report = back.load_matching_weights(tmp_path / "classifier")
    assert back_report.renamed == ("bert.", "bert_mask_filling.bert.")
    assert torch.equal(back.bert_mask_filling.bert.encoder.layer[0].output.dense.weight,
                       classifier.bert.encoder.layer[0].output.dense.weight)


def test_a_roberta_input_past_its_positions_is_refused_before_training(text_data, bpe, tmp_path):
    train, test = datasets_for("roberta_text_classification", text_data, bpe)
    model = build("roberta_text_classification", vocab_size=bpe.vocab_size, id2label=train.config.id2label,
                  max_position_embeddings=30)
    with pytest.raises(ConfigError, match=r"32 tokens exceed the model's 28 positions \(max_input_length\)"):
        trainer_for(model, train, test, bpe, tmp_path / "run")


def test_the_texts_of_a_text_classification_folder_load_as_a_mask_filling_dataset(text_data, wordpiece, tmp_path):
    folder = tmp_path / "tweets"
    folder.mkdir()
    for split in ("train", "test"):
        with open(os.path.join(text_data, f"{split}.csv"), "rb") as source:
            (folder / f"{split}.csv").write_bytes(source.read())
    (folder / "dataset_config.yaml").write_text("name: text_classification\nconfig_type: dataset\n"
                                                "task: text_classification\ntext_field: text\nlabel_field: label\n"
                                                "max_length: 12\n")
    data = Dataset.load(str(folder), split="train", preprocessor=wordpiece, task="mask_filling")
    assert type(data).__name__ == "MaskFillingDataset" and data.config.task == "mask_filling"
    assert data.config.max_length == 12 and max(data.lengths()) == 12  # the folder's own settings still apply
    assert type(Dataset.load(str(folder), split="train", preprocessor=wordpiece)).__name__ == \
        "TextClassificationDataset"


def test_the_shipped_pretraining_recipe_builds_a_mask_filling_run(text_data, tmp_path):
    from hezar_accel.recipe import build_trainer, load_recipe

    recipe = load_recipe(os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "pretrain_mlm_bert.yaml"),
                         [f"trainer.output_dir={tmp_path / 'run'}", "trainer.max_steps=2", "trainer.log_steps=1",
                          "trainer.show_progress_bar=false", "trainer.log_with=null", f"dataset.path={text_data}",
                          "preprocessor.max_length=32", "preprocessor.train.vocab_size=300",
                          "model.hidden_size=16", "model.num_attention_heads=2", "model.intermediate_size=32",
                          "model.max_position_embeddings=32", "dataset.max_length=32"])
    trainer = build_trainer(recipe)
    assert type(trainer.train_dataset).__name__ == "MaskFillingDataset"
    assert trainer.unwrapped_model.config.vocab_size == trainer.unwrapped_model.preprocessor.vocab_size
    results = trainer.train()
    assert set(results) == {"loss", "accuracy"}
    assert all("[MASK]" in text for text in recipe["predict"])
    trainer.unwrapped_model.predict(recipe["predict"][0])
