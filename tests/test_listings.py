"""``hezar_accel.list_available_*``: Hezar's listings of what can be built by name, backed by the registries."""

import subprocess
import sys

import hezar_accel
from hezar_accel.metrics import AVAILABLE_METRICS
from hezar_accel.registry import get_entry


def test_each_listing_names_what_the_registry_builds():
    models = hezar_accel.list_available_models()
    assert "bert_text_classification" in models and "whisper_speech_recognition" in models
    assert models == sorted(models) and all(get_entry("model", name) for name in models)
    preprocessors = hezar_accel.list_available_preprocessors()
    assert "wordpiece_tokenizer" in preprocessors
    assert all(get_entry("preprocessor", name) for name in preprocessors)
    datasets = hezar_accel.list_available_datasets()
    assert "text_classification" in datasets and all(get_entry("dataset", name) for name in datasets)


def test_the_metric_listing_is_every_metric_load_metric_accepts():
    assert hezar_accel.list_available_metrics() == sorted(AVAILABLE_METRICS)
    from hezar_accel.utils import list_available_metrics

    assert list_available_metrics is hezar_accel.list_available_metrics


def test_importing_the_listings_imports_nothing_heavy():
    code = ("import sys; from hezar_accel.utils import list_available_models; "
            "assert 'torch' not in sys.modules and 'hezar_accel.models' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
