"""Two-way compatibility of the RoBERTa, DistilBERT and BERT mask-filling models with the real `hezar` package.

Skipped unless `hezar` is importable (run it like tests/test_hezar_compat.py, in a venv with hezar; see
docs/HEZAR_COMPAT.md). For each of roberta_{text_classification, sequence_labeling, mask_filling},
distilbert_{text_classification, sequence_labeling, mask_filling} and bert_mask_filling:
  (a) a folder saved here loads with `hezar.models.Model.load`: the same state-dict keys in the same order,
      bit-identical tensors, the same token ids from each side's tokenizer read from the folder, logits equal to
      1e-5, and equal predictions;
  (b) a folder built and saved by Hezar (tiny config, Hub-style tokenizer.json) loads here with the same outputs;
and a Hezar-saved folder fine-tunes here with the Trainer. Known incompatibilities are strict xfails naming the cause.
"""

from __future__ import annotations

import pytest

hezar = pytest.importorskip("hezar")
pytest.importorskip("transformers")

import torch  # noqa: E402
from tokenizers import processors  # noqa: E402

import hezar.models  # noqa: E402,F401  (registers Hezar's models)
from hezar.models import Model as HezarModel  # noqa: E402

from hezar_accel.models import Model  # noqa: E402
from hezar_accel.registry import get_entry  # noqa: E402

from test_hezar_compat import (CORPUS, SL_LABELS, TC_LABELS, TEXTS, assert_same_weights,  # noqa: E402
                               encode_both, hezar_bert_tokenizer_file, hezar_bpe_tokenizer_file, hezar_tokenizer)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning", "ignore::UserWarning")

BERT_SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                  max_position_embeddings=32)
SIZES = {
    "bert": BERT_SIZES,
    "roberta": {**BERT_SIZES, "max_position_embeddings": 34},  # positions start after the padding id 1
    "distilbert": dict(dim=32, n_layers=2, n_heads=2, hidden_dim=48, max_position_embeddings=32),
}
MODELS = ["roberta_text_classification", "roberta_sequence_labeling", "roberta_mask_filling",
          "distilbert_text_classification", "distilbert_sequence_labeling", "distilbert_mask_filling",
          "bert_mask_filling"]
# Hezar's DistilBertSequenceLabelingConfig has no hidden_dim: Hezar always builds 🤗's default width.
HEZAR_FIXED = {"distilbert_sequence_labeling": {"hidden_dim": 3072}}


def family(name):
    return name.split("_")[0]


def task_of(name):
    return name.split("_", 1)[1]


def settings(name, vocab_size, **overrides):
    labels = {"text_classification": {"id2label": TC_LABELS},
              "sequence_labeling": {"id2label": SL_LABELS, "num_labels": len(SL_LABELS)}}.get(task_of(name), {})
    return {"vocab_size": vocab_size, **SIZES[family(name)], **HEZAR_FIXED.get(name, {}), **labels, **overrides}


def accel_model(name, vocab_size, seed=0, **overrides):
    entry = get_entry("model", name)
    torch.manual_seed(seed)
    return entry.cls(entry.config_class(**settings(name, vocab_size, **overrides)))


def hezar_model(name, vocab_size, seed=0, **overrides):
    from hezar.registry import models_registry

    entry = models_registry[name]
    config = settings(name, vocab_size, **overrides)
    if name == "distilbert_sequence_labeling":
        config.pop("hidden_dim")  # not a field of Hezar's config (see HEZAR_FIXED)
    torch.manual_seed(seed)
    return entry.module_class(entry.config_class(**config))


def roberta_framing(backend):
    backend.post_processor = processors.RobertaProcessing(("</s>", backend.token_to_id("</s>")),
                                                          ("<s>", backend.token_to_id("<s>")), trim_offsets=False)


@pytest.fixture(scope="module")
def wordpiece():
    from hezar_accel.preprocessors import WordPieceTokenizer

    return WordPieceTokenizer.train(CORPUS, vocab_size=90, min_frequency=1)


@pytest.fixture(scope="module")
def roberta_bpe():
    """A byte-level BPE framing texts as ``<s> ... </s>``, like Hezar's published RoBERTa tokenizers."""
    from hezar_accel.preprocessors import BPETokenizer

    tokenizer = BPETokenizer.train(CORPUS, vocab_size=300, min_frequency=1)
    roberta_framing(tokenizer.backend)
    return tokenizer


def inputs_for(name, mask_token):
    if task_of(name) != "mask_filling":
        return TEXTS
    return [f"این فیلم {mask_token} بود", f"{mask_token} سرد", f"می‌روم {mask_token} 😀"]


def assert_same_outputs(name, ours, theirs, hezar_tok):
    """Same ids from both tokenizers, logits to 1e-5, and equal predictions."""
    texts = inputs_for(name, hezar_tok.mask_token)
    a, h = encode_both(ours.preprocessor, hezar_tok, texts)
    with torch.no_grad():
        torch.testing.assert_close(ours(**a)["logits"], theirs(**h)["logits"], rtol=1e-5, atol=1e-5)
    task = task_of(name)
    if task == "text_classification":
        for text in texts:
            mine, hezars = ours.predict(text)[0], theirs.predict(text)[0][0]
            assert mine["label"] == hezars.label and mine["score"] == pytest.approx(hezars.score, abs=1e-5)
    elif task == "mask_filling":
        for text in texts:
            mine, hezars = ours.predict(text, top_k=3)[0], theirs.predict(text, top_k=3)[0]
            assert [f["token_id"] for f in mine] == [f.token_id for f in hezars]
            assert [f["token"] for f in mine] == [f.token for f in hezars]
            assert [f["sequence"] for f in mine] == [f.sequence for f in hezars]
            assert [f["score"] for f in mine] == pytest.approx([f.score for f in hezars], abs=1e-5)


# -- (a) saved here, loaded by Hezar ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS)
def test_saved_here_loads_in_hezar_with_the_same_weights_ids_logits_and_predictions(name, wordpiece, roberta_bpe,
                                                                                     tmp_path):
    tokenizer = roberta_bpe if family(name) == "roberta" else wordpiece
    model = accel_model(name, tokenizer.vocab_size)
    model.preprocessor = tokenizer
    model.save(tmp_path)
    theirs, ours = HezarModel.load(str(tmp_path)).eval(), Model.load(tmp_path)
    assert type(theirs).__name__ == type(ours).__name__
    assert str(theirs.config.task) == ours.config.task == task_of(name)
    assert list(theirs.state_dict()) == list(model.state_dict())
    assert_same_weights(theirs, model)
    assert_same_outputs(name, ours, theirs, hezar_tokenizer(theirs))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "Hezar's own limitation: hezar/models/sequence_labeling/distilbert/distilbert_sequence_labeling_config.py has no "
    "hidden_dim field, so Hezar's from_dict drops the saved key and builds the feed-forward layers 3072 wide; a "
    "folder with another hidden_dim loads only partially (Hezar warns and keeps ffn.lin1/lin2 at init)."))
def test_a_distilbert_tagger_with_a_non_default_ffn_width_loads_in_hezar(wordpiece, tmp_path):
    model = accel_model("distilbert_sequence_labeling", wordpiece.vocab_size, hidden_dim=48)
    model.preprocessor = wordpiece
    model.save(tmp_path)
    assert_same_weights(HezarModel.load(str(tmp_path)), model)


def test_a_tagger_saved_with_only_num_labels_loads_in_hezar(wordpiece, tmp_path):
    """Hezar's DistilBERT tagger config requires both label fields; a config with only num_labels writes both."""
    model = accel_model("distilbert_sequence_labeling", wordpiece.vocab_size, id2label=None)
    model.save(tmp_path)
    theirs = HezarModel.load(str(tmp_path))
    assert theirs.config.num_labels == 3 and theirs.config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert_same_weights(theirs, model)


# -- (b) built and saved by Hezar, loaded here --------------------------------------------------------------------------
def hezar_tokenizer_for(name, folder):
    from hezar.preprocessors import BPEConfig, BPETokenizer, WordPieceConfig, WordPieceTokenizer

    if family(name) != "roberta":
        return WordPieceTokenizer(WordPieceConfig(), tokenizer_file=hezar_bert_tokenizer_file(folder))
    tokenizer = BPETokenizer(BPEConfig(), tokenizer_file=hezar_bpe_tokenizer_file(folder))
    roberta_framing(tokenizer._tokenizer)
    return tokenizer


@pytest.mark.parametrize("name", MODELS)
def test_saved_by_hezar_loads_here_with_the_same_weights_ids_logits_and_predictions(name, tmp_path):
    tokenizer = hezar_tokenizer_for(name, tmp_path)
    theirs = hezar_model(name, tokenizer.get_vocab_size())
    theirs.preprocessor = tokenizer
    theirs.save(str(tmp_path / "model"))
    ours = Model.load(tmp_path / "model")
    theirs.eval()
    assert type(ours).__name__ == type(theirs).__name__
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_same_weights(theirs, ours)
    assert_same_outputs(name, ours, theirs, tokenizer)


# -- a Hezar folder fine-tunes here -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["roberta_text_classification", "distilbert_mask_filling"])
def test_a_folder_saved_by_hezar_fine_tunes_here_with_the_trainer(name, text_data, tmp_path):
    from hezar_accel.data import Dataset
    from hezar_accel.trainer import Trainer, TrainerConfig

    tokenizer = hezar_tokenizer_for(name, tmp_path)
    options = {"name": "mask_filling", "task": "mask_filling"} if task_of(name) == "mask_filling" else {}
    train, test = (Dataset.load(text_data, split=s, preprocessor=tokenizer, **options) for s in ("train", "test"))
    labels = {"id2label": train.config.id2label} if task_of(name) == "text_classification" else {}
    theirs = hezar_model(name, tokenizer.get_vocab_size(), **labels)
    theirs.preprocessor = tokenizer
    theirs.save(str(tmp_path / "hezar"))
    model = Model.load(tmp_path / "hezar")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainerConfig(output_dir=str(tmp_path / "run"), task=task_of(name), device="cpu", max_steps=4,
                           batch_size=16, optimizer="adamw", learning_rate=1e-2, log_with=None,
                           show_progress_bar=False, save_steps=4)
    results = Trainer(config, model, train_dataset=train, eval_dataset=test).train()
    assert results["accuracy"] >= 0.0 and torch.isfinite(torch.tensor(results["loss"]))
    assert [k for k, v in model.state_dict().items() if torch.equal(v, before[k])] == []
    checkpoint = tmp_path / "run" / "checkpoints" / f"{4:08d}"
    assert_same_weights(HezarModel.load(str(checkpoint)), model)  # and the fine-tuned folder goes back to Hezar
