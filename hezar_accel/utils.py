"""What can be built here, by name: the listings Hezar users know from ``hezar.utils``.

Same names and return shape as Hezar 1.0 (a sorted list of registry names). Each function imports the package that
registers its kind only when called, so ``import hezar_accel.utils`` stays free of torch.
"""

from __future__ import annotations

__all__ = ["list_available_models", "list_available_preprocessors", "list_available_datasets",
           "list_available_metrics"]


def list_available_models() -> list[str]:
    """Registry names of every model (``Model.load`` and recipes' ``model.name`` take them).

    Returns:
        Sorted names, e.g. ``["bert_mask_filling", "bert_sequence_labeling", ...]``.
    """
    from .registry import list_registered

    return list_registered("model")


def list_available_preprocessors() -> list[str]:
    """Registry names of every preprocessor (tokenizers, image processors, audio feature extractors).

    Returns:
        Sorted names, e.g. ``["wordpiece_tokenizer", ...]``.
    """
    from .registry import list_registered

    return list_registered("preprocessor")


def list_available_datasets() -> list[str]:
    """Registry names of every dataset class (a dataset config's ``name``).

    Returns:
        Sorted names, e.g. ``["text_classification", ...]``.
    """
    from .registry import list_registered

    return list_registered("dataset")


def list_available_metrics() -> list[str]:
    """Names of the metrics ``TrainerConfig.metrics`` and ``load_metric`` accept (the local evaluate modules).

    Returns:
        Sorted names, e.g. ``["accuracy", "bleu", "cer", ...]``.
    """
    from .metrics import AVAILABLE_METRICS

    return sorted(AVAILABLE_METRICS)
