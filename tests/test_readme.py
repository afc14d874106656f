"""README.md works as written: every ```bash and ```python block runs, in order, on the bundled data.

The blocks run in a scratch copy of the repository (its configs, scripts, data and launch configs; the package is the
installed one), one after the other, so later blocks see what earlier ones wrote, as a reader following the README
would. Two kinds of lines are left out, and only those: the `make` set-up lines (`make test` is what runs this very
test) and lines marked `# on a GPU machine`. The error message the README shows for a bad config is checked against
the real one.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from hezar_accel.errors import ConfigError
from hezar_accel.trainer import TrainerConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
COPIED = ("configs", "scripts", "data", "accelerate_configs")
SKIPPED_MARK = "# on a GPU machine"

pytestmark = pytest.mark.slow


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block, in order (the language is empty when the fence names none)."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)]


def runnable_bash(code: str) -> str:
    lines = [line for line in code.replace("\\\n", " ").splitlines()
             if line.strip() and not line.lstrip().startswith("make ") and SKIPPED_MARK not in line]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A copy of what the README's commands read, with the running interpreter's venv as `.venv`."""
    root = tmp_path_factory.mktemp("readme")
    for name in COPIED:
        shutil.copytree(os.path.join(REPO, name), root / name)
    os.symlink(os.path.dirname(os.path.dirname(sys.executable)), root / ".venv")
    return root


def test_the_readme_blocks_are_the_kinds_this_test_runs():
    with open(README, encoding="utf-8") as f:
        languages = {language for language, _ in fenced_blocks(f.read())}
    assert languages <= {"bash", "python", ""}, languages


def test_every_readme_command_and_snippet_runs_as_written(scratch):
    with open(README, encoding="utf-8") as f:
        blocks = [(language, code) for language, code in fenced_blocks(f.read()) if language in ("bash", "python")]
    assert len(blocks) >= 6
    env = {k: v for k, v in os.environ.items() if k not in ("ACCELERATE_USE_CPU", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    session = []  # the reader's shell keeps what `source` lines set up (the venv) for the blocks after them
    for number, (language, code) in enumerate(blocks, start=1):
        if language == "bash":
            lines = runnable_bash(code)
            if not lines:
                continue
            command = ["bash", "-c", "\n".join(["set -euo pipefail", *session, lines])]
            session += [line for line in lines.splitlines() if line.startswith("source ")]
        else:
            command = [os.path.join(scratch, ".venv", "bin", "python"), "-c", code]
        result = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"README block {number} ({language}) failed:\n{code}\n{result.stderr[-4000:]}"


def test_the_config_error_shown_in_the_readme_is_the_real_one():
    with open(README, encoding="utf-8") as f:
        shown = next(code for language, code in fenced_blocks(f.read())
                     if language == "" and code.startswith("hezar_accel.errors.ConfigError"))
    with pytest.raises(ConfigError) as error:
        TrainerConfig(output_dir="out", task="text_classification", num_epochs=1, optimizer="adamm", learning_rate=-1.0)
    assert shown.strip() == f"hezar_accel.errors.ConfigError: {error.value}".strip()
