"""A checkpoint is trusted only when every file a resume reads is present, readable and free of code.

Each test damages one file of a real checkpoint the way an attacker, a full disk or a careless copy would, and checks
that the resume names that file (or, with ``resume_from_checkpoint: true``, falls back to an older checkpoint that
loads) instead of running code, crashing with a raw library error, or resuming silently inexact.
"""

import os
import shutil

import pytest
import torch

from hezar_accel.errors import CheckpointError
from hezar_accel.trainer import checkpoint as ckpt

from resume_helpers import complete_looking_checkpoints, killed_while_deleting
from tiny import build_trainer

SETTINGS = dict(num_epochs=1, save_steps=2, log_steps=2)  # checkpoints at steps 2, 4, 6, 8


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, text_data):
    """A finished tiny run with four checkpoints; tests work on copies of it."""
    output = str(tmp_path_factory.mktemp("finished"))
    build_trainer(output, text_data, **SETTINGS).train()
    return output


@pytest.fixture
def run_copy(finished_run, tmp_path):
    output = str(tmp_path / "run")
    shutil.copytree(finished_run, output)
    return output


def checkpoint(output: str, step: int) -> str:
    return os.path.join(output, "checkpoints", ckpt.checkpoint_name(step))


def resumed_trainer(output: str, text_data: str, resume, **overrides):
    trainer = build_trainer(output, text_data, **{**SETTINGS, "num_epochs": 2, **overrides})
    trainer.resume(resume)
    return trainer


class RunsCode:
    """Unpickling this runs a shell command that leaves a marker file behind."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ["custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin"])
def test_a_checkpoint_file_that_would_run_code_is_refused_and_never_unpickled(run_copy, text_data, tmp_path, name):
    marker = str(tmp_path / "pwned")
    folder = checkpoint(run_copy, 8)
    torch.save({"state": RunsCode(marker)}, os.path.join(folder, "accelerate", name))
    with pytest.raises(CheckpointError, match=f"{name}` would run code"):
        resumed_trainer(run_copy, text_data, folder)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("damage", ["deleted", "garbled", "incomplete"])
def test_a_damaged_rng_file_is_refused_by_name_instead_of_resuming_silently_inexact(run_copy, text_data, damage):
    folder = checkpoint(run_copy, 8)
    rng = os.path.join(folder, "accelerate", "random_states_0.pkl")
    if damage == "deleted":
        os.remove(rng)
    elif damage == "garbled":
        with open(rng, "r+b") as f:
            f.seek(40)
            f.write(os.urandom(64))
    else:  # a well-formed file without the torch RNG state accelerate restores
        torch.save({"random_state": None, "numpy_random_seed": None}, rng)
    with pytest.raises(CheckpointError, match="random_states_0.pkl") as error:
        resumed_trainer(run_copy, text_data, folder)
    assert "resume_without_rng_state: true" in str(error.value)


def test_resume_without_rng_state_resumes_with_a_loud_warning(run_copy, text_data, capsys):
    folder = checkpoint(run_copy, 8)
    os.remove(os.path.join(folder, "accelerate", "random_states_0.pkl"))
    trainer = resumed_trainer(run_copy, text_data, folder, resume_without_rng_state=True)
    assert trainer.state.global_step == 8
    assert "WARNING: resuming WITHOUT exact random states" in capsys.readouterr().out


def truncate(path: str) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def empty(path: str) -> None:
    open(path, "wb").close()


def garble_yaml(path: str) -> None:
    with open(path, "wb") as f:
        f.write(b"global_step: [8\n\xff\xfe epoch: {")


DAMAGES = {
    "truncated model.pt": ("model.pt", truncate),
    "empty model.pt": ("model.pt", empty),
    "garbled trainer_state.yaml": ("train/trainer_state.yaml", garble_yaml),
    "missing optimizer.bin": ("accelerate/optimizer.bin", os.remove),
    "truncated optimizer.bin": ("accelerate/optimizer.bin", truncate),
    "empty scheduler.bin": ("accelerate/scheduler.bin", empty),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_checkpoint_is_named_in_a_checkpoint_error(run_copy, text_data, damage):
    relative, spoil = DAMAGES[damage]
    folder = checkpoint(run_copy, 8)
    spoil(os.path.join(folder, relative))
    with pytest.raises(CheckpointError) as error:
        resumed_trainer(run_copy, text_data, folder)
    assert os.path.join(folder, relative) in str(error.value)


@pytest.mark.parametrize("damage", DAMAGES)
def test_resume_true_falls_back_to_the_newest_checkpoint_that_loads(run_copy, text_data, damage, capsys):
    relative, spoil = DAMAGES[damage]
    spoil(os.path.join(checkpoint(run_copy, 8), relative))
    trainer = resumed_trainer(run_copy, text_data, True)
    assert trainer.state.global_step == 6
    out = capsys.readouterr().out
    assert "00000008` cannot be resumed" in out and "the newest checkpoint that loads (skipped: 00000008)" in out
    reference = torch.load(os.path.join(checkpoint(run_copy, 6), "model.pt"), weights_only=True)
    assert all(torch.equal(v, reference[k]) for k, v in trainer.unwrapped_model.state_dict().items())


def test_resume_true_with_no_loadable_checkpoint_lists_every_bad_file(run_copy, text_data):
    for step in (2, 4, 6, 8):
        empty(os.path.join(checkpoint(run_copy, step), "model.pt"))
    with pytest.raises(CheckpointError) as error:
        resumed_trainer(run_copy, text_data, True)
    assert all(os.path.join(checkpoint(run_copy, s), "model.pt") in str(error.value) for s in (2, 4, 6, 8))


def test_a_checkpoint_of_an_older_version_with_a_pickled_trainer_state_still_resumes(run_copy, text_data):
    folder = checkpoint(run_copy, 6)
    state = ckpt.read_state(folder).to_dict()
    torch.save(state, os.path.join(folder, "accelerate", "custom_checkpoint_0.pkl"))  # what older versions wrote
    trainer = build_trainer(run_copy, text_data, **{**SETTINGS, "num_epochs": 2})
    trainer.train(resume_from_checkpoint=folder)
    assert trainer.resumed.step == 6 and trainer.state.global_step == 16
    newest = os.path.join(ckpt.find_latest(trainer.config.checkpoints_path), "accelerate")
    assert "custom_checkpoint_0.pkl" not in os.listdir(newest)


def test_a_crash_in_the_middle_of_pruning_never_leaves_a_listed_checkpoint_with_missing_files(tmp_path):
    root = str(tmp_path)
    complete_looking_checkpoints(root)
    with killed_while_deleting():
        with pytest.raises(KeyboardInterrupt):
            ckpt.prune(root, keep_last=1)
        for folder in ckpt.list_checkpoints(root):
            assert os.path.isfile(os.path.join(folder, "model.pt")), f"{folder} is listed but torn"
    ckpt.clean_stale(root)
    assert sorted(os.listdir(root)) == ["00000004", "00000006"]
