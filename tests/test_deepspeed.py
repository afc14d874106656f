"""DeepSpeed ZeRO-3 with two real CPU processes (gloo): the same updates as one process, full Hezar weights, exact
kill-and-resume, and checkpoint weights that really reach the sharded model.

``accelerate launch --use_deepspeed`` on a machine without a GPU used to become plain DDP without a word (the Trainer
asked accelerate for ``cpu=True``, which drops DeepSpeed); every launch here asserts both processes report DEEPSPEED.
The DeepSpeed config is tests/fixtures/ds_zero3.json: its persistence threshold keeps the 1-D tensors (biases,
LayerNorms) whole on every process and partitions the matrices, so both kinds of ZeRO-3 parameter are exercised.
The first DeepSpeed start on a machine JIT-compiles a CPU communication op (~1 min; cached in $TORCH_EXTENSIONS_DIR).
"""

import os
import shutil

import pytest
import torch
import yaml

pytest.importorskip("deepspeed", reason="deepspeed not installed (pip install -e '.[deepspeed]')")

from hezar_accel.models.model import read_state_dict  # noqa: E402
from hezar_accel.trainer.checkpoint import find_latest, list_checkpoints  # noqa: E402
from resume_helpers import HERE, assert_same_weights, csv_rows, final_weights, run  # noqa: E402

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ZERO3_JSON = os.path.join(HERE, "fixtures", "ds_zero3.json")

# SGD without momentum and without dropout, as in test_distributed.py: no optimizer state and no RNG, so a 2-process
# run matches a 1-process run of the same global batch up to float rounding, and a weights-only resume from a
# checkpoint continues exactly as the uninterrupted run did. max_grad_norm (default 1.0) = the JSON's gradient_clipping.
SGD = {"dropout": 0.0, "num_epochs": 2, "log_steps": 2, "save_steps": 3, "optimizer": "sgd", "learning_rate": 0.5}
# "Greater loss is better" makes an early checkpoint the best one, so the best weights are not the last weights.
BEST_AT_END = {"load_best_model_at_end": True, "greater_is_better": True}
# AdamW (moments kept in DeepSpeed's fp32 partitions) and dropout (per-process RNG streams): what a resume restores.
KILL = {"num_epochs": 2, "save_steps": 2, "log_steps": 1, "batch_size": 4}


def run_zero3(output, data, overrides, *flags, **kwargs) -> str:
    stdout = run(output, data, overrides, *flags, processes=2,
                 launch_flags=["--use_deepspeed", "--deepspeed_config_file", ZERO3_JSON], **kwargs)
    # Each of the two processes reports itself: 2 real ZeRO-3 processes, not a silent DDP or 1-process fallback.
    assert stdout.count("WORLD 2 DistributedType.DEEPSPEED\n") == 2, stdout[:1000]
    assert stdout.count("DeepSpeed ZeRO-3 DeepSpeedEngine DeepSpeedZeroOptimizer_Stage3\n") == 2, stdout[:1000]
    return stdout


def weights(folder) -> dict[str, torch.Tensor]:
    return read_state_dict(os.path.join(folder, "model.pt"))


def equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def zero3_sgd(tmp_path_factory, text_data):
    """A ZeRO-3 run (2 processes x batch 4) that ends by loading its best checkpoint and saving the model."""
    root = tmp_path_factory.mktemp("zero3_sgd")
    out, best_final = str(root / "run"), str(root / "best_final")
    stdout = run_zero3(out, text_data, {**SGD, **BEST_AT_END, "batch_size": 4}, "--save-to", best_final)
    return out, best_final, stdout


def test_zero3_on_two_cpu_processes_updates_like_one_process_with_the_global_batch(tmp_path, text_data, zero3_sgd):
    out, _, _ = zero3_sgd
    one = str(tmp_path / "one_process_b8")
    assert "WORLD 1 DistributedType.NO" in run(one, text_data, {**SGD, "batch_size": 8})
    # Every checkpoint holds full (gathered) Hezar weights, not the processes' empty ZeRO-3 placeholders, beside
    # DeepSpeed's own per-process partitions.
    full_shapes = {k: v.shape for k, v in final_weights(one).items()}
    checkpoints = list_checkpoints(os.path.join(out, "checkpoints"))
    assert [os.path.basename(c) for c in checkpoints] == ["00000003", "00000006", "00000008", "00000009",
                                                          "00000012", "00000015", "00000016"]
    for checkpoint in checkpoints:
        assert {k: v.shape for k, v in weights(checkpoint).items()} == full_shapes, checkpoint
        assert sorted(os.listdir(os.path.join(checkpoint, "accelerate", "pytorch_model"))) == [
            f"zero_pp_rank_{rank}_mp_rank_00_{kind}_states.pt" for rank in (0, 1) for kind in ("model", "optim")]
    # Same updates as one process: the gradient is the same mean over the global batch (reduce-scattered instead of
    # summed in one process) and DeepSpeed clips at the Trainer's max_grad_norm. Observed: 1.5e-8 after 16 updates.
    a, b = final_weights(one), final_weights(out)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= 2e-6, f"largest difference {worst}"


def test_load_best_model_at_end_puts_the_best_checkpoints_weights_into_the_zero3_model(zero3_sgd):
    out, best_final, stdout = zero3_sgd
    assert "Loaded the best weights" in stdout
    with open(os.path.join(out, "checkpoints", "trainer_state.yaml"), encoding="utf-8") as f:
        best = yaml.safe_load(f)["best_checkpoint"]
    last = find_latest(os.path.join(out, "checkpoints"))
    assert best and best != os.path.basename(last)
    saved = weights(best_final)  # Trainer.save after train(): gathered from the ZeRO-3 partitions
    assert equal(saved, weights(os.path.join(out, "checkpoints", best)))
    assert not equal(saved, weights(last))


def test_a_weights_only_zero3_resume_trains_on_from_the_loaded_weights(tmp_path, text_data, zero3_sgd):
    # A checkpoint without accelerate/ (as pushed to the Hub): its model.pt goes into the partitioned parameters
    # and into DeepSpeed's fp32 master partitions. Plain SGD keeps no optimizer state, so training on from step 6
    # must reproduce the uninterrupted run; weights left in the module only would be overwritten by the first update.
    out, _, _ = zero3_sgd
    middle = os.path.join(out, "checkpoints", "00000006")
    hub_like = str(tmp_path / "hub_like")
    shutil.copytree(middle, os.path.join(hub_like, "checkpoints", "00000006"),
                    ignore=shutil.ignore_patterns("accelerate"))
    stdout = run_zero3(hub_like, text_data, {**SGD, "batch_size": 4, "resume_from_checkpoint": True})
    assert "has no accelerate/ folder" in stdout and "00000006 at epoch 1, step 6" in stdout
    assert_same_weights(out, hub_like)


def test_kill_and_resume_under_zero3_is_bitwise_equal_to_the_uninterrupted_zero3_run(tmp_path, text_data):
    reference, out = str(tmp_path / "reference"), str(tmp_path / "interrupted")
    run_zero3(reference, text_data, KILL)
    run_zero3(out, text_data, KILL, "--kill-at-step", 5, expect_kill=True)
    checkpoint = find_latest(os.path.join(out, "checkpoints"))
    assert os.path.basename(checkpoint) == "00000004"
    resumed = run_zero3(out, text_data, {**KILL, "resume_from_checkpoint": True})
    assert "00000004 at epoch 1, step 4" in resumed
    assert_same_weights(reference, out)
    assert csv_rows(out) == csv_rows(reference)
