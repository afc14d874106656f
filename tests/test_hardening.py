"""Bad input, numerical faults, crashes and preemption lose nothing and explain themselves."""

import os
import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hezar_accel.errors import CheckpointError, ConfigError, TrainingError
from hezar_accel.models import Model
from hezar_accel.models.model import read_state_dict
from hezar_accel.trainer import TrainerConfig
from hezar_accel.trainer.checkpoint import find_latest
from hezar_accel.trainer.guards import EXIT_PREEMPTED

from resume_helpers import assert_same_weights, csv_rows, run
from tiny import build_trainer


def poison_loss_at(trainer, bad_step):
    """Make the loss NaN during update ``bad_step`` (1-based)."""
    original = trainer.compute_loss

    def compute_loss(outputs, batch):
        loss = original(outputs, batch)
        return loss * float("nan") if trainer.state.global_step + 1 == bad_step else loss

    trainer.compute_loss = compute_loss


def test_a_nan_loss_raises_with_its_step_its_samples_and_the_last_good_checkpoint(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=2, save_steps=3, log_steps=4)
    poison_loss_at(trainer, 5)
    with pytest.raises(TrainingError) as e:
        trainer.train()
    message = str(e.value)
    assert "update 5" in message and "sample indices" in message and "00000003" in message
    indices = eval(message.split("sample indices of that update: ")[1].split(")")[0])
    assert len(indices) == 8 and all(0 <= i < 64 for i in indices)
    assert find_latest(trainer.config.checkpoints_path).endswith("00000003")  # nothing saved after the NaN


def test_a_nan_error_names_a_checkpoint_that_was_still_sealing_in_the_background(tmp_path, text_data, monkeypatch):
    import time

    from hezar_accel.trainer import checkpoint

    seal = checkpoint.finalize_checkpoint

    def slow_seal(*args, **kwargs):
        time.sleep(1.0)  # far longer than the two updates between the save and the NaN
        return seal(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "finalize_checkpoint", slow_seal)
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=2, save_steps=3, log_steps=4)
    poison_loss_at(trainer, 5)
    with pytest.raises(TrainingError, match="the last good checkpoint is `[^`]*00000003`"):
        trainer.train()


def test_skip_step_drops_only_the_bad_update_and_training_finishes(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=1, nan_policy="skip_step")
    poison_loss_at(trainer, 3)
    trainer.train()
    assert trainer.state.skipped_updates == 1 and trainer.state.global_step == 8
    assert all(torch.isfinite(p).all() for p in trainer.unwrapped_model.parameters())


BASE = {"num_epochs": 2, "save_steps": 5, "log_steps": 2}


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_at_the_current_step_and_resume_is_exact(tmp_path, text_data):
    reference = str(tmp_path / "reference")
    run(reference, text_data, BASE)
    out = str(tmp_path / "preempted")
    code = run(out, text_data, BASE, "--signal-at-step", 6, "--signal", "SIGTERM", expect_code=EXIT_PREEMPTED)
    assert "Received SIGTERM" in code
    assert find_latest(os.path.join(out, "checkpoints")).endswith("00000007")
    run(out, text_data, {**BASE, "resume_from_checkpoint": True})
    assert_same_weights(reference, out)
    assert csv_rows(out) == csv_rows(reference)


@pytest.mark.slow
def test_a_second_sigint_aborts_at_once_without_corrupting_checkpoints(tmp_path, text_data):
    out = str(tmp_path / "aborted")
    run(out, text_data, BASE, "--signal-at-step", 6, "--signal", "SIGINT", "--signal-twice", expect_code="nonzero")
    latest = find_latest(os.path.join(out, "checkpoints"))
    assert latest.endswith("00000005")
    assert read_state_dict(os.path.join(latest, "model.pt"))
    run(out, text_data, {**BASE, "resume_from_checkpoint": True})


@pytest.mark.parametrize("writer, error", [
    ("dump_yaml", OSError(28, "No space left on device")),  # while the files are written, before training goes on
    ("publish", OSError(5, "Input/output error")),  # on the background thread that seals the checkpoint
])
def test_a_disk_error_during_a_save_is_a_clear_error_and_the_previous_checkpoint_survives(tmp_path, text_data,
                                                                                           monkeypatch, writer, error):
    from hezar_accel.trainer import checkpoint, checkpointer

    trainer = build_trainer(str(tmp_path), text_data, num_epochs=2, save_steps=3)
    module = checkpointer if writer == "dump_yaml" else checkpoint
    original = getattr(module, writer)

    def fail(*args, **kwargs):
        # publish(root, step) runs on the sealing thread, while the training thread may already be further on.
        step = args[1] if writer == "publish" else trainer.state.global_step
        if step == 6:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(module, writer, fail)
    with pytest.raises(CheckpointError) as e:
        trainer.train()
    assert error.strerror in str(e.value) and "step 6" in str(e.value) and "00000003" in str(e.value)
    root = trainer.config.checkpoints_path
    assert find_latest(root).endswith("00000003") and not [n for n in os.listdir(root) if n.startswith(".")]
    assert Model.load(find_latest(root)) is not None
    with open(os.path.join(root, "trainer_state.yaml")) as f:
        assert "global_step: 3\n" in f.read()  # the latest pointer never named the failed save


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_weights_file_that_would_run_code_is_refused(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path / "run"), text_data, num_epochs=1)
    folder = str(tmp_path / "model")
    trainer.save(folder)
    with open(os.path.join(folder, "model.pt"), "wb") as f:
        pickle.dump({"weight": RunsCode()}, f)
    with pytest.raises(CheckpointError, match="Refusing to load"):
        Model.load(folder)


def test_an_unwritable_output_dir_is_refused_before_training(tmp_path, text_data):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="output_dir.*not writable"):
        build_trainer(str(blocker / "run"), text_data, num_epochs=1)


def test_texts_longer_than_the_model_positions_are_refused_before_training(tmp_path, text_data):
    from hezar_accel.data import Dataset
    from hezar_accel.trainer import Trainer
    from tiny import make_model, make_tokenizer

    tokenizer = make_tokenizer(text_data)
    train = Dataset.load(text_data, split="train", preprocessor=tokenizer, max_length=64)
    model = make_model(train.config.id2label, tokenizer.vocab_size)  # 32 positions
    config = TrainerConfig(output_dir=str(tmp_path), task="text_classification", num_epochs=1, log_with=None)
    with pytest.raises(ConfigError, match="max_length: 64 tokens exceed the model's 32 positions"):
        Trainer(config, model, train_dataset=train)


def test_a_model_for_another_task_is_refused(tmp_path, text_data):
    from hezar_accel.data import Dataset
    from hezar_accel.trainer import Trainer
    from tiny import make_model, make_tokenizer

    tokenizer = make_tokenizer(text_data)
    train = Dataset.load(text_data, split="train", preprocessor=tokenizer)
    model = make_model(train.config.id2label, tokenizer.vocab_size)
    config = TrainerConfig(output_dir=str(tmp_path), task="sequence_labeling", num_epochs=1, log_with=None)
    with pytest.raises(ConfigError, match="task: `sequence_labeling` but the model"):
        Trainer(config, model, train_dataset=train)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
field_names = st.sampled_from(TrainerConfig.field_names() + ["learnin_rate", "epochs", ""])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(field_names, yaml_values, max_size=8))
def test_random_yaml_either_loads_or_raises_a_config_error(data):
    try:
        TrainerConfig.from_dict(data)
    except ConfigError:
        pass
