"""Metrics: local 🤗 evaluate modules (one folder per metric, loaded offline) and the per-task metric sets."""

from .handler import MetricsHandler
from .handlers import get_metrics_handler_class
from .loading import AVAILABLE_METRICS, load_metric
from .persian_normalizer import normalize_persian

__all__ = ["load_metric", "AVAILABLE_METRICS", "MetricsHandler", "get_metrics_handler_class", "normalize_persian"]
