"""Checkpoint folders: completion marker, find-latest, pruning that keeps the best, resume-path errors, best model."""

import os

import pytest
import torch
import yaml

from hezar_accel.data.samplers import EpochShuffleSampler, LengthGroupedSampler
from hezar_accel.errors import CheckpointError
from hezar_accel.trainer import checkpoint as ckpt

from tiny import build_trainer


def fake_checkpoint(root, step, complete=True):
    folder = os.path.join(root, ckpt.checkpoint_name(step))
    os.makedirs(folder)
    if complete:
        open(os.path.join(folder, "COMPLETE"), "w").close()
    return folder


def test_find_latest_ignores_folders_without_the_completion_marker(tmp_path):
    root = str(tmp_path)
    fake_checkpoint(root, 5)
    fake_checkpoint(root, 10)
    fake_checkpoint(root, 15, complete=False)
    os.makedirs(os.path.join(root, ".staging-00000020"))
    assert ckpt.find_latest(root).endswith("00000010")


def stage(root, step, text):
    folder = ckpt.staging_folder(root, step)
    os.makedirs(folder)
    with open(os.path.join(folder, "x.txt"), "w") as f:
        f.write(text)


def test_a_failure_before_the_rename_leaves_the_previous_checkpoint_as_latest(tmp_path, monkeypatch):
    root = str(tmp_path)
    fake_checkpoint(root, 5)
    stage(root, 10, "half-written")
    assert ckpt.find_latest(root).endswith("00000005")  # a staged folder is never "latest"

    def disk_error(root, step):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ckpt, "publish", disk_error)  # sealed, then the rename fails
    with pytest.raises(OSError):
        ckpt.finalize_checkpoint(root, 10)
    assert ckpt.find_latest(root).endswith("00000005")
    ckpt.clean_stale(root)
    assert sorted(os.listdir(root)) == ["00000005"]


def test_saving_the_same_step_again_replaces_it_atomically(tmp_path):
    root = str(tmp_path)
    stage(root, 7, "first")
    ckpt.finalize_checkpoint(root, 7)
    stage(root, 7, "second")
    final = ckpt.finalize_checkpoint(root, 7)
    assert open(os.path.join(final, "x.txt")).read() == "second" and sorted(os.listdir(root)) == ["00000007"]


def test_pruning_keeps_the_newest_n_and_never_the_best(tmp_path):
    root = str(tmp_path)
    for step in (10, 20, 30, 40, 50):
        fake_checkpoint(root, step)
    deleted = ckpt.prune(root, keep_last=2, protect=("00000020",))
    assert sorted(os.path.basename(d) for d in deleted) == ["00000010", "00000030"]
    assert sorted(os.listdir(root)) == ["00000020", "00000040", "00000050"]
    assert ckpt.prune(root, keep_last=None) == []


def test_resume_paths_are_checked_with_clear_messages(tmp_path):
    root = str(tmp_path / "checkpoints")
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        ckpt.resolve_resume_path(True, root)
    os.makedirs(root)
    torn = fake_checkpoint(root, 3, complete=False)
    with pytest.raises(CheckpointError, match="interrupted"):
        ckpt.resolve_resume_path(torn, root)
    good = fake_checkpoint(root, 2)
    assert ckpt.resolve_resume_path(root, root) == good  # a checkpoints root resolves to its latest


def test_the_data_order_is_a_pure_function_of_seed_and_epoch_and_changes_each_epoch():
    sampler = EpochShuffleSampler(50, seed=7)
    epoch_0, epoch_1 = sampler.order(0), sampler.order(1)
    assert epoch_0 != epoch_1 and sorted(epoch_0) == list(range(50))
    assert EpochShuffleSampler(50, seed=7).order(1) == epoch_1
    sampler.set_epoch(1)
    assert list(sampler) == epoch_1
    assert EpochShuffleSampler(5, shuffle=False).order(3) == [0, 1, 2, 3, 4]


def test_length_grouped_batches_hold_similar_lengths():
    lengths = [i % 17 for i in range(200)]
    order = LengthGroupedSampler(lengths, batch_size=10, seed=1, window_batches=5).order(0)
    assert sorted(order) == list(range(200))
    first_window = [lengths[i] for i in order[:50]]
    assert first_window == sorted(first_window, reverse=True)


def test_length_grouped_order_is_the_stable_descending_sort_of_each_shuffled_window():
    # The order is what checkpoints hash and resumes compare: it must stay this exact function of (seed, epoch).
    lengths = torch.randint(1, 6, (233,), generator=torch.Generator().manual_seed(0)).tolist()  # many ties
    sampler = LengthGroupedSampler(lengths, batch_size=8, seed=3, window_batches=4)
    for epoch in (0, 5):
        shuffled = EpochShuffleSampler(233, seed=3).order(epoch)
        expected = [i for start in range(0, 233, 32)
                    for i in sorted(shuffled[start:start + 32], key=lambda i: -lengths[i])]
        assert sampler.order(epoch) == expected


def test_save_total_limit_keeps_the_best_and_load_best_model_at_end_restores_it(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=4, save_total_limit=1, load_best_model_at_end=True,
                            metric_for_best_model="loss")
    trainer.train()
    state = trainer.state
    root = trainer.config.checkpoints_path
    kept = sorted(os.listdir(root))
    newest = ckpt.checkpoint_name(trainer.plan.total_steps)
    assert newest in kept and state.best_checkpoint in kept
    assert len([k for k in kept if k.isdigit()]) == len({newest, state.best_checkpoint})
    best_weights = torch.load(os.path.join(root, state.best_checkpoint, "model.pt"), weights_only=True)
    current = trainer.unwrapped_model.state_dict()
    assert all(torch.equal(best_weights[k], current[k]) for k in best_weights)
    with open(os.path.join(root, "trainer_state.yaml")) as f:
        assert yaml.safe_load(f)["best_checkpoint"] == state.best_checkpoint


def test_save_enabled_false_writes_no_checkpoint(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=1, save_enabled=False)
    trainer.train()
    assert not os.path.exists(trainer.config.checkpoints_path) or not ckpt.list_checkpoints(trainer.config.checkpoints_path)


def test_a_fresh_run_refuses_to_start_over_an_earlier_runs_checkpoints_unless_told_to(tmp_path, text_data):
    build_trainer(str(tmp_path), text_data, num_epochs=1).train()
    with pytest.raises(CheckpointError, match="overwrite_output_dir"):
        build_trainer(str(tmp_path), text_data, num_epochs=1).train()
    trainer = build_trainer(str(tmp_path), text_data, max_steps=3, log_steps=1, overwrite_output_dir=True)
    trainer.train()
    assert [os.path.basename(c) for c in ckpt.list_checkpoints(trainer.config.checkpoints_path)] == ["00000003"]


def test_the_finalizer_runs_saves_in_order_and_reraises_a_failure_once():
    finalizer, done = ckpt.CheckpointFinalizer(), []
    finalizer.submit(lambda: done.append(1))
    finalizer.submit(lambda: done.append(2))  # joins the first before starting
    finalizer.wait()
    assert done == [1, 2]

    def fail():
        raise OSError(5, "Input/output error")

    finalizer.submit(fail)
    with pytest.raises(OSError, match="Input/output error"):
        finalizer.wait()
    finalizer.wait()  # reported once, not again


def test_a_checkpoint_stores_the_weights_once_and_resumes_from_the_model_folder(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path / "run"), text_data, max_steps=4, log_steps=2, save_steps=2)
    trainer.train()
    latest = ckpt.find_latest(trainer.config.checkpoints_path)
    # No pickled trainer state either: it lives in train/trainer_state.yaml only.
    assert sorted(os.listdir(os.path.join(latest, "accelerate"))) == [
        "optimizer.bin", "random_states_0.pkl", "scheduler.bin"]
    resumed = build_trainer(str(tmp_path / "other"), text_data, max_steps=4, log_steps=2, save_steps=2)
    resumed.resume(latest)
    expected, got = trainer.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_a_checkpoint_whose_accelerate_folder_holds_weights_loads_those(tmp_path, text_data):
    """Checkpoints written before the weights were stored once keep resuming through accelerate's own loader."""
    from safetensors.torch import save_file

    trainer = build_trainer(str(tmp_path / "run"), text_data, max_steps=2, log_steps=1)
    trainer.train()
    latest = ckpt.find_latest(trainer.config.checkpoints_path)
    older = {k: torch.full_like(v, 0.5) for k, v in trainer.unwrapped_model.state_dict().items()}
    save_file(older, os.path.join(latest, "accelerate", "model.safetensors"))
    resumed = build_trainer(str(tmp_path / "other"), text_data, max_steps=2, log_steps=1)
    resumed.resume(latest)
    assert all(torch.equal(v, older[k]) for k, v in resumed.unwrapped_model.state_dict().items())

