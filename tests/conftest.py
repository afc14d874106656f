import os

# Tests never touch the network (DESIGN promise 8); datasets/evaluate/hub read only local files and caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from tiny import make_text_data  # noqa: E402


@pytest.fixture(scope="session")
def text_data(tmp_path_factory):
    """A tiny 3-class Persian tweet dataset folder (64 train / 21 test rows)."""
    return make_text_data(str(tmp_path_factory.mktemp("text_data")))

