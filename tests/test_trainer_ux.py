"""What a user sees and can steer: the evaluation table, callbacks, early stopping, predict, model_init, init
weights that barely match, and a smoke run shorter than its logging interval."""

import json
import os

import pytest
import torch

from hezar_accel.errors import CheckpointError, ConfigError
from hezar_accel.trainer.callbacks import TrainerCallback
from hezar_accel.trainer.checkpoint import list_checkpoints

from resume_helpers import assert_same_weights, csv_rows, run
from tiny import build_trainer, make_model, make_tokenizer


def test_every_evaluation_prints_a_table_row_with_the_train_loss_metrics_and_best_so_far(tmp_path, text_data, capsys):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=2)
    trainer.train()
    lines = [line for line in capsys.readouterr().out.splitlines() if " | " in line]
    header, rows = lines[0], lines[1:]
    assert [c.strip() for c in header.split(" | ")] == ["epoch", "step", "train loss", "eval loss", "eval accuracy",
                                                         "eval f1", "best loss"]
    assert len(rows) == 2
    epoch, step = rows[1].split(" | ")[:2]
    assert epoch.strip() == "2" and step.strip() == "16"
    assert f"(step {trainer.state.best_step})" in rows[1]


class Recorder(TrainerCallback):
    """Records each hook call; asks for a save at step 3, an evaluation at step 5 and a stop at step 6."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, state, control):
        self.calls.append(("train_begin", state.global_step))

    def on_step_end(self, state, control):
        self.calls.append(("step_end", state.global_step))
        control.should_save = state.global_step == 3
        control.should_evaluate = state.global_step == 5
        control.should_stop = state.global_step == 6

    def on_log(self, state, control, logs):
        self.calls.append(("log", logs["step"]))

    def on_evaluate(self, state, control, metrics):
        self.calls.append(("evaluate", state.global_step, "loss" in metrics))

    def on_save(self, state, control, checkpoint):
        self.calls.append(("save", state.global_step, os.path.basename(checkpoint or "")))

    def on_epoch_end(self, state, control):
        self.calls.append(("epoch_end", state.global_step))

    def on_train_end(self, state, control):
        self.calls.append(("train_end", state.global_step))


def test_callbacks_see_every_event_and_can_ask_for_a_save_an_evaluation_and_a_stop(tmp_path, text_data):
    recorder = Recorder()
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=3, log_steps=4, save_enabled=True)
    trainer.add_callback(recorder)
    trainer.train()
    calls = recorder.calls
    assert calls[0] == ("train_begin", 0) and calls[-1] == ("train_end", 6)
    assert [c for c in calls if c[0] == "step_end"] == [("step_end", s) for s in range(1, 7)]
    assert ("save", 3, "00000003") in calls and ("evaluate", 5, True) in calls and ("log", 4) in calls
    assert ("save", 6, "00000006") in calls  # a stop saves the step it stopped at
    assert trainer.state.global_step == 6
    names = [os.path.basename(c) for c in list_checkpoints(trainer.config.checkpoints_path)]
    assert names == ["00000003", "00000006"]
    assert any(row.get("evaluation.loss") for row in csv_rows(str(tmp_path)) if row["step"] == "5")


def test_early_stopping_ends_the_run_after_patience_evaluations_without_improvement(tmp_path, text_data, capsys):
    # No evaluation can beat the first by 1e9: the second and third are "no improvement", patience 2 stops at step 24.
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=6, early_stopping_patience=2,
                            early_stopping_threshold=1e9, metric_for_best_model="loss")
    trainer.train()
    assert trainer.state.global_step == 24 and trainer.state.epoch == 4
    assert "Early stopping at step 24" in capsys.readouterr().out
    assert trainer.state.callback_states["EarlyStoppingCallback"] == {"best": pytest.approx(
        trainer.state.log_history[0]["evaluation.loss"]), "bad_evaluations": 2, "stopped_at": 24}
    again = build_trainer(str(tmp_path), text_data, num_epochs=6, early_stopping_patience=2,
                          early_stopping_threshold=1e9, metric_for_best_model="loss")
    again.train(resume_from_checkpoint=True)  # a run that stopped stays stopped
    assert again.state.global_step == 24


@pytest.mark.slow
def test_early_stopping_decides_the_same_after_a_kill_and_resume(tmp_path, text_data):
    settings = {"num_epochs": 6, "early_stopping_patience": 2, "early_stopping_threshold": 1e9,
                "metric_for_best_model": "loss", "save_steps": 5}
    reference = str(tmp_path / "reference")
    run(reference, text_data, settings)
    out = str(tmp_path / "killed")
    run(out, text_data, settings, "--kill-at-step", 19, expect_kill=True)  # after the first "no improvement"
    run(out, text_data, {**settings, "resume_from_checkpoint": True})
    assert_same_weights(reference, out)
    assert csv_rows(out) == csv_rows(reference)


def test_early_stopping_without_evaluation_is_refused():
    from hezar_accel.trainer import TrainerConfig

    with pytest.raises(ConfigError, match="early_stopping_patience: needs evaluations"):
        TrainerConfig(output_dir="x", task="text_classification", num_epochs=1, early_stopping_patience=2,
                      do_evaluate=False)


def test_predict_returns_readable_predictions_the_evaluate_metrics_and_a_jsonl_file(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=1)
    trainer.train()
    path = tmp_path / "out" / "predictions.jsonl"
    output = trainer.predict(trainer.eval_dataset, output_file=path)
    assert len(output.predictions) == len(trainer.eval_dataset) == 21
    assert set(output.predictions) <= {"happy", "sad", "angry"}
    assert output.metrics == pytest.approx(trainer.evaluate())
    accuracy = sum(p == r for p, r in zip(output.predictions, output.references)) / 21
    assert output.metrics["accuracy"] == pytest.approx(accuracy)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["prediction"] for line in lines] == output.predictions


def test_evaluate_takes_any_dataset_of_the_task(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=1)
    on_train = trainer.evaluate(eval_dataset=trainer.train_dataset)
    assert on_train != trainer.evaluate() and 0 <= on_train["accuracy"] <= 1
    assert trainer.evaluate(eval_dataset=trainer.train_dataset) == on_train  # the prepared loader is reused


def test_model_init_makes_the_seed_decide_the_initial_weights(tmp_path, text_data):
    tokenizer = make_tokenizer(text_data)

    def model_init():
        return make_model({0: "angry", 1: "happy", 2: "sad"}, tokenizer.vocab_size, seed=None)

    first = build_trainer(str(tmp_path / "a"), text_data, model_init=model_init, seed=7)
    torch.manual_seed(12345)  # whatever the global RNG holds before, the seeded model_init decides
    second = build_trainer(str(tmp_path / "b"), text_data, model_init=model_init, seed=7)
    other = build_trainer(str(tmp_path / "c"), text_data, model_init=model_init, seed=8)
    assert first.initial_weights_fingerprint == second.initial_weights_fingerprint
    assert first.initial_weights_fingerprint != other.initial_weights_fingerprint
    a, b = first.unwrapped_model.state_dict(), second.unwrapped_model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_weights_that_match_few_tensors_are_refused_unless_not_strict(tmp_path, text_data):
    source = tmp_path / "one_tensor.pt"
    model = build_trainer(str(tmp_path / "probe"), text_data).unwrapped_model
    torch.save({"classifier.bias": model.state_dict()["classifier.bias"]}, source)
    with pytest.raises(ConfigError, match=r"matched 1 of the model's \d+ tensors .*init_weights_strict: false"):
        build_trainer(str(tmp_path / "strict"), text_data, init_weights_from=str(source))
    loose = build_trainer(str(tmp_path / "loose"), text_data, init_weights_from=str(source), init_weights_strict=False)
    assert loose.init_weights_report.loaded == ["classifier.bias"]


def test_a_smoke_run_shorter_than_its_logging_interval_runs_and_says_what_it_adjusted(tmp_path, text_data, capsys):
    trainer = build_trainer(str(tmp_path), text_data, max_steps=5, log_steps=20, save_steps=50)
    trainer.train()
    assert trainer.state.global_step == 5
    assert "log_steps: 20 is more than the run's 5 total steps; using 5" in capsys.readouterr().out
    assert [row["step"] for row in csv_rows(str(tmp_path))] == ["5"]


def test_a_callback_stop_is_not_a_checkpoint_error_when_saving_is_off(tmp_path, text_data):
    class StopAtTwo(TrainerCallback):
        def on_step_end(self, state, control):
            control.should_stop = state.global_step == 2

    trainer = build_trainer(str(tmp_path), text_data, num_epochs=1, save_enabled=False, callbacks=[StopAtTwo()])
    trainer.train()
    assert trainer.state.global_step == 2 and not list_checkpoints(trainer.config.checkpoints_path)
    with pytest.raises(CheckpointError):
        build_trainer(str(tmp_path), text_data, num_epochs=1).train(resume_from_checkpoint=True)


def test_a_finished_classifier_run_draws_its_curves_and_the_final_models_confusion_matrix(tmp_path, text_data):
    pytest.importorskip("matplotlib")
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=2, write_plots=True)
    trainer.train()
    folder = os.path.join(trainer.config.logs_path, trainer.state.run_name)
    for name in ("training_curves.png", "confusion_matrix.png"):
        with open(os.path.join(folder, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
