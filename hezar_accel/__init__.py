"""hezar_accel: train Hezar-style models (Persian NLP, speech, OCR) with 🤗 Accelerate.

The public API, importable from the package itself::

    from hezar_accel import Trainer, TrainerConfig, Model, Dataset, Preprocessor

Names are resolved on first use (PEP 562), so ``import hezar_accel`` stays instant and importing one name does not pull
in torch or accelerate for the others.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Trainer": "hezar_accel.trainer",
    "TrainerConfig": "hezar_accel.trainer",
    "TrainerState": "hezar_accel.trainer",
    "Model": "hezar_accel.models",
    "Dataset": "hezar_accel.data",
    "Preprocessor": "hezar_accel.preprocessors",
    "load_metric": "hezar_accel.metrics",
    "AVAILABLE_METRICS": "hezar_accel.metrics",
    "list_available_models": "hezar_accel.utils",
    "list_available_preprocessors": "hezar_accel.utils",
    "list_available_datasets": "hezar_accel.utils",
    "list_available_metrics": "hezar_accel.utils",
    "HezarAccelError": "hezar_accel.errors",
    "ConfigError": "hezar_accel.errors",
    "DataError": "hezar_accel.errors",
    "CheckpointError": "hezar_accel.errors",
    "TrainingError": "hezar_accel.errors",
    "MissingDependencyError": "hezar_accel.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hezar_accel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
