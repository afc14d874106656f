"""BERT text classification and sequence labeling: Hezar key names, save/load, validation, predict, learning."""

import pytest
import torch

from hezar_accel.configs import ConfigError
from hezar_accel.models import (
    BertSequenceLabeling,
    BertSequenceLabelingConfig,
    BertTextClassification,
    BertTextClassificationConfig,
    Model,
)
from hezar_accel.preprocessors import WordPieceTokenizer

TINY = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
            max_position_embeddings=32)
CORPUS = ["این فیلم خیلی خوب بود", "این فیلم بد بود", "غذا خوشمزه بود", "هوا سرد است"] * 3
LABELS = {0: "منفی", 1: "مثبت"}


def tiny_classifier(seed=0, **overrides):
    torch.manual_seed(seed)
    return BertTextClassification(BertTextClassificationConfig(**{**TINY, "id2label": LABELS, **overrides}))


def tiny_tagger(seed=0, **overrides):
    torch.manual_seed(seed)
    config = BertSequenceLabelingConfig(**{**TINY, "id2label": {0: "O", 1: "B-LOC", 2: "I-LOC"}, **overrides})
    return BertSequenceLabeling(config)


def batch_of(seed=1, batch=3, length=9):
    generator = torch.Generator().manual_seed(seed)
    token_ids = torch.randint(5, TINY["vocab_size"], (batch, length), generator=generator)
    attention_mask = torch.ones_like(token_ids)
    attention_mask[-1, length // 2:] = 0
    return {"token_ids": token_ids, "attention_mask": attention_mask}


def expected_keys(prefix="bert."):
    keys = [f"embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    keys += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    layer = "encoder.layer.0."
    for module in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                   "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"):
        keys += [f"{layer}{module}.weight", f"{layer}{module}.bias"]
    keys += ["pooler.dense.weight", "pooler.dense.bias"]
    return {prefix + k for k in keys} | {"classifier.weight", "classifier.bias"}


@pytest.mark.parametrize("make", [tiny_classifier, tiny_tagger])
def test_state_dict_keys_are_exactly_hezar_and_transformers_names(make):
    model = make(num_hidden_layers=1)
    keys = set(model.state_dict())
    assert keys == expected_keys()
    assert "bert.embeddings.position_ids" not in keys


def test_config_fields_and_defaults_match_hezar():
    config = BertTextClassificationConfig(num_labels=3)
    assert config.name == "bert_text_classification" and config.task == "text_classification"
    sizes = (config.vocab_size, config.hidden_size, config.num_hidden_layers, config.intermediate_size)
    assert sizes == (42000, 768, 12, 3072)
    assert (config.hidden_act, config.layer_norm_eps, config.position_embedding_type) == ("gelu", 1e-12, "absolute")
    assert config.classifier_dropout is None and config.use_cache is True
    assert BertSequenceLabelingConfig(num_labels=3).name == "bert_sequence_labeling"


@pytest.mark.parametrize("safe", [False, True])
def test_save_and_generic_load_give_identical_logits(tmp_path, safe):
    model = tiny_classifier().eval()
    model.save(tmp_path, safe_serialization=safe)
    loaded = Model.load(tmp_path).eval()
    assert type(loaded) is BertTextClassification
    batch = batch_of()
    assert torch.equal(model(**batch)["logits"], loaded(**batch)["logits"])


def test_a_model_saved_with_its_tokenizer_loads_it_back_and_predicts_the_same(tmp_path):
    model = tiny_classifier()
    model.preprocessor = WordPieceTokenizer.train(CORPUS, vocab_size=TINY["vocab_size"], min_frequency=1)
    model.save(tmp_path)
    loaded = Model.load(tmp_path)
    assert isinstance(loaded.preprocessor, WordPieceTokenizer)
    texts = ["این فیلم خوب بود", "هوا سرد است"]
    assert loaded.predict(texts) == model.predict(texts)


def test_a_sequence_labeler_round_trips_too(tmp_path):
    model = tiny_tagger().eval()
    model.save(tmp_path)
    loaded = Model.load(tmp_path).eval()
    assert torch.equal(model(**batch_of())["logits"], loaded(**batch_of())["logits"])


def test_an_older_state_dict_with_position_ids_still_loads(tmp_path):
    model = tiny_classifier()
    model.save(tmp_path)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    state["bert.embeddings.position_ids"] = torch.arange(TINY["max_position_embeddings"]).unsqueeze(0)
    torch.save(state, tmp_path / "model.pt")
    Model.load(tmp_path)


def test_matching_weights_load_and_a_resized_classifier_is_reported_mismatched(tmp_path):
    tiny_classifier(seed=0).save(tmp_path)
    target = tiny_classifier(seed=1, id2label={0: "a", 1: "b", 2: "c"})
    report = target.load_matching_weights(tmp_path)
    assert {key for key, _, _ in report.mismatched} == {"classifier.weight", "classifier.bias"}
    assert not report.unexpected
    source = Model.load(tmp_path).bert.encoder.layer[1].output.dense.weight
    assert torch.equal(target.bert.encoder.layer[1].output.dense.weight, source)
    assert target.classifier.weight.shape == (3, TINY["hidden_size"])


def test_a_config_without_labels_is_rejected_naming_the_field():
    with pytest.raises(ConfigError, match="num_labels"):
        BertTextClassificationConfig(**TINY)


def test_hidden_size_not_divisible_by_heads_is_rejected_naming_the_field():
    with pytest.raises(ConfigError, match="hidden_size"):
        BertSequenceLabelingConfig(**{**TINY, "num_attention_heads": 5}, num_labels=2)


def test_labels_come_from_id2label_with_string_keys_and_the_config_is_not_mutated():
    config = BertTextClassificationConfig(**TINY, id2label={"0": "neg", "1": "pos"})
    model = BertTextClassification(config)
    assert model.classifier.out_features == 2 and config.num_labels is None
    with pytest.raises(ConfigError, match="id2label"):
        BertTextClassificationConfig(**TINY, id2label={"a": "neg"})


def test_padding_does_not_change_the_prediction_of_a_shorter_row():
    model = tiny_classifier().eval()
    short = torch.tensor([[2, 10, 11, 12, 3]])
    padded = torch.tensor([[2, 10, 11, 12, 3, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    torch.testing.assert_close(model(short)["logits"], model(padded, attention_mask=mask)["logits"])


def test_forward_ignores_labels_and_other_batch_keys():
    model = tiny_classifier()
    outputs = model(**batch_of(), labels=torch.tensor([0, 1, 0]), token_type_ids=None)
    assert outputs["logits"].shape == (3, 2)


def test_sequence_labeling_loss_ignores_positions_labelled_minus_100():
    model = tiny_tagger().eval()
    logits = model(**batch_of())["logits"]
    labels = torch.full(logits.shape[:2], -100)
    labels[:, 1] = torch.tensor([0, 1, 2])
    expected = torch.nn.functional.cross_entropy(logits[:, 1], labels[:, 1])
    torch.testing.assert_close(model.compute_loss(logits, labels), expected)


def test_predict_on_persian_text_returns_labels_from_id2label():
    model = tiny_classifier()
    model.preprocessor = WordPieceTokenizer.train(CORPUS, vocab_size=TINY["vocab_size"], min_frequency=1)
    predictions = model.predict(["این فیلم خوب بود", "هوا سرد است"])
    assert len(predictions) == 2
    assert all(p["label"] in {"منفی", "مثبت"} and 0.0 <= p["score"] <= 1.0 for p in predictions)
    all_scores = model.predict("غذا خوشمزه بود", post_process_kwargs={"return_all_scores": True})
    assert [s["label"] for s in all_scores[0]] == ["منفی", "مثبت"]
    assert sum(s["score"] for s in all_scores[0]) == pytest.approx(1.0)


def test_tagging_predicts_one_label_per_input_word():
    model = tiny_tagger()
    model.preprocessor = WordPieceTokenizer.train(CORPUS, vocab_size=TINY["vocab_size"], min_frequency=1)
    sentence = "این فیلم در تهران خوب بود"
    for inputs in (sentence, [sentence.split()]):
        tags = model.predict(inputs)[0]
        assert [t["token"] for t in tags] == sentence.split()
        assert all(t["label"] in {"O", "B-LOC", "I-LOC"} for t in tags)


def test_a_tiny_model_learns_a_separable_batch():
    torch.manual_seed(0)
    model = tiny_classifier(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    token_ids = torch.tensor([[2, 10, 11, 3], [2, 10, 12, 3], [2, 40, 41, 3], [2, 40, 42, 3]])
    labels = torch.tensor([0, 0, 1, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model.compute_loss(model(token_ids)["logits"], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], losses
