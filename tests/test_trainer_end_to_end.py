"""A tiny text-classification run through the real Trainer: files on disk, logs, learning, Hezar-format output."""

import csv
import glob
import os

import pytest
import torch
import yaml

from hezar_accel.models import Model
from hezar_accel.trainer.checkpoint import find_latest, list_checkpoints

from tiny import build_trainer


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, text_data):
    out = str(tmp_path_factory.mktemp("run"))
    trainer = build_trainer(out, text_data, num_epochs=4, log_with="tensorboard")
    trainer.initial_eval = trainer.evaluate()
    results = trainer.train()
    return trainer, out, results


def read_rows(out):
    (path,) = glob.glob(os.path.join(out, "logs", "*", "training_logs.csv"))
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_training_writes_a_complete_checkpoint_folder_per_epoch(finished_run):
    trainer, out, _ = finished_run
    checkpoints = list_checkpoints(os.path.join(out, "checkpoints"))
    steps_per_epoch = trainer.plan.steps_per_epoch
    assert [int(os.path.basename(c)) for c in checkpoints] == [steps_per_epoch * e for e in range(1, 5)]
    last = checkpoints[-1]
    for name in ("model_config.yaml", "model.pt", "preprocessor/tokenizer.json", "preprocessor/tokenizer_config.yaml",
                 "train/train_config.yaml", "train/dataset_config.yaml", "train/trainer_state.yaml", "COMPLETE"):
        assert os.path.isfile(os.path.join(last, name)), name
    assert os.path.isdir(os.path.join(last, "accelerate"))


def test_latest_pointer_and_state_describe_the_last_checkpoint(finished_run):
    trainer, out, _ = finished_run
    with open(os.path.join(out, "checkpoints", "trainer_state.yaml"), encoding="utf-8") as f:
        state = yaml.safe_load(f)
    assert state["global_step"] == trainer.plan.total_steps
    assert find_latest(os.path.join(out, "checkpoints")).endswith(f"{trainer.plan.total_steps:08d}")


def test_saved_train_config_is_exactly_what_the_user_asked_for(finished_run):
    trainer, out, _ = finished_run
    latest = find_latest(os.path.join(out, "checkpoints"))
    with open(os.path.join(latest, "train", "train_config.yaml"), encoding="utf-8") as f:
        saved = yaml.safe_load(f)
    assert saved == {k: v for k, v in trainer.config.to_dict().items() if v is not None}
    assert saved["log_steps"] == 4 and saved["warmup_steps"] == 0
    from hezar_accel.trainer import TrainerConfig

    assert TrainerConfig.load(os.path.join(latest, "train")) == trainer.config


def test_csv_log_has_step_rows_and_epoch_rows_with_metrics(finished_run):
    trainer, out, _ = finished_run
    rows = read_rows(out)
    epoch_rows = [r for r in rows if r.get("evaluation.accuracy")]
    assert len(epoch_rows) == 4
    assert [int(r["step"]) for r in epoch_rows] == [trainer.plan.steps_per_epoch * e for e in range(1, 5)]
    assert all(r["train.loss"] for r in rows)
    step_rows = [r for r in rows if not r.get("evaluation.accuracy")]
    assert step_rows and all(r["train.learning_rate"] and r["train.samples_per_second"] for r in step_rows)


def test_tensorboard_event_files_are_written(finished_run):
    _, out, _ = finished_run
    assert glob.glob(os.path.join(out, "logs", "*", "events.out.tfevents.*"))


def test_the_training_loss_goes_down_and_the_model_beats_its_initial_eval_loss(finished_run):
    trainer, out, results = finished_run
    epoch_losses = [float(r["train.loss"]) for r in read_rows(out) if r.get("evaluation.accuracy")]
    assert epoch_losses[-1] < epoch_losses[0] * 0.8
    assert results["loss"] < trainer.initial_eval["loss"]


def test_a_checkpoint_loads_with_model_load_and_gives_the_trainers_logits(finished_run, text_data):
    trainer, out, _ = finished_run
    loaded = Model.load(find_latest(os.path.join(out, "checkpoints")))
    batch = trainer.data_collator([trainer.eval_dataset[i] for i in range(4)])
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    trainer.unwrapped_model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(**inputs)["logits"], trainer.unwrapped_model(**inputs)["logits"])
    predictions = loaded.predict(["خیلی خوشحالم", "ناراحتم"])
    assert {p["label"] for p in predictions} <= set(trainer.train_dataset.config.id2label.values())


def test_trainer_save_writes_a_model_folder_with_train_configs(finished_run, tmp_path):
    trainer, _, _ = finished_run
    trainer.save(str(tmp_path / "exported"))
    for name in ("model_config.yaml", "model.pt", "preprocessor/tokenizer.json", "train/train_config.yaml",
                 "train/dataset_config.yaml"):
        assert (tmp_path / "exported" / name).is_file(), name
    assert Model.load(str(tmp_path / "exported")).config.id2label == trainer.unwrapped_model.config.id2label


def test_the_evaluate_script_reproduces_the_trainers_evaluation_of_a_checkpoint(finished_run, text_data):
    import json
    import subprocess
    import sys

    trainer, out, results = finished_run
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "evaluate_model.py")
    completed = subprocess.run([sys.executable, script, find_latest(os.path.join(out, "checkpoints")), text_data,
                                "--device", "cpu", "--metrics", "accuracy", "f1"],
                               capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    printed = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert printed["samples"] == len(trainer.eval_dataset)
    assert printed["accuracy"] == round(results["accuracy"], 6) and printed["f1"] == round(results["f1"], 6)
