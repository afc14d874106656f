"""FSDP2 with two real CPU processes (gloo): training, full Hezar weights in checkpoints, exact kill-and-resume.

accelerate never selects FSDP on a CPU; tiny_run's ``--force-fsdp-on-cpu`` applies the documented one-line patch
(shared/notes/distributed_cpu.md, section 2) so that ``accelerate launch --use_fsdp --fsdp_version 2`` really shards
the model over two gloo processes. FSDP1 is not tested: its state-dict paths segfault on CPU.
"""

import glob
import os
import shutil

import pytest
import torch

from hezar_accel.models import Model
from hezar_accel.models.model import read_state_dict
from hezar_accel.trainer.checkpoint import find_latest, is_complete, list_checkpoints
from resume_helpers import assert_same_weights, csv_rows, final_weights, run

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def fsdp2(state_dict_type: str) -> list[str]:
    """`accelerate launch` flags for FSDP2 on CPU (module-state sync and RAM-efficient loading need a GPU)."""
    return ["--use_fsdp", "--fsdp_version", "2", "--fsdp_state_dict_type", state_dict_type,
            "--fsdp_sync_module_states", "false", "--fsdp_cpu_ram_efficient_loading", "false"]


def run_fsdp2(output, data, overrides, *flags, state_dict_type="SHARDED_STATE_DICT", **kwargs) -> str:
    stdout = run(output, data, overrides, *flags, "--force-fsdp-on-cpu", processes=2,
                 launch_flags=fsdp2(state_dict_type), **kwargs)
    # Each of the two processes reports itself: 2 real FSDP2 processes, not a silent DDP or 1-process fallback.
    assert stdout.count("WORLD 2 DistributedType.FSDP\n") == 2, stdout[:1000]
    assert stdout.count(f"FSDP version 2 StateDictType.{state_dict_type} ") == 2, stdout[:1000]
    return stdout


# SGD, no dropout: as in test_distributed.py. Adam would turn last-bit rounding differences between the DDP all-reduce
# and the FSDP reduce-scatter into lr-sized steps wherever the true gradient is 0: the attention key bias (softmax is
# invariant to it) then differs by ~3e-3 after 16 AdamW updates, while every other tensor agrees to ~4e-7.
SGD_NO_DROPOUT = {"dropout": 0.0, "num_epochs": 2, "batch_size": 4, "log_steps": 2, "save_steps": 3,
                  "optimizer": "sgd", "learning_rate": 0.5}
# AdamW (an optimizer with state: FSDP2 FULL_STATE_DICT cannot reload a stateless one) and dropout on: the resumed
# run must also restore the optimizer moments and every process's RNG stream.
KILL = {"num_epochs": 2, "save_steps": 2, "log_steps": 1, "batch_size": 4}


def test_fsdp2_sharded_training_saves_full_hezar_weights_that_match_a_ddp_run_of_the_same_config(tmp_path, text_data):
    ddp, fsdp = str(tmp_path / "ddp"), str(tmp_path / "fsdp")
    assert "WORLD 2 DistributedType.MULTI_CPU" in run(ddp, text_data, SGD_NO_DROPOUT, processes=2)
    run_fsdp2(fsdp, text_data, SGD_NO_DROPOUT)

    checkpoints = list_checkpoints(os.path.join(fsdp, "checkpoints"))
    assert [os.path.basename(c) for c in checkpoints] == ["00000003", "00000006", "00000008", "00000009",
                                                          "00000012", "00000015", "00000016"]
    latest = find_latest(os.path.join(fsdp, "checkpoints"))
    model = Model.load(latest)  # a plain Hezar model folder: loads without any FSDP/accelerate
    full_shapes = {k: v.shape for k, v in type(model)(model.config).state_dict().items()}  # the 1-process model
    for checkpoint in checkpoints:
        assert is_complete(checkpoint)
        weights = read_state_dict(os.path.join(checkpoint, "model.pt"))
        assert {k: v.shape for k, v in weights.items()} == full_shapes, checkpoint
        assert all(type(v) is torch.Tensor for v in weights.values())  # full tensors, not DTensor shards
        # accelerate's own FSDP state: one sharded file per process for the model and for the optimizer.
        for name in ("pytorch_model_fsdp_0", "optimizer_0"):
            assert len(glob.glob(os.path.join(checkpoint, "accelerate", name, "*.distcp"))) == 2
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in read_state_dict(os.path.join(latest, "model.pt")).items())

    # Same updates as DDP: the gradients are the same mean over the global batch, reduced in another order (observed
    # largest difference after 16 updates: 1.2e-7).
    a, b = final_weights(ddp), final_weights(fsdp)
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst <= 2e-6, f"largest difference {worst}"


@pytest.fixture(scope="module")
def uninterrupted_fsdp2(tmp_path_factory, text_data):
    out = str(tmp_path_factory.mktemp("fsdp2_reference"))
    run_fsdp2(out, text_data, KILL)
    return out


@pytest.mark.parametrize("state_dict_type", ["SHARDED_STATE_DICT", "FULL_STATE_DICT"])
def test_kill_and_resume_under_fsdp2_is_bitwise_equal_to_the_uninterrupted_fsdp2_run(tmp_path, text_data,
                                                                                    uninterrupted_fsdp2,
                                                                                    state_dict_type):
    # The reference is the SHARDED run for both: the state-dict type only changes how checkpoints are stored.
    out = str(tmp_path / "interrupted")
    killed = run_fsdp2(out, text_data, KILL, "--kill-at-step", 5, state_dict_type=state_dict_type, expect_kill=True)
    assert "DONE" not in killed
    checkpoint = find_latest(os.path.join(out, "checkpoints"))
    assert os.path.basename(checkpoint) == "00000004"
    saved = os.listdir(os.path.join(checkpoint, "accelerate"))
    assert ("pytorch_model_fsdp_0" in saved) == (state_dict_type == "SHARDED_STATE_DICT")
    assert ("pytorch_model_fsdp.bin" in saved) == (state_dict_type == "FULL_STATE_DICT")
    resumed = run_fsdp2(out, text_data, {**KILL, "resume_from_checkpoint": True}, state_dict_type=state_dict_type)
    assert "00000004 at epoch 1, step 4" in resumed
    assert_same_weights(uninterrupted_fsdp2, out)
    assert csv_rows(out) == csv_rows(uninterrupted_fsdp2)


def test_load_best_model_at_end_and_a_weights_only_resume_put_checkpoint_weights_into_the_fsdp2_model(tmp_path,
                                                                                                       text_data):
    # Both read a checkpoint's full model.pt into the sharded model (plain load_state_dict cannot copy a full tensor
    # into a DTensor shard). --save-to saves the model after train() returns (a collective: the process group outlives train()).
    overrides = {"num_epochs": 2, "batch_size": 4}
    out, best_final = str(tmp_path / "run"), str(tmp_path / "best_final")
    # "Greater loss is better" makes the first epoch's checkpoint the best one, so the best is not the last weights.
    stdout = run_fsdp2(out, text_data, {**overrides, "load_best_model_at_end": True, "greater_is_better": True},
                       "--save-to", best_final)
    assert "Loaded the best weights" in stdout
    first, last = list_checkpoints(os.path.join(out, "checkpoints"))
    assert os.path.basename(first) == "00000008"
    best = read_state_dict(os.path.join(best_final, "model.pt"))
    assert all(torch.equal(best[k], v) for k, v in read_state_dict(os.path.join(first, "model.pt")).items())
    assert not all(torch.equal(best[k], v) for k, v in read_state_dict(os.path.join(last, "model.pt")).items())

    # A checkpoint without accelerate/ (as pushed to the Hub) resumes from its weights only; at its last step nothing
    # is left to train, so the model must end holding exactly those weights.
    hub_like, resumed_final = str(tmp_path / "hub_like"), str(tmp_path / "resumed_final")
    shutil.copytree(last, os.path.join(hub_like, "checkpoints", os.path.basename(last)),
                    ignore=shutil.ignore_patterns("accelerate"))
    stdout = run_fsdp2(hub_like, text_data, {**overrides, "resume_from_checkpoint": True}, "--save-to", resumed_final)
    assert "has no accelerate/ folder" in stdout
    resumed = read_state_dict(os.path.join(resumed_final, "model.pt"))
    assert all(torch.equal(resumed[k], v) for k, v in read_state_dict(os.path.join(last, "model.pt")).items())


def test_an_fsdp_launch_that_accelerate_cannot_honour_on_a_cpu_stops_instead_of_training_as_ddp(tmp_path, text_data):
    # Without the patch accelerate turns `--use_fsdp` on a CPU into plain DDP (MULTI_CPU) without a word; the Trainer
    # compares it with the launcher's request (ACCELERATE_USE_FSDP) and refuses before any training.
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: accelerate would honour FSDP here")
    out = str(tmp_path / "run")
    output = run(out, text_data, {"num_epochs": 1, "batch_size": 4}, processes=2,
                 launch_flags=fsdp2("SHARDED_STATE_DICT"), expect_code="nonzero")
    assert "the launch asked for FSDP (ACCELERATE_USE_FSDP=true) but accelerate set up MULTI_CPU" in output
    assert "accelerate_configs/cpu.yaml" in output
    assert not os.path.exists(os.path.join(out, "checkpoints"))
