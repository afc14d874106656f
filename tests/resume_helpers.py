"""Helpers for the kill-and-resume tests: run tests/scripts/tiny_run.py in real subprocesses and compare results;
simulate a process killed while pruning checkpoints."""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys

import torch

from hezar_accel.models.model import read_state_dict
from hezar_accel.trainer.checkpoint import find_latest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "scripts", "tiny_run.py")
# Wall-clock columns legitimately differ between two runs; everything else must match exactly.
TIMING_COLUMNS = {"train.samples_per_second"}


def run(output, data, overrides: dict, *flags, processes: int = 1, expect_kill: bool = False,
        expect_code=None, launch_flags=None) -> str:
    """Run the tiny training; returns its stdout.

    Asserts success, or death by SIGKILL when ``expect_kill``, or exit status ``expect_code`` ("nonzero" = any failure).
    ``launch_flags`` (with ``processes`` > 1): the ``accelerate launch`` flags choosing the distributed mode instead of
    the default DDP on CPU (``--multi_gpu`` with ``ACCELERATE_USE_CPU=1``), e.g. FSDP2 flags.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    args = [SCRIPT, output, data, json.dumps(overrides), *map(str, flags)]
    if processes > 1:
        if launch_flags is None:
            env["ACCELERATE_USE_CPU"] = "1"
            launch_flags = ["--multi_gpu"]
        else:
            env.pop("ACCELERATE_USE_CPU", None)
        command = [sys.executable, "-m", "accelerate.commands.launch", *launch_flags, "--num_processes",
                   str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", "0", *args]
    else:
        command = [sys.executable, *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if expect_code is not None:
        if expect_code == "nonzero":
            assert result.returncode != 0 and "DONE" not in result.stdout, result.stderr[-3000:]
        else:
            assert result.returncode == expect_code, (result.returncode, result.stderr[-3000:])
        return result.stdout + result.stderr
    if expect_kill:
        assert result.returncode != 0, result.stdout[-2000:]
        if processes == 1:
            assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-3000:])
        assert "DONE" not in result.stdout
    else:
        assert result.returncode == 0, result.stderr[-5000:]
        assert "DONE" in result.stdout
        assert f"WORLD {processes} " in result.stdout, result.stdout[:500]
    return result.stdout


def final_weights(output) -> dict[str, torch.Tensor]:
    latest = find_latest(os.path.join(output, "checkpoints"))
    return read_state_dict(os.path.join(latest, "model.pt"))


def assert_same_weights(a_output, b_output):
    a, b = final_weights(a_output), final_weights(b_output)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ: {different[:5]}"


def csv_rows(output) -> list[dict]:
    (path,) = glob.glob(os.path.join(output, "logs", "*", "training_logs.csv"))
    with open(path, encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(f)]


def complete_looking_checkpoints(root: str, steps=(2, 4, 6)) -> None:
    """Checkpoint folders under ``root`` that look complete: ``model.pt``, a file listed after it, ``COMPLETE``."""
    from hezar_accel.trainer.checkpoint import checkpoint_name

    for step in steps:
        folder = os.path.join(root, checkpoint_name(step))
        os.makedirs(folder)
        for name in ("model.pt", "z_last_file", "COMPLETE"):
            open(os.path.join(folder, name), "w").close()


@contextlib.contextmanager
def killed_while_deleting():
    """``shutil.rmtree`` as in a process killed in the middle of a delete: a folder's ``model.pt`` goes, then
    KeyboardInterrupt. Deletes with ``ignore_errors`` (cleanups) run for real. The real function is back on exit."""
    real_rmtree = shutil.rmtree

    def killed_halfway(path, *args, **kwargs):
        if kwargs.get("ignore_errors"):
            return real_rmtree(path, *args, **kwargs)
        os.remove(os.path.join(path, "model.pt"))  # the first files go, then the process dies
        raise KeyboardInterrupt("killed during the delete")

    shutil.rmtree = killed_halfway
    try:
        yield
    finally:
        shutil.rmtree = real_rmtree
