"""Exact resume: a run killed with SIGKILL at any moment and resumed ends bitwise equal to an uninterrupted run."""

import os

import pytest

from hezar_accel.trainer.checkpoint import find_latest, list_checkpoints

from resume_helpers import assert_same_weights, csv_rows, run

pytestmark = pytest.mark.slow

BASE = {"num_epochs": 3, "save_steps": 3, "log_steps": 2}


@pytest.fixture(scope="module")
def baselines(tmp_path_factory, text_data):
    """Uninterrupted reference runs, one per configuration, computed once."""
    cache = {}

    def get(name, overrides):
        if name not in cache:
            out = str(tmp_path_factory.mktemp(f"reference_{name}"))
            run(out, text_data, overrides)
            cache[name] = out
        return cache[name]

    return get


def kill_and_resume(tmp_path, data, overrides, *kill_flags, processes=1):
    out = str(tmp_path / "interrupted")
    run(out, data, overrides, *kill_flags, processes=processes, expect_kill=True)
    run(out, data, {**overrides, "resume_from_checkpoint": True}, processes=processes)
    return out


@pytest.mark.parametrize("kill_at", [4, 13], ids=["mid_epoch_1", "mid_epoch_2"])
def test_a_run_killed_mid_epoch_resumes_to_bitwise_equal_weights_and_the_same_csv(tmp_path, text_data, baselines,
                                                                                  kill_at):
    reference = baselines("base", BASE)
    resumed = kill_and_resume(tmp_path, text_data, BASE, "--kill-at-step", kill_at)
    assert_same_weights(reference, resumed)
    assert csv_rows(resumed) == csv_rows(reference)


def test_gradient_accumulation_with_a_partial_group_resumes_exactly(tmp_path, text_data, baselines):
    overrides = {**BASE, "gradient_accumulation_steps": 3, "save_steps": 2, "log_steps": 1}
    reference = baselines("accumulation", overrides)
    resumed = kill_and_resume(tmp_path, text_data, overrides, "--kill-at-step", 5)
    assert_same_weights(reference, resumed)
    assert csv_rows(resumed) == csv_rows(reference)


def test_dataloader_workers_do_not_break_exact_resume(tmp_path, text_data, baselines):
    overrides = {**BASE, "num_dataloader_workers": 2}
    reference = baselines("base", BASE)
    resumed = kill_and_resume(tmp_path, text_data, overrides, "--kill-at-step", 7)
    assert_same_weights(reference, resumed)


@pytest.mark.parametrize("point", ["after_write", "before_rename", "after_rename"])
def test_a_crash_inside_a_save_leaves_a_loadable_checkpoint_and_resume_is_still_exact(tmp_path, text_data,
                                                                                      baselines, point):
    reference = baselines("base", BASE)
    out = str(tmp_path / "interrupted")
    run(out, text_data, BASE, "--kill-in-save", point, "--kill-save-step", 9, expect_kill=True)
    latest = find_latest(os.path.join(out, "checkpoints"))
    expected_latest = 9 if point == "after_rename" else 8  # 8 = the epoch-end checkpoint before the torn save
    assert int(os.path.basename(latest)) == expected_latest
    run(out, text_data, {**BASE, "resume_from_checkpoint": True})
    assert_same_weights(reference, out)
    assert csv_rows(out) == csv_rows(reference)
    assert not [n for n in os.listdir(os.path.join(out, "checkpoints")) if n.startswith(".")]


def test_resuming_with_a_changed_batch_size_is_refused_with_the_setting_named(tmp_path, text_data):
    out = str(tmp_path / "run")
    run(out, text_data, {"num_epochs": 2, "save_steps": 3}, "--kill-at-step", 4, expect_kill=True)
    from tiny import build_trainer
    from hezar_accel.errors import CheckpointError

    trainer = build_trainer(out, text_data, num_epochs=2, save_steps=3, batch_size=4, resume_from_checkpoint=True)
    with pytest.raises(CheckpointError) as e:
        trainer.train()
    assert "batch_size changed: checkpoint had 8, this run has 4" in str(e.value)
    assert len(list_checkpoints(os.path.join(out, "checkpoints"))) == 1  # nothing was written by the refused run
