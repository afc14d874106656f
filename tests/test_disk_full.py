"""A full disk during a checkpoint save is one clear error that names disk space and the last intact checkpoint,
on every writer a save goes through, and that checkpoint then resumes."""

import os
import subprocess

import pytest
import torch

from hezar_accel.errors import CheckpointError
from hezar_accel.models import Model
from hezar_accel.trainer import checkpoint as ckpt

from tiny import build_trainer

SETTINGS = dict(num_epochs=1, save_steps=2, log_steps=2)  # checkpoints at steps 2, 4, 6, 8


def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = "/tmp/hezar_accel_mount_probe"
    os.makedirs(probe, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], capture_output=True)
    if mounted.returncode != 0:
        return False
    subprocess.run(["umount", probe], check=True)
    return True


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of a chosen size (tmpfs): writes past it fail with ENOSPC, as on a full disk."""
    if not can_mount():
        pytest.skip("mounting a small tmpfs needs root with CAP_SYS_ADMIN; the simulated-writer tests still run")
    folder = tmp_path / "disk"
    folder.mkdir()

    def mount(size_kib: int, remount: bool = False) -> str:
        options = f"{'remount,' if remount else ''}size={size_kib}k"
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
        return str(folder)

    yield mount
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)  # lazy: a finished run may still hold a file


def assert_clear_error(error: CheckpointError, root: str, disk_named: bool = True) -> str:
    message = str(error)
    latest = ckpt.find_latest(root)
    assert latest is not None, "no intact checkpoint left"
    assert f"The last intact checkpoint is `{latest}`" in message and "resume_from_checkpoint: true" in message
    if disk_named:
        assert "the disk is full" in message
    assert not [n for n in os.listdir(root) if n.startswith(".")], "staged leftovers were not removed"
    return latest


# One size per writer that hits the full disk first (checkpoints of this tiny run take ~380 KiB on tmpfs).
@pytest.mark.parametrize("size_kib", [800, 880, 960, 1040, 1100])
def test_a_really_full_disk_is_one_clear_error_and_the_last_intact_checkpoint_resumes(small_disk, tmp_path,
                                                                                     text_data, size_kib):
    output = small_disk(size_kib)
    logs = str(tmp_path / "logs")  # only the checkpoints live on the small disk
    trainer = build_trainer(output, text_data, logs_dir=logs, **SETTINGS)
    with pytest.raises(CheckpointError) as error:
        trainer.train()
    latest = assert_clear_error(error.value, trainer.config.checkpoints_path)
    assert Model.load(latest) is not None
    small_disk(4096, remount=True)  # space freed: the run resumes from the checkpoint the error named
    resumed = build_trainer(output, text_data, logs_dir=logs, **SETTINGS)
    resumed.train(resume_from_checkpoint=True)
    assert resumed.resumed.checkpoint == latest and resumed.state.global_step == 8


class Full(OSError):
    def __init__(self):
        super().__init__(28, "No space left on device")


def fail_at_step(monkeypatch, trainer, target, attribute: str, error_factory, path_ends: str = "", step: int = 6):
    """Make ``target.attribute`` raise during the save of ``step`` (as a full disk does in that writer); with
    ``path_ends``, only for a destination path ending so."""
    original = getattr(target, attribute)

    def writer(*args, **kwargs):
        destination = str(args[1]) if len(args) > 1 else ""
        if trainer.state.global_step == step and destination.endswith(path_ends):
            raise error_factory()
        return original(*args, **kwargs)

    monkeypatch.setattr(target, attribute, writer)


def torch_stream_error():
    # What torch.save raises when a write comes up short: it names neither the disk nor the errno.
    return RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")


@pytest.mark.parametrize("writer", ["accelerate state", "model.pt", "tokenizer", "trainer state", "sealing"])
def test_a_failing_writer_is_one_clear_error_naming_the_last_intact_checkpoint(tmp_path, text_data, monkeypatch,
                                                                               writer):
    from hezar_accel.preprocessors.tokenizers.tokenizer import Tokenizer
    from hezar_accel.trainer import checkpointer, save_errors

    trainer = build_trainer(str(tmp_path), text_data, **SETTINGS)
    monkeypatch.setattr(save_errors, "free_bytes", lambda root: 0)  # as on the full disk these writers ran into
    targets = {
        "accelerate state": (torch, "save", torch_stream_error, "optimizer.bin"),
        "model.pt": (torch, "save", torch_stream_error, "model.pt"),
        "tokenizer": (Tokenizer, "save", Full, ""),
        "trainer state": (checkpointer, "dump_yaml", Full, ""),
        "sealing": (ckpt, "_fsync_tree", Full, ""),  # on the background thread that seals the folder
    }
    target, attribute, error, path_ends = targets[writer]
    fail_at_step(monkeypatch, trainer, target, attribute, error, path_ends)
    with pytest.raises(CheckpointError) as raised:
        trainer.train()
    latest = assert_clear_error(raised.value, trainer.config.checkpoints_path)
    assert latest.endswith("00000004") and "Saving the checkpoint of step 6 failed" in str(raised.value)
