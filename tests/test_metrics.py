"""Metrics layer: local evaluate modules against hand-computed values, batching invariance, per-task handlers,
CTC collapse and Persian normalization. Offline: every metric loads from this package's own module folders."""

import math
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hezar_accel.ctc import ctc_greedy_collapse  # noqa: E402
from hezar_accel.errors import ConfigError, MissingDependencyError  # noqa: E402
from hezar_accel.metrics import (  # noqa: E402
    AVAILABLE_METRICS,
    MetricsHandler,
    get_metrics_handler_class,
    load_metric,
    normalize_persian,
)

# 3 classes. class 0: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2
#            class 1: TP 2, FP 1, FN 0 -> P 2/3, R 1,   F1 4/5
#            class 2: TP 1, FP 0, FN 1 -> P 1,   R 1/2, F1 2/3
# macro F1 = (1/2 + 4/5 + 2/3) / 3, macro P = (1/2 + 2/3 + 1) / 3, macro R = (1/2 + 1 + 1/2) / 3, accuracy 4/6.
CLS_REFS = [0, 0, 1, 1, 2, 2]
CLS_PREDS = [0, 1, 1, 1, 2, 0]
MACRO_F1 = (1 / 2 + 4 / 5 + 2 / 3) / 3
MACRO_P = (1 / 2 + 2 / 3 + 1) / 3
MACRO_R = (1 / 2 + 1 + 1 / 2) / 3

# CER: 1 deletion over 9 chars ("سلام دنیا" incl. the space) + 2 insertions over 4 chars -> corpus 3/13.
CER_REFS = ["سلام دنیا", "کتاب"]
CER_PREDS = ["سلم دنیا", "کتابها"]
# WER: 1 substitution over 4 words + 2 insertions over 1 word -> corpus 3/5.
WER_REFS = ["من به خانه رفتم", "سلام"]
WER_PREDS = ["من به مدرسه رفتم", "سلام دوست من"]

# IOB2: true entities PER(0-1), LOC(3), ORG(1-2 of sentence 2); predicted PER(0-1), ORG(1) -> 1 correct of 2
# predicted and 3 true: P 1/2, R 1/3, F1 2/5. Tokens: 3 of 4 + 2 of 3 correct -> accuracy 5/7.
TAG_REFS = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
TAG_PREDS = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG", "O"]]

SENTENCES = ["امروز هوا بسیار خوب و آفتابی است", "من هر روز صبح به دانشگاه می روم", "این کتاب را دوست دارم"]


@pytest.fixture(scope="module")
def metrics():
    return {name: load_metric(name) for name in AVAILABLE_METRICS}


def test_every_metric_loads_offline_in_a_fresh_process(tmp_path):
    # An empty modules cache: evaluate copies each script there and imports the copy, whose absolute import of
    # hezar_accel.metrics.scoring must resolve; a copy cached by an earlier run must not stand in for it.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path)}
    code = ("from hezar_accel.metrics import load_metric, AVAILABLE_METRICS; "
            "print([type(load_metric(n).module).__name__ for n in AVAILABLE_METRICS])")
    done = subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300, capture_output=True,
                          text=True)
    classes = ["Accuracy", "Precision", "Recall", "F1", "Seqeval", "Bleu", "Rouge", "CER", "WER"]
    assert done.stdout.strip() == repr(classes)
    copies = (tmp_path / "evaluate_modules" / "metrics").iterdir()
    assert sorted(path.name for path in copies if path.is_dir()) == sorted(AVAILABLE_METRICS)


def test_load_metric_checks_options_without_importing_the_metric_until_first_use():
    code = """if True:
        import sys
        from hezar_accel.errors import ConfigError
        from hezar_accel.metrics import get_metrics_handler_class, load_metric
        try:
            load_metric("seqeval", schema="IOB2")
        except ConfigError as e:
            assert "did you mean `scheme`" in str(e), e
        else:
            raise AssertionError("a misspelled metric option was accepted")
        handler = get_metrics_handler_class("text_classification")(None)
        heavy = [m for m in ("evaluate", "sklearn", "seqeval", "transformers") if m in sys.modules]
        assert not heavy, heavy
        handler.add_batch([1, 0], [1, 1])
        assert handler.compute()["accuracy"] == 0.5
        assert "evaluate" in sys.modules and "sklearn" in sys.modules
    """
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_classification_metrics_match_hand_computed_values(metrics):
    expected = {"accuracy": 4 / 6, "f1": MACRO_F1, "precision": MACRO_P, "recall": MACRO_R}
    for name, value in expected.items():
        metrics[name].add_batch(CLS_PREDS, CLS_REFS)
        assert metrics[name].compute()[name] == pytest.approx(value)


def test_f1_average_option_changes_the_average():
    micro = load_metric("f1", average="micro")
    micro.add_batch(CLS_PREDS, CLS_REFS)
    assert micro.compute()["f1"] == pytest.approx(4 / 6)  # micro F1 = accuracy for single-label data
    only_class_1 = load_metric("f1", average="macro", labels=[1])
    only_class_1.add_batch(CLS_PREDS, CLS_REFS)
    assert only_class_1.compute()["f1"] == pytest.approx(4 / 5)


def test_cer_and_wer_are_corpus_level_not_the_mean_of_sentences(metrics):
    metrics["cer"].add_batch(CER_PREDS, CER_REFS)
    cer = metrics["cer"].compute()["cer"]
    assert cer == pytest.approx(3 / 13)
    assert cer != pytest.approx((1 / 9 + 2 / 4) / 2)
    metrics["wer"].add_batch(WER_PREDS, WER_REFS)
    wer = metrics["wer"].compute()["wer"]
    assert wer == pytest.approx(3 / 5)
    assert wer != pytest.approx((1 / 4 + 2 / 1) / 2)


def test_cer_counts_an_empty_reference_as_insertions(metrics):
    metrics["cer"].add_batch(["ab", "کتاب"], ["", "کتاب"])
    assert metrics["cer"].compute()["cer"] == pytest.approx(2 / 4)


def test_bleu_is_100_for_identical_persian_and_matches_sacrebleu_on_a_partial_match(metrics):
    import sacrebleu

    metrics["bleu"].add_batch(SENTENCES, SENTENCES)
    assert metrics["bleu"].compute()["bleu"] == pytest.approx(100.0)
    hyps = ["امروز هوا خوب و آفتابی است", "من هر روز به دانشگاه می روم", "این کتاب را دوست دارم"]
    metrics["bleu"].add_batch(hyps, SENTENCES)
    score = metrics["bleu"].compute()["bleu"]
    assert 0 < score < 100
    assert score == pytest.approx(sacrebleu.corpus_bleu(hyps, [SENTENCES]).score)


def test_bleu_tokenizer_option_is_passed_to_sacrebleu():
    import sacrebleu

    bleu = load_metric("bleu", tokenize="char")
    bleu.add_batch(["سلام دنیا"], [["سلام دنیای"]])
    expected = sacrebleu.corpus_bleu(["سلام دنیا"], [["سلام دنیای"]], tokenize="char").score
    assert bleu.compute()["bleu"] == pytest.approx(expected)


def test_rouge_keeps_persian_letters(metrics):
    from rouge_score import rouge_scorer

    # The default rouge-score tokenizer drops non-Latin text: Persian would score 0.
    assert rouge_scorer.RougeScorer(["rouge1"]).score("من به خانه رفتم", "من به خانه رفتم")["rouge1"].fmeasure == 0
    metrics["rouge"].add_batch(SENTENCES, SENTENCES)
    assert metrics["rouge"].compute() == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    # 3 of 4 unigrams, 1 of 3 bigrams, LCS "من به رفتم" = 3 of 4.
    metrics["rouge"].add_batch(["من به مدرسه رفتم"], ["من به خانه رفتم"])
    result = metrics["rouge"].compute()
    assert result == pytest.approx({"rouge1": 3 / 4, "rouge2": 1 / 3, "rougeL": 3 / 4})


def test_seqeval_entity_scores_and_token_accuracy(metrics):
    metrics["seqeval"].add_batch(TAG_PREDS, TAG_REFS)
    result = metrics["seqeval"].compute()
    assert result == pytest.approx({"precision": 1 / 2, "recall": 1 / 3, "f1": 2 / 5, "accuracy": 5 / 7})


def test_seqeval_strict_scheme_rejects_an_entity_without_its_begin_tag():
    refs, preds = [["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]]
    lenient = load_metric("seqeval")
    lenient.add_batch(preds, refs)
    assert lenient.compute()["f1"] == 1.0
    strict = load_metric("seqeval", scheme="IOB2")
    strict.add_batch(preds, refs)
    assert strict.compute()["f1"] == 0.0


@pytest.mark.parametrize(
    "name,preds,refs",
    [
        ("f1", CLS_PREDS * 2, CLS_REFS[::-1] * 2),
        ("accuracy", CLS_PREDS * 2, CLS_REFS[::-1] * 2),
        ("seqeval", TAG_PREDS + TAG_REFS + TAG_PREDS, TAG_REFS * 3),
        ("cer", CER_PREDS * 3, CER_REFS[::-1] * 3),
        ("wer", WER_PREDS * 3, WER_REFS[::-1] * 3),
        ("bleu", SENTENCES[::-1] + SENTENCES, SENTENCES * 2),
        ("rouge", SENTENCES[::-1] + SENTENCES, SENTENCES * 2),
    ],
)
def test_three_batches_equal_one_shot(metrics, name, preds, refs):
    metric = metrics[name]
    metric.add_batch(preds, refs)
    one_shot = metric.compute()
    bounds = [0, 1, len(preds) // 2, len(preds)]
    for start, end in zip(bounds, bounds[1:]):
        metric.add_batch(preds[start:end], refs[start:end])
    assert metric.compute() == pytest.approx(one_shot)


def test_metric_reset_drops_pending_batches(metrics):
    metrics["accuracy"].add_batch([0, 0], [1, 1])
    metrics["accuracy"].reset()
    metrics["accuracy"].add_batch([1], [1])
    assert metrics["accuracy"].compute()["accuracy"] == 1.0


def test_unknown_metric_name_and_option_get_did_you_mean_errors():
    with pytest.raises(ConfigError, match="did you mean `rouge`"):
        load_metric("rogue")
    with pytest.raises(ConfigError, match="did you mean `average`"):
        load_metric("f1", averag="macro")
    with pytest.raises(ConfigError, match="average='mean' is not valid"):
        load_metric("f1", average="mean")


@pytest.mark.parametrize("name,options,message", [
    ("seqeval", {"suffix": "yes"}, "seqeval: suffix='yes' is not valid; use one of True, False"),
    ("seqeval", {"zero_division": 2}, "seqeval: zero_division=2 is not valid; use one of 0, 1, warn"),
    ("bleu", {"smooth_method": "expo"}, "bleu: smooth_method='expo' is not valid; use one of exp, floor, add-k, none"),
    ("accuracy", {"normalize": "false"}, "accuracy: normalize='false' is not valid; use one of True, False"),
    ("f1", {"average": np.array(["macro", "micro"])}, "f1: average=array"),
])
def test_load_metric_refuses_a_value_outside_an_options_closed_set(name, options, message):
    with pytest.raises(ConfigError) as error:
        load_metric(name, **options)
    assert message in str(error.value)


def test_missing_library_fails_at_load_with_pip_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "jiwer", None)  # makes `import jiwer` raise ImportError
    with pytest.raises(MissingDependencyError, match="pip install jiwer"):
        load_metric("wer")


# -- handlers -----------------------------------------------------------------------------------------------------
def test_check_metrics_reports_unknown_repeated_and_non_list_names():
    handler_cls = get_metrics_handler_class("text_classification")
    assert handler_cls.check_metrics(["accuracy", "f1"]) == []
    assert handler_cls.check_metrics(None) == []
    (problem,) = handler_cls.check_metrics(["f2"])
    assert problem.startswith("metrics: unknown metric `f2` for task text_classification (did you mean `f1`?); valid:")
    assert "listed more than once" in handler_cls.check_metrics(["f1", "f1"])[0]
    assert "expected a list" in handler_cls.check_metrics("f1")[0]
    assert "unknown metric `wer`" in handler_cls.check_metrics(["wer"])[0]


def test_output_names_per_task():
    get = get_metrics_handler_class
    assert get("text_classification").output_names(None) == ["accuracy", "f1", "precision", "recall"]
    assert get("sequence_labeling").output_names(["seqeval"]) == ["f1", "precision", "recall", "accuracy"]
    assert get("text_generation").output_names(None) == ["bleu", "rouge1", "rouge2", "rougeL"]
    assert get("image2text").output_names(["wer"]) == ["wer"]
    assert get("speech_recognition").output_names(None) == ["cer", "wer"]


def test_unknown_task_and_bad_handler_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="did you mean `image2text`"):
        get_metrics_handler_class("image_2_text")
    handler_cls = get_metrics_handler_class("text_classification")
    with pytest.raises(ConfigError, match="unknown metric `acc`"):
        handler_cls(["acc"])
    with pytest.raises(ConfigError, match="options given for `bleu`"):
        handler_cls(["f1"], metric_kwargs={"bleu": {"tokenize": "char"}})
    with pytest.raises(ConfigError, match="id2label"):
        get_metrics_handler_class("sequence_labeling")(None, model_config={})


def test_text_classification_handler_end_to_end():
    handler = get_metrics_handler_class("text_classification")(None)
    logits = torch.nn.functional.one_hot(torch.tensor(CLS_PREDS), 3).float()
    predictions = handler.predictions_from_outputs({"logits": logits}, {})
    assert predictions.tolist() == CLS_PREDS
    # Two gathered batches; the -100 label row stands for padding and is not scored.
    handler.add_batch(predictions[:4].numpy(), np.array(CLS_REFS[:4]))
    handler.add_batch(torch.cat([predictions[4:], torch.tensor([2])]), torch.tensor(CLS_REFS[4:] + [-100]))
    result = handler.compute()
    assert result == pytest.approx({"accuracy": 4 / 6, "f1": MACRO_F1, "precision": MACRO_P, "recall": MACRO_R})
    handler.add_batch(np.array([1]), np.array([1]))  # compute() reset the state
    assert handler.compute()["accuracy"] == 1.0


def test_empty_evaluation_gives_nan():
    handler = get_metrics_handler_class("text_classification")(["accuracy"])
    assert math.isnan(handler.compute()["accuracy"])


def test_sequence_labeling_handler_scores_only_labelled_positions():
    config = {"id2label": {"0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "B-ORG", "5": "I-ORG"}}
    handler = get_metrics_handler_class("sequence_labeling")(None, model_config=config,
                                                              metric_kwargs={"seqeval": {"scheme": "IOB2"}})
    # [CLS] w1 w2 w2-subtoken w3 w4 [SEP]; labels -100 on CLS/SEP/sub-tokens and on cross-process padding.
    labels = np.array([[-100, 1, 2, -100, 0, 3, -100], [-100, 0, 4, 5, -100, -100, -100]])
    predictions = np.array([[3, 1, 2, 5, 0, 0, 3], [0, 0, 4, 0, 0, -100, -100]])
    handler.add_batch(predictions[:1], labels[:1])
    handler.add_batch(predictions[1:], labels[1:])
    assert handler.compute() == pytest.approx({"f1": 2 / 5, "precision": 1 / 2, "recall": 1 / 3, "accuracy": 5 / 7,
                                               "f1_LOC": 0.0, "f1_ORG": 0.0, "f1_PER": 1.0})


def test_sequence_labeling_handler_names_an_id_missing_from_id2label():
    handler = get_metrics_handler_class("sequence_labeling")(None, model_config={"id2label": {0: "O", 1: "B-PER"}})
    with pytest.raises(ValueError, match="predicted id 7 is not in model_config.id2label"):
        handler.add_batch(np.array([[0, 7, 1]]), np.array([[0, 1, -100]]))
    with pytest.raises(ValueError, match="label id -3 is not in"):
        handler.add_batch(np.array([[0, 1]]), np.array([[0, -3]]))


def _random_tag_corpus(rng, pool, sentences):
    refs = [[rng.choice(pool) for _ in range(rng.randint(0, 9))] for _ in range(sentences)]
    preds = [[rng.choice(pool) if rng.random() < 0.5 else tag for tag in ref] for ref in refs]
    return refs, preds


@pytest.mark.parametrize("suffix", [False, True])
def test_seqeval_lenient_scores_equal_seqeval_itself_on_random_tag_sequences(suffix):
    """The array-based lenient extraction must reproduce seqeval's, odd labels (bare B, '.', X, O-PER) included."""
    import random
    import warnings

    from seqeval.metrics import accuracy_score
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    prefixed = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "I-ORG", "B", "I", "E", "S",
                ".", "X", "B-A-B", "I-A-B", "O-PER", "PER"]
    suffixed = ["O", "PER-B", "PER-I", "PER-E", "PER-S", "LOC-B", "LOC-I", "B", "I", "X", "A-B-I"]
    rng = random.Random(7)
    metric = load_metric("seqeval", suffix=suffix, zero_division=1)
    for _ in range(150):
        pool = rng.sample(suffixed if suffix else prefixed, rng.randint(1, 8))
        refs, preds = _random_tag_corpus(rng, pool, rng.randint(1, 6))
        if not any(refs):
            continue
        bounds = [0, *sorted(rng.randint(0, len(refs)) for _ in range(2)), len(refs)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seqeval warns about the labels that are not entity tags
            for start, end in zip(bounds, bounds[1:]):  # chunks of non-entity labels may span batches
                metric.add_batch(preds[start:end], refs[start:end])
            ours = metric.compute()
            precision, recall, f1, _ = precision_recall_fscore_support(refs, preds, average="micro", suffix=suffix,
                                                                       zero_division=1)
        assert ours == {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy_score(refs, preds)}


def test_seqeval_strict_scores_equal_seqeval_itself_on_random_iob2_sequences():
    import random

    from seqeval.metrics import accuracy_score
    from seqeval.metrics.v1 import precision_recall_fscore_support
    from seqeval.scheme import IOB2

    rng = random.Random(3)
    metric = load_metric("seqeval", scheme="IOB2")
    for _ in range(60):
        refs, preds = _random_tag_corpus(rng, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], rng.randint(1, 6))
        if not any(refs):
            continue
        cut = rng.randint(0, len(refs))
        metric.add_batch(preds[:cut], refs[:cut])
        metric.add_batch(preds[cut:], refs[cut:])
        precision, recall, f1, _ = precision_recall_fscore_support(refs, preds, average="micro", scheme=IOB2,
                                                                   zero_division=0)
        assert metric.compute() == {"precision": precision, "recall": recall, "f1": f1,
                                    "accuracy": accuracy_score(refs, preds)}


def test_option_table_equals_every_modules_compute_signature():
    """load_metric checks options against METRIC_OPTIONS without importing the module: the table must be the truth."""
    import inspect

    from sacrebleu.metrics import BLEU

    from hezar_accel.metrics.loading import METRIC_OPTIONS

    assert list(METRIC_OPTIONS) == AVAILABLE_METRICS
    for name in AVAILABLE_METRICS:
        module_class = type(load_metric(name).module)
        inputs = {"_compute": ("self", "predictions", "references")}
        if name == "seqeval":
            inputs.update(_update_statistics=("self", "statistics", "predictions", "references"),
                          _compute_from_statistics=("self", "statistics"))
        for method, leading in inputs.items():
            parameters = inspect.signature(getattr(module_class, method)).parameters
            assert tuple(parameters)[:len(leading)] == leading, (name, method)
            defaults = {key: parameters[key].default for key in list(parameters)[len(leading):]}
            assert list(defaults) == list(METRIC_OPTIONS[name]), (name, method)
            for option, default in defaults.items():
                choices = METRIC_OPTIONS[name][option]
                assert choices is None or default in choices, (name, option, default)
    assert set(METRIC_OPTIONS["bleu"]["smooth_method"]) == set(BLEU.SMOOTH_DEFAULTS)


def _random_classes(rng, classes: int, size: int = 240):
    refs = [rng.randrange(classes) for _ in range(size)]
    return [ref if rng.random() < 0.6 else rng.randrange(classes) for ref in refs], refs


def _random_texts(rng, size: int = 60):
    words = " ".join(SENTENCES + WER_REFS + CER_REFS).split()
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(size)]
    preds = ["".join(c if rng.random() < 0.9 else rng.choice("ابپت سی") for c in ref) for ref in refs]
    preds[::7] = [""] * len(preds[::7])  # a model that outputs nothing, now and then
    return preds, refs


def _rouge_directly(module, preds, refs):
    from rouge_score import rouge_scorer

    tokenizer = sys.modules[type(module).__module__].UnicodeWordTokenizer()  # Persian-aware: see the rouge test
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=tokenizer)
    scores = [scorer.score(ref, pred) for pred, ref in zip(preds, refs)]
    return {key: sum(score[key].fmeasure for score in scores) / len(scores) for key in ("rouge1", "rouge2", "rougeL")}


def _directly(name, module, preds, refs, options) -> dict:
    """The library's own answer for a metric, called as a user would call it: no hezar_accel code involved."""
    import jiwer
    import sacrebleu
    import sklearn.metrics

    if name in ("accuracy", "f1", "precision", "recall"):
        return {name: float(getattr(sklearn.metrics, f"{name}_score")(refs, preds, **options))}
    if name in ("cer", "wer"):
        return {name: getattr(jiwer, name)(refs, preds)}
    if name == "bleu":
        return {"bleu": sacrebleu.corpus_bleu(preds, [refs], **options).score}
    return _rouge_directly(module, preds, refs)


@pytest.mark.parametrize("name,options,classes", [
    ("accuracy", {}, 3), ("accuracy", {"normalize": False}, 3),
    ("f1", {"average": "macro"}, 4), ("f1", {"average": "binary", "pos_label": 0}, 2),
    ("precision", {"average": "weighted", "zero_division": 1}, 5), ("precision", {"average": "micro"}, 3),
    ("recall", {"average": "macro", "labels": [0, 2]}, 3), ("recall", {"average": "binary"}, 2),
    ("cer", {}, None), ("wer", {}, None), ("rouge", {}, None),
    ("bleu", {}, None), ("bleu", {"tokenize": "char", "lowercase": True, "smooth_method": "floor"}, None),
])
def test_each_metric_equals_its_library_called_directly_on_random_data_in_random_batches(name, options, classes):
    """Bit for bit: the shared scoring code (and the buffering around it) must not change a single result."""
    import random

    rng = random.Random(f"{name}{options}")
    metric = load_metric(name, **options)
    for _ in range(3):
        preds, refs = _random_classes(rng, classes) if classes else _random_texts(rng)
        bounds = [0, *sorted(rng.randint(0, len(refs)) for _ in range(2)), len(refs)]
        for start, end in zip(bounds, bounds[1:]):
            metric.add_batch(preds[start:end], refs[start:end])
        assert metric.compute() == _directly(name, metric.module, preds, refs, options)


class WordTokenizer:
    """Stand-in tokenizer: id -> word; id 0 is the pad token, dropped by skip_special_tokens."""

    vocab = ["<pad>", "من", "به", "خانه", "مدرسه", "رفتم", "سوال:"]

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(self.vocab[i] for i in ids if not (skip_special_tokens and i == 0))


def test_text_generation_handler_decodes_and_drops_prompt_and_padding():
    handler = get_metrics_handler_class("text_generation")(["rouge"], preprocessor={"tokenizer": WordTokenizer()})
    generated = torch.tensor([[1, 2, 4, 5, 0, -100]])  # "من به مدرسه رفتم" + pad token + gather padding
    assert handler.predictions_from_outputs({"generated_ids": generated}, {}) is generated
    labels = np.array([[-100, 1, 2, 3, 5, -100]])  # the prompt position is -100
    handler.add_batch(generated, labels)
    assert handler.compute() == pytest.approx({"rouge1": 3 / 4, "rouge2": 1 / 3, "rougeL": 3 / 4})


CHARS = {0: "<blank>", 1: "س", 2: "ل", 3: "ا", 4: "م", 5: " ", 6: "ي", 7: "ی", 8: "۲"}


def _frames_to_logits(frames, num_classes=9):
    return torch.nn.functional.one_hot(torch.tensor(frames), num_classes).float()


@pytest.mark.parametrize("task", ["image2text", "speech_recognition"])
def test_ctc_handler_collapses_maps_chars_and_normalizes(task):
    handler = get_metrics_handler_class(task)(None, model_config={"id2label": CHARS})
    # Frames spell "سلام سي" (Arabic yeh) with repeats and blanks; the reference spells "سلام سی" (Persian yeh).
    frames = [[1, 1, 0, 2, 3, 3, 4, 5, 1, 0, 6], [4, 0, 4, 3, 0, 0, 0, 0, 0, 0, 0]]
    logits = _frames_to_logits(frames)
    labels = torch.tensor([[1, 2, 3, 4, 5, 1, 7, -100], [4, 4, 3, 3, -100, -100, -100, -100]])
    time_major = handler.predictions_from_outputs({"logits": logits.transpose(0, 1)}, {"labels": labels})
    assert torch.equal(time_major, handler.predictions_from_outputs({"logits": logits}, {"labels": labels}))
    handler.add_batch(time_major, labels)
    # Row 1 matches once yeh is normalized. Row 2 decodes "مما" (the blank keeps "م" twice) against the 4-char
    # reference "مماا": 1 deletion over 7 + 4 reference chars; 1 of 3 words wrong.
    result = handler.compute()
    assert result["wer"] == pytest.approx(1 / 3)
    assert result["cer"] == pytest.approx(1 / 11)


def test_ctc_handler_without_normalization_counts_the_yeh_variant():
    handler = get_metrics_handler_class("image2text")(["cer"], model_config={"id2label": CHARS},
                                                      metric_kwargs={"cer": {"normalize": False}})
    handler.add_batch(np.array([[1, 6, -100]]), np.array([[1, 7, -100]]))
    assert handler.compute()["cer"] == pytest.approx(1 / 2)


def test_ctc_handler_reads_blank_id_from_the_model_config():
    chars = {0: "س", 1: "ل", 9: "<blank>"}
    handler = get_metrics_handler_class("image2text")(["cer"], model_config={"id2label": chars, "blank_id": 9})
    handler.add_batch(np.array([[0, 9, 0, 1, 1]]), np.array([[0, 0, 1, -100, -100]]))
    assert handler.compute()["cer"] == 0.0


def test_handler_base_is_exported():
    assert issubclass(get_metrics_handler_class("text_generation"), MetricsHandler)


# -- CTC collapse and normalizer ---------------------------------------------------------------------------------
def test_ctc_greedy_collapse():
    ids = torch.tensor([[1, 1, 0, 2, 2, 0, 2, -100, -100], [0, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert ctc_greedy_collapse(ids, blank_id=0) == [[1, 2, 2], []]
    assert ctc_greedy_collapse(ids.numpy(), blank_id=0) == [[1, 2, 2], []]
    assert ctc_greedy_collapse([[3, 3, 3], [3, 5, 5, 3]], blank_id=0) == [[3], [3, 5, 3]]
    assert ctc_greedy_collapse([[1, -1, 1]], blank_id=0, pad_id=-1) == [[1]]  # padding never separates repeats
    with pytest.raises(ValueError, match="batch, time"):
        ctc_greedy_collapse(torch.zeros(2, 3, 4, dtype=torch.long), blank_id=0)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("علي كتاب ى", "علی کتاب ی"),  # Arabic yeh, kaf, alef maksura
        ("می\u200cروم", "می روم"),  # ZWNJ -> space
        ("سال 1402 و ١٤٠٢ و ۱۴۰۲", "سال ۱۴۰۲ و ۱۴۰۲ و ۱۴۰۲"),  # digits unified to Persian
        ("کِتابـــ خوبٌ", "کتاب خوب"),  # harakat and tatweel removed
        ("  سلام \t\n  دنیا  ", "سلام دنیا"),
        ("", ""),
    ],
)
def test_normalize_persian(raw, expected):
    assert normalize_persian(raw) == expected


def _one_hot_logits(ids, vocab=7):
    return torch.nn.functional.one_hot(torch.tensor(ids), vocab).float()


def test_teacher_forced_text_generation_predictions_line_up_with_the_labels():
    # A decoder-only model that predicts every next token right: logits[t] scores token t + 1.
    handler = get_metrics_handler_class("text_generation")(["rouge"], preprocessor={"tokenizer": WordTokenizer()})
    token_ids = [[6, 1, 2, 4, 5, 0]]  # "سوال:" prompt, answer "من به مدرسه رفتم", pad
    labels = torch.tensor([[-100, 1, 2, 4, 5, -100]])
    next_tokens = [row[1:] + [0] for row in token_ids]
    predictions = handler.predictions_from_outputs({"logits": _one_hot_logits(next_tokens)}, {"labels": labels})
    assert predictions.tolist() == labels.tolist()
    handler.add_batch(predictions, labels)
    assert handler.compute() == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})


def test_teacher_forced_predictions_of_an_encoder_decoder_model_are_not_shifted():
    handler = get_metrics_handler_class("text_generation")(["rouge"], model_config={"is_encoder_decoder": True},
                                                           preprocessor={"tokenizer": WordTokenizer()})
    labels = torch.tensor([[1, 2, 4, -100]])
    predictions = handler.predictions_from_outputs({"logits": _one_hot_logits([[1, 2, 3, 5]])}, {"labels": labels})
    assert predictions.tolist() == [[1, 2, 3, -100]]
