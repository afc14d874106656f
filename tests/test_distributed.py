"""Two real CPU processes (gloo): the same updates as one big batch, exact metrics, exact resume, no hangs."""

import json
import os
import subprocess
import sys

import pytest
import torch

from resume_helpers import SCRIPT, assert_same_weights, csv_rows, final_weights, run

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

# SGD keeps float-rounding differences linear (Adam normalises tiny gradients, amplifying last-bit differences).
NO_DROPOUT = {"dropout": 0.0, "num_epochs": 2, "log_steps": 2, "save_steps": 3, "optimizer": "sgd", "learning_rate": 0.5}


def assert_close_weights(a_output, b_output, atol=2e-6):
    a, b = final_weights(a_output), final_weights(b_output)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= atol, f"largest difference {worst}"


@pytest.fixture(scope="module")
def one_process_big_batch(tmp_path_factory, text_data):
    out = str(tmp_path_factory.mktemp("one_process_b8"))
    run(out, text_data, {**NO_DROPOUT, "batch_size": 8})
    return out


def test_two_processes_with_batch_4_update_like_one_process_with_batch_8(tmp_path, text_data, one_process_big_batch):
    out = str(tmp_path / "two")
    exported = str(tmp_path / "exported")
    stdout = run(out, text_data, {**NO_DROPOUT, "batch_size": 4}, "--save-to", exported, "--count-host-reads",
                 NO_DROPOUT["log_steps"], NO_DROPOUT["save_steps"], processes=2)
    assert "WORLD 2 DistributedType.MULTI_CPU" in stdout
    # Between events an update reads nothing from the device; the stop-signal poll reads a host-side (gloo) flag.
    per_process = [json.loads(line.split(" ", 1)[1]) for line in stdout.splitlines() if line.startswith("HOST_READS ")]
    assert len(per_process) == 2 and all({caller for caller, _ in reads} <= {"poll"} for reads in per_process), per_process
    assert_close_weights(one_process_big_batch, out)
    # Trainer.save after train() still works under 2 processes (train() leaves the process group up).
    saved, final = torch.load(os.path.join(exported, "model.pt"), weights_only=True), final_weights(out)
    assert all(torch.equal(saved[k], final[k]) for k in final)


def test_gradient_accumulation_of_two_batches_of_4_equals_one_batch_of_8(tmp_path, text_data, one_process_big_batch):
    out = str(tmp_path / "accumulated")
    run(out, text_data, {**NO_DROPOUT, "batch_size": 4, "gradient_accumulation_steps": 2})
    assert_close_weights(one_process_big_batch, out)


def evaluation(output, data, processes, eval_batch_size):
    run(output, data, {"eval_batch_size": eval_batch_size}, "--evaluate-only", processes=processes)
    with open(os.path.join(output, "eval.json")) as f:
        return json.load(f)


def test_two_process_evaluation_gives_exactly_the_one_process_metrics_on_an_uneven_eval_set(tmp_path, text_data):
    # 21 eval samples: neither 2 processes x 4 nor x 8 divides them, so the last batches are padded and deduplicated.
    single = evaluation(str(tmp_path / "one"), text_data, 1, 8)
    double = evaluation(str(tmp_path / "two"), text_data, 2, 4)
    assert {k: v for k, v in single.items() if k != "loss"} == {k: v for k, v in double.items() if k != "loss"}
    # The loss is a float32 mean per batch, and batches differ: equal up to float32 rounding, not bitwise.
    assert double["loss"] == pytest.approx(single["loss"], rel=1e-6)
    # Trainer.predict: every sample once, in dataset order, the same under 2 processes; its metrics are evaluate's.
    one, two = (read_lines(os.path.join(str(tmp_path / n), "predictions.jsonl")) for n in ("one", "two"))
    assert len(one) == 21 and one == two
    with open(os.path.join(str(tmp_path / "two"), "predict.json")) as f:
        predicted = json.load(f)
    assert {k: v for k, v in predicted.items() if k != "loss"} == {k: v for k, v in double.items() if k != "loss"}


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_kill_and_resume_under_two_processes_is_bitwise_equal_to_the_uninterrupted_run(tmp_path, text_data):
    overrides = {"num_epochs": 2, "save_steps": 2, "log_steps": 1, "batch_size": 4}
    reference = str(tmp_path / "reference")
    run(reference, text_data, overrides, processes=2)
    out = str(tmp_path / "interrupted")
    run(out, text_data, overrides, "--kill-at-step", 5, processes=2, expect_kill=True)
    run(out, text_data, {**overrides, "resume_from_checkpoint": True}, processes=2)
    assert_same_weights(reference, out)
    assert csv_rows(out) == csv_rows(reference)


def test_an_error_in_one_process_ends_the_whole_launch_with_that_error(tmp_path, text_data):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
               SCRIPT, str(tmp_path / "out"), text_data, json.dumps({"num_epochs": 2}),
               "--raise-at-step", "3", "--kill-rank", "1"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "injected failure on rank 1 at step 3" in result.stderr + result.stdout
