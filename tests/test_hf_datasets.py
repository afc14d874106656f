"""🤗-style data in the Trainer: a tokenized ``datasets.Dataset`` (and any dataset of dict rows), length-less iterables
trained with max_steps, exact resume on both, exact metrics on an iterable eval set, and clear refusals."""

import collections
import json
import os

import datasets
import pytest
import torch

from hezar_accel.data import Dataset
from hezar_accel.data.columns import ColumnCollator
from hezar_accel.errors import CheckpointError, ConfigError, DataError
from hezar_accel.trainer import Trainer, TrainerConfig
from hezar_accel.trainer.state import TrainerState

from resume_helpers import assert_same_weights, csv_rows, run
from tiny import RowStream, as_hf, build_trainer, make_model, make_tokenizer


class Killed(Exception):
    """Stands for a crash in the middle of an update (the in-process version of tiny_run's --kill-at-step)."""


def kill_at(trainer, step: int):
    """Make ``trainer`` crash in the first micro-batch after update ``step``."""
    original = trainer.training_step

    def crashing_step(batch):
        if trainer.state.global_step == step:
            raise Killed
        return original(batch)

    trainer.training_step = crashing_step
    return trainer


@pytest.fixture(scope="module")
def tables(text_data):
    """The tiny data as hezar_accel datasets and as a 🤗 user brings it (the same tokens, with 🤗 column names)."""
    tokenizer = make_tokenizer(text_data)
    train = Dataset.load(text_data, split="train", preprocessor=tokenizer)
    test = Dataset.load(text_data, split="test", preprocessor=tokenizer)
    return {"tokenizer": tokenizer, "id2label": train.config.id2label, "train": train, "test": test,
            "hf_train": as_hf(train, "hf"), "hf_test": as_hf(test, "hf")}


def trainer_on(output, tables, train, eval_dataset=None, data_collator=None, **overrides):
    """A tiny Trainer on the given datasets (the model and settings of tests/tiny.py's build_trainer)."""
    settings = dict(output_dir=str(output), task="text_classification", device="cpu", num_epochs=None, max_steps=20,
                    batch_size=8, optimizer="adamw", learning_rate=1e-2, log_steps=2, save_steps=3,
                    show_progress_bar=False, log_with=None, write_plots=False, metrics=["accuracy", "f1"])
    settings.update(overrides)
    model = make_model(tables["id2label"], tables["tokenizer"].vocab_size)
    return Trainer(TrainerConfig(**settings), model, train_dataset=train, eval_dataset=eval_dataset,
                   data_collator=data_collator, preprocessor=tables["tokenizer"])


# -- map-style 🤗 datasets -----------------------------------------------------------------------------------------

def test_a_tokenized_hf_dataset_trains_and_evaluates_exactly_like_the_same_hezar_dataset(tmp_path, text_data):
    hezar = build_trainer(str(tmp_path / "hezar"), text_data, num_epochs=2)
    hezar_results = hezar.train()
    hf = build_trainer(str(tmp_path / "hf"), text_data, data_format="hf", num_epochs=2)
    hf_results = hf.train()
    # Same tokens in the same order (the sampler is ours): the same updates, bit for bit.
    assert hf_results == hezar_results
    assert_same_weights(str(tmp_path / "hezar"), str(tmp_path / "hf"))
    assert csv_rows(str(tmp_path / "hf")) == csv_rows(str(tmp_path / "hezar"))
    # input_ids is fed as token_ids, label as labels; the string column is left out, saying so.
    assert hf.data_collator.columns == {"input_ids": "token_ids", "attention_mask": "attention_mask",
                                        "token_type_ids": "token_type_ids", "label": "labels"}
    assert any("text (str)" in note for note in hf.data_inputs.notes)
    # The data-order record fingerprints the 🤗 table, so a resume on changed data is refused.
    assert hf.data_order.record(1, 0)["dataset_fingerprint"] == hf.train_dataset._fingerprint


def test_a_run_on_an_hf_dataset_killed_mid_epoch_resumes_bitwise_equal(tmp_path, tables):
    config = dict(max_steps=20, save_steps=3)  # 8 updates per epoch; killed in update 14, resumed from update 12
    trainer_on(tmp_path / "reference", tables, tables["hf_train"], tables["hf_test"], **config).train()
    with pytest.raises(Killed):
        kill_at(trainer_on(tmp_path / "resumed", tables, tables["hf_train"], tables["hf_test"], **config), 13).train()
    resumed = trainer_on(tmp_path / "resumed", tables, tables["hf_train"], tables["hf_test"],
                         resume_from_checkpoint=True, **config)
    resumed.train()
    assert resumed.resumed.step == 12 and resumed.state.global_step == 20
    assert_same_weights(str(tmp_path / "reference"), str(tmp_path / "resumed"))
    assert csv_rows(str(tmp_path / "resumed")) == csv_rows(str(tmp_path / "reference"))


def test_a_collator_giving_hf_style_input_ids_batches_trains_like_the_default_one(tmp_path, tables):
    default = trainer_on(tmp_path / "default", tables, tables["hf_train"], tables["hf_test"], max_steps=6)
    default_results = default.train()
    # What a 🤗 collator returns: `input_ids` (not this package's `token_ids`), padded, with `labels`.
    pad = tables["tokenizer"].pad_token_id
    hf_style = ColumnCollator({"input_ids": "input_ids", "attention_mask": "attention_mask",
                               "token_type_ids": "token_type_ids", "label": "labels"},
                              {"input_ids": pad, "labels": -100})
    own = trainer_on(tmp_path / "own", tables, tables["hf_train"], tables["hf_test"], data_collator=hf_style,
                     max_steps=6)
    assert "input_ids" in hf_style([tables["hf_train"][0]]) and own.data_collator is hf_style
    assert own.train() == default_results
    assert_same_weights(str(tmp_path / "default"), str(tmp_path / "own"))


def test_a_resume_on_a_changed_hf_dataset_is_refused_naming_the_dataset(tmp_path, tables):
    with pytest.raises(Killed):
        kill_at(trainer_on(tmp_path, tables, tables["hf_train"]), 4).train()
    changed = tables["hf_train"].select(range(1, len(tables["hf_train"])))
    with pytest.raises(CheckpointError, match="the training dataset"):
        trainer_on(tmp_path, tables, changed, resume_from_checkpoint=True).train()


# -- iterables -----------------------------------------------------------------------------------------------------

class CountingStream(RowStream):
    """A RowStream that records the epoch of each pass it starts."""

    def __init__(self, rows):
        super().__init__(rows)
        self.passes = []

    def __iter__(self):
        self.passes.append(self.epoch)
        return super().__iter__()


def test_an_iterable_trains_for_max_steps_across_passes_each_a_new_epoch(tmp_path, tables):
    stream = CountingStream(list(tables["hf_train"]))
    trainer = trainer_on(tmp_path, tables, stream, tables["hf_test"], max_steps=20)
    trainer.train()
    assert trainer.plan.steps_per_epoch is None and trainer.state.global_step == 20
    # 64 rows in batches of 8: passes end at updates 8 and 16; each ends its epoch with an evaluated row.
    evaluated = [(r["epoch"], r["step"]) for r in csv_rows(str(tmp_path)) if r.get("evaluation.accuracy")]
    assert evaluated == [("1", "8"), ("2", "16"), ("3", "20")]
    # The first iteration is the input check reading one row; then one pass per epoch, told its epoch first.
    assert stream.passes == [0, 1, 2, 3]


# One batch per update: 8 updates per pass, resumed from update 9 (1 batch into pass 2). Three per update: 3 updates
# per pass (3 + 3 + 2 batches), resumed from update 10 (3 batches into pass 4).
@pytest.mark.parametrize("accumulation, save_steps, kill_at_step, resumed_from", [(1, 3, 10, 9), (3, 2, 11, 10)],
                         ids=["one_batch_per_update", "a_partial_group_ends_each_pass"])
def test_an_iterable_run_killed_mid_pass_resumes_bitwise_equal(tmp_path, tables, accumulation, save_steps,
                                                               kill_at_step, resumed_from):
    def stream():  # a fresh 🤗 IterableDataset (2 shards, buffer-shuffled per epoch), as a new process builds it
        return as_hf(tables["train"], "hf_iterable")

    config = dict(max_steps=14, gradient_accumulation_steps=accumulation, save_steps=save_steps)
    trainer_on(tmp_path / "reference", tables, stream(), tables["hf_test"], **config).train()
    with pytest.raises(Killed):
        kill_at(trainer_on(tmp_path / "resumed", tables, stream(), tables["hf_test"], **config), kill_at_step).train()
    resumed = trainer_on(tmp_path / "resumed", tables, stream(), tables["hf_test"], resume_from_checkpoint=True,
                         **config)
    resumed.train()
    assert resumed.resumed.step == resumed_from and resumed.state.global_step == 14
    saved = TrainerState.load(os.path.join(resumed.resumed.checkpoint, "train", "trainer_state.yaml"))
    assert saved.epoch_step > 0 and saved.data_check["replay"][0][0] == saved.epoch_step * accumulation  # mid-pass
    assert_same_weights(str(tmp_path / "reference"), str(tmp_path / "resumed"))
    assert csv_rows(str(tmp_path / "resumed")) == csv_rows(str(tmp_path / "reference"))


def test_a_resume_refuses_an_iterable_that_replays_other_rows_unless_told_to_go_on(tmp_path, tables):
    rows = list(tables["hf_train"])
    with pytest.raises(Killed):
        kill_at(trainer_on(tmp_path, tables, RowStream(rows, seed=0)), 5).train()
    # Same settings, but the stream shuffles differently: only the replay of the consumed batches can tell.
    with pytest.raises(CheckpointError, match="replayed different batches for epoch 1"):
        trainer_on(tmp_path, tables, RowStream(rows, seed=1), resume_from_checkpoint=True).train()
    with pytest.warns(UserWarning, match="Resuming anyway"):
        trainer_on(tmp_path, tables, RowStream(rows, seed=1), resume_from_checkpoint=True,
                   ignore_data_order_mismatch=True).train()


def test_an_iterable_eval_set_gives_the_metrics_of_the_same_rows_as_a_table(tmp_path, tables):
    trainer = trainer_on(tmp_path, tables, tables["hf_train"], tables["hf_test"], eval_batch_size=4)
    as_table = trainer.evaluate()
    streamed = trainer.evaluate(as_hf(tables["test"], "torch_iterable"))
    assert {k: v for k, v in streamed.items() if k != "loss"} == {k: v for k, v in as_table.items() if k != "loss"}
    assert streamed["loss"] == pytest.approx(as_table["loss"], rel=1e-6)


# -- refusals ------------------------------------------------------------------------------------------------------

class OneShot(torch.utils.data.IterableDataset):
    """An iterable that can be read only once (it hands out the same generator every time)."""

    def __init__(self, rows):
        self.rows = iter(rows)

    def __iter__(self):
        return self.rows


def test_an_iterable_read_only_once_stops_at_its_second_pass_with_what_to_change(tmp_path, tables):
    trainer = trainer_on(tmp_path, tables, OneShot(list(tables["hf_train"])), max_steps=30, save_steps=None)
    with pytest.raises(DataError, match="the pass of epoch 2 yielded no batch.*generator function"):
        trainer.train()


def _without(table, column):
    return table.remove_columns(column)


REFUSALS = {
    "num_epochs_alone_with_an_iterable": (
        lambda t: dict(train=RowStream(list(t["hf_train"])), num_epochs=3, max_steps=None),
        ["max_steps: required with an iterable train_dataset", "num_epochs: 3 cannot be planned",
         "An epoch is then one pass of the iterator"]),
    "dataloader_workers_with_an_iterable": (
        lambda t: dict(train=RowStream(list(t["hf_train"])), num_dataloader_workers=2),
        ["num_dataloader_workers: 2 with an iterable train_dataset", "set num_dataloader_workers: 0"]),
    "rows_without_labels": (
        lambda t: dict(train=_without(t["hf_train"], "label")),
        ["train_dataset: rows have no `labels` column (nor `label`/`label_ids`"]),
    "rows_without_token_ids": (
        lambda t: dict(train=_without(t["hf_train"], "input_ids")),
        ["rows have no `token_ids` column (or `input_ids`), which BertTextClassification.forward requires"]),
    "text_that_was_not_tokenized": (
        lambda t: dict(train=datasets.Dataset.from_dict({"input_ids": ["سلام", "خوب"], "label": [0, 1]})),
        ["column `input_ids` holds str values", "tokenize/encode it first"]),
    "a_list_of_rows": (
        lambda t: dict(train=list(t["hf_train"])),
        ["train_dataset: a list of 64 rows", "datasets.Dataset.from_list(rows)"]),
    "a_dataset_dict": (
        lambda t: dict(train=datasets.DatasetDict({"train": t["hf_train"], "test": t["hf_test"]})),
        ["a DatasetDict of splits ['test', 'train']", "train_dataset=dataset['train']"]),
    "rows_that_are_tensors": (
        lambda t: dict(train=torch.utils.data.TensorDataset(torch.ones(4, 3, dtype=torch.long))),
        ["train_dataset: rows are tuple, not dicts of columns"]),
    "a_collator_whose_batch_has_no_labels": (
        lambda t: dict(train=t["hf_train"], data_collator=lambda rows: {"token_ids": torch.ones(len(rows), 3)}),
        ["the collated batch has no tensor ['labels']"]),
    "an_empty_iterable": (
        lambda t: dict(train=RowStream([])),
        ["train_dataset: is empty (the iterable yields no row)"]),
    "an_eval_set_without_labels_beside_a_good_train_set": (
        lambda t: dict(train=t["hf_train"], eval_dataset=_without(t["hf_test"], "label")),
        ["eval_dataset: rows have no `labels` column"]),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_unusable_data_is_refused_before_training_naming_what_is_expected(tmp_path, tables, case):
    build, expected = REFUSALS[case]
    given = build(tables)
    train = given.pop("train")
    with pytest.raises(ConfigError) as error:
        trainer_on(tmp_path, tables, train, **given)
    for phrase in expected:
        assert phrase in str(error.value)
    assert not os.path.exists(tmp_path / "checkpoints")  # refused before anything was built or written


# -- two processes -------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_split_an_iterable_agree_on_every_step_and_resume_mid_pass_bitwise_equal(tmp_path, text_data,
                                                                                                 tables):
    overrides = {"data_format": "hf_iterable", "num_epochs": None, "max_steps": 12, "batch_size": 4,
                 "save_steps": 3, "log_steps": 1}
    reference = str(tmp_path / "reference")
    stdout = run(reference, text_data, overrides, "--record-rows", processes=2)
    assert "WORLD 2 " in stdout and stdout.count("DONE 12") == 2  # both processes end at update 12
    seen = {}
    for rank in ("0", "1"):
        with open(os.path.join(reference, f"rows_{rank}.json"), encoding="utf-8") as f:
            seen[rank] = json.load(f)
    assert sorted(seen) == ["0", "1"] and [len(updates) for updates in seen.values()] == [12, 12]
    first_pass = {rank: [tuple(r) for epoch, rows in updates if epoch == 1 for r in rows]
                  for rank, updates in seen.items()}
    # 64 rows, 4 per process per update: the first pass is 8 updates on each process, and together the two
    # processes trained on every row exactly once (different rows each).
    assert [len(rows) for rows in first_pass.values()] == [32, 32]
    every_row = collections.Counter(tuple(r) for r in tables["hf_train"]["input_ids"])
    assert collections.Counter(first_pass["0"]) + collections.Counter(first_pass["1"]) == every_row
    assert [r["step"] for r in csv_rows(reference) if r.get("evaluation.accuracy")] == ["8", "12"]
    # Killed in update 10 (pass 2), resumed from update 9 by reading the pass's first batch again on each process.
    interrupted = str(tmp_path / "interrupted")
    run(interrupted, text_data, overrides, "--kill-at-step", 9, processes=2, expect_kill=True)
    run(interrupted, text_data, {**overrides, "resume_from_checkpoint": True}, processes=2)
    assert_same_weights(reference, interrupted)
    assert csv_rows(interrupted) == csv_rows(reference)


@pytest.mark.slow
@pytest.mark.distributed
def test_two_process_metrics_on_an_iterable_eval_set_equal_one_process_metrics(tmp_path, text_data):
    results = {}
    for processes in (1, 2):
        out = str(tmp_path / str(processes))
        run(out, text_data, {"data_format": "hf", "eval_format": "hf_iterable", "eval_batch_size": 4},
            "--evaluate-only", processes=processes)
        with open(os.path.join(out, "eval.json")) as f:
            results[processes] = json.load(f)
    # 21 rows, 2 processes x 4: the last round repeats rows, which the count of the pass leaves out.
    assert {k: v for k, v in results[2].items() if k != "loss"} == {k: v for k, v in results[1].items() if k != "loss"}
    assert results[2]["loss"] == pytest.approx(results[1]["loss"], rel=1e-6)
    # Trainer.predict: every row once, in the stream's order, as with one process.
    one, two = (read_lines(os.path.join(str(tmp_path / n), "predictions.jsonl")) for n in ("1", "2"))
    assert len(one) == 21 and one == two


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]
