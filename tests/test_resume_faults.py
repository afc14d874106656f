"""Resumes that used to go wrong quietly: a changed setting at the run's last step, a signal in the last update, a
forwarded Ctrl-C under a 2-process launch, a longer run resumed from a finished one, a compiled model."""

import os

import pytest
import torch

from hezar_accel.errors import CheckpointError
from hezar_accel.models import Model
from hezar_accel.trainer.checkpoint import find_latest
from hezar_accel.trainer.guards import EXIT_PREEMPTED

from resume_helpers import assert_same_weights, csv_rows, final_weights, run
from tiny import build_trainer


def test_a_changed_accumulation_is_refused_even_at_the_new_runs_last_step(tmp_path, text_data):
    output = str(tmp_path)
    build_trainer(output, text_data, num_epochs=1).train()  # 8 updates of 8 samples: ends at step 8
    # 2 epochs of 4 updates of 16 samples also end at step 8: the checkpoint sits exactly at the new run's end.
    changed = build_trainer(output, text_data, num_epochs=2, gradient_accumulation_steps=2)
    with pytest.raises(CheckpointError, match="gradient_accumulation_steps changed: checkpoint had 1, this run has 2"):
        changed.train(resume_from_checkpoint=True)


def test_a_checkpoint_past_the_runs_last_step_is_refused_with_the_fix(tmp_path, text_data):
    output = str(tmp_path)
    build_trainer(output, text_data, num_epochs=2).train()
    shorter = build_trainer(output, text_data, num_epochs=1)
    with pytest.raises(CheckpointError, match="at step 16, past this run's 8 total steps"):
        shorter.train(resume_from_checkpoint=True)


def test_extending_a_finished_run_refits_the_lr_schedule_and_really_trains(tmp_path, text_data, capsys):
    output = str(tmp_path)
    settings = dict(lr_scheduler="linear", warmup_steps=2)
    build_trainer(output, text_data, num_epochs=1, **settings).train()
    first = final_weights(output)
    longer = build_trainer(output, text_data, num_epochs=2, **settings)
    longer.train(resume_from_checkpoint=True)
    # Linear decay over 16 updates with 2 of warm-up, at update 8: (1 - 6/14) x the peak 1e-2 = 0.00571.
    banner = capsys.readouterr().out
    assert ("warm-up of 2 steps done; refitted to 16 steps (the checkpoint's run planned 8): the learning rate goes on "
            "at 0.00571 from step 8") in banner
    assert longer.state.global_step == 16
    second = final_weights(output)
    assert any(not torch.equal(first[k], second[k]) for k in first), "the added epoch did not change the weights"


def test_torch_compile_checkpoints_equal_uncompiled_ones_and_load_everywhere(tmp_path, text_data, monkeypatch):
    compile_ = torch.compile
    # The eager backend wraps the model exactly as inductor does (an OptimizedModule) without a C++ build.
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_(model, backend="eager"))
    trainer = build_trainer(str(tmp_path / "compiled"), text_data, num_epochs=2, torch_compile=True,
                            load_best_model_at_end=True, save_total_limit=1)
    trainer.train()
    latest = find_latest(trainer.config.checkpoints_path)
    keys = torch.load(os.path.join(latest, "model.pt"), weights_only=True).keys()
    assert not [k for k in keys if "_orig_mod" in k]
    assert Model.load(latest) is not None
    plain = build_trainer(str(tmp_path / "plain"), text_data, num_epochs=2)
    assert set(keys) == set(plain.unwrapped_model.state_dict())


BASE = {"num_epochs": 2, "save_steps": 5, "log_steps": 2}


@pytest.mark.slow
def test_a_sigterm_in_the_last_update_still_gets_its_final_evaluation_on_resume(tmp_path, text_data):
    reference = str(tmp_path / "reference")
    run(reference, text_data, BASE)
    out = str(tmp_path / "preempted")
    run(out, text_data, BASE, "--signal-at-step", 15, "--signal", "SIGTERM", expect_code=EXIT_PREEMPTED)
    run(out, text_data, {**BASE, "resume_from_checkpoint": True})
    assert csv_rows(out) == csv_rows(reference)  # the final epoch's evaluation row included
    assert_same_weights(reference, out)


@pytest.mark.distributed
@pytest.mark.slow
def test_ctrl_c_reaching_workers_and_launcher_saves_a_checkpoint_and_resumes_exactly(tmp_path, text_data):
    reference = str(tmp_path / "reference")
    run(reference, text_data, BASE, processes=2)  # 2 processes: 4 updates per epoch, 8 in all
    out = str(tmp_path / "interrupted")
    # As `pkill -INT -f train.py` does: rank 0 and the launcher both get SIGINT; the launcher forwards its copy.
    log = run(out, text_data, BASE, "--signal-at-step", 2, "--signal", "SIGINT", "--signal-launcher-too",
              processes=2, expect_code="nonzero")
    assert "Received SIGINT" in log and "second interrupt" not in log
    # Signalled during update 3; the processes agree on it one update later (no host sync inside an update).
    assert find_latest(os.path.join(out, "checkpoints")).endswith("00000004")
    run(out, text_data, {**BASE, "resume_from_checkpoint": True}, processes=2)
    assert_same_weights(reference, out)
    assert csv_rows(out) == csv_rows(reference)
