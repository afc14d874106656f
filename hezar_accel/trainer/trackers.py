"""What ``log_with`` may name: accelerate's own trackers, each checked for its package before training starts.

Accelerate drops a tracker whose package is missing with a log line that is easy to miss (the run then logs nothing
there), and answers a misspelled name with a traceback from inside ``Accelerator``. Both are config problems, found
here with ``find_spec`` only: nothing is imported.
"""

from __future__ import annotations

import importlib.util

# accelerate tracker name -> (modules any of which makes it available, as accelerate checks them; pip package)
TRACKER_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "wandb": (("wandb",), "wandb"),
    "trackio": (("trackio",), "trackio"),
    "comet_ml": (("comet_ml",), "comet-ml"),
    "mlflow": (("mlflow",), "mlflow"),
    "aim": (("aim",), "aim"),
    "clearml": (("clearml",), "clearml"),
    "dvclive": (("dvclive",), "dvclive"),
    "swanlab": (("swanlab",), "swanlab"),
}


def supported_trackers() -> list[str]:
    """Every name accelerate's ``log_with`` takes (``accelerate.utils.LoggerType``; ``all`` = every installed one)."""
    from accelerate.utils import LoggerType

    return [t.value for t in LoggerType]


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module whose __spec__ is None
        return False


def tracker_problems(log_with) -> list[str]:
    """A problem line for each ``log_with`` entry that is not a tracker name, or whose package is not installed.

    Args:
        log_with: the config's value (None, one name, or a list of names).

    Returns:
        ``log_with: ...`` lines naming the bad entry and the fix (valid names, or the pip command); empty when fine.
    """
    from ..errors import closest

    if log_with is not None and not isinstance(log_with, (str, list, tuple)):
        return []  # the type check names it
    names = [log_with] if isinstance(log_with, str) else list(log_with or [])
    valid = supported_trackers()
    problems = []
    for name in names:
        if not isinstance(name, str) or name not in valid:
            problems.append(f"log_with: `{name}` is not a tracker{closest(name, valid)}; valid: {valid} "
                            "(null or [] = the CSV log only)")
            continue
        modules, package = TRACKER_PACKAGES.get(name, ((), ""))
        if modules and not any(_found(m) for m in modules):
            problems.append(f"log_with: `{name}` needs the `{package}` package, which is not installed; install it "
                            f"with: pip install {package}  (or remove `{name}` from log_with)")
    return problems
