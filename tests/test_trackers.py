"""``log_with``: a misspelled tracker or one whose package is missing is a config error before training, not silence."""

import importlib.util

import pytest

from hezar_accel.errors import ConfigError
from hezar_accel.trainer import TrainerConfig
from hezar_accel.trainer.trackers import TRACKER_PACKAGES, supported_trackers, tracker_problems

BASE = {"output_dir": "out", "task": "text_classification", "num_epochs": 1}


def hide(monkeypatch, *modules):
    """Make ``find_spec`` report ``modules`` as not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a))


def test_a_tracker_whose_package_is_missing_is_a_config_error_with_the_pip_command(monkeypatch):
    hide(monkeypatch, "wandb", "mlflow")
    with pytest.raises(ConfigError) as e:
        TrainerConfig(**BASE, log_with=["tensorboard", "wandb", "mlflow"], batch_size=0)
    message = str(e.value)
    assert "log_with: `wandb` needs the `wandb` package, which is not installed; install it with: pip install wandb" in message
    assert "pip install mlflow" in message and "batch_size: 0" in message  # all problems in one message
    assert "`tensorboard`" not in message


def test_a_misspelled_tracker_lists_accelerates_trackers():
    with pytest.raises(ConfigError) as e:
        TrainerConfig.from_dict({**BASE, "log_with": "wandbb"})
    message = str(e.value)
    assert "log_with: `wandbb` is not a tracker (did you mean `wandb`?)" in message
    assert all(f"'{name}'" in message for name in ("tensorboard", "wandb", "mlflow", "comet_ml", "aim"))


def test_every_tracker_accelerate_supports_has_its_package_in_the_table():
    assert set(supported_trackers()) - {"all"} == set(TRACKER_PACKAGES)


@pytest.mark.parametrize("name", sorted(TRACKER_PACKAGES))
def test_each_tracker_is_refused_when_its_package_is_hidden(monkeypatch, name):
    modules, package = TRACKER_PACKAGES[name]
    hide(monkeypatch, *modules)
    assert tracker_problems([name]) == [f"log_with: `{name}` needs the `{package}` package, which is not installed; "
                                        f"install it with: pip install {package}  (or remove `{name}` from log_with)"]


def test_no_tracker_and_all_trackers_need_no_package():
    assert tracker_problems(None) == [] and tracker_problems([]) == [] and tracker_problems("all") == []
    assert TrainerConfig(**BASE, log_with="tensorboard").log_with == "tensorboard"
