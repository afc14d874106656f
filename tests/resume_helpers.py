"""Helpers for the kill-and-resume tests: run tests/scripts/tiny_run.py in real subprocesses and compare results."""

from __future__ import annotations

import csv
import glob
import json
import os
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
