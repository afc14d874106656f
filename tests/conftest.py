import os

# Tests never touch the network (DESIGN promise 8); datasets/evaluate/hub read only local files and caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

from tiny import make_text_data  # noqa: E402


@pytest.fixture(scope="session")
def text_data(tmp_path_factory):
    """A tiny 3-class Persian tweet dataset folder (64 train / 21 test rows)."""
    return make_text_data(str(tmp_path_factory.mktemp("text_data")))



@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test: tiny tensors run faster than on several competing threads, and results stay
    reproducible. Use it file-wide with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
