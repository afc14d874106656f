"""plan_steps: the one place where step arithmetic happens (per process, after the dataloaders are prepared)."""

import pytest

from hezar_accel.errors import ConfigError
from hezar_accel.trainer.steps import plan_steps


def test_steps_per_epoch_count_the_partial_accumulation_group():
    plan = plan_steps(batches_per_epoch=10, gradient_accumulation_steps=4, num_epochs=3, max_steps=None)
    assert plan.steps_per_epoch == 3 and plan.total_steps == 9 and plan.num_epochs == 3


def test_max_steps_overrides_epochs_and_derives_the_epoch_count():
    plan = plan_steps(batches_per_epoch=10, gradient_accumulation_steps=1, num_epochs=100, max_steps=25)
    assert plan.total_steps == 25 and plan.num_epochs == 3


def test_fractions_resolve_against_total_steps_rounding_up():
    plan = plan_steps(10, 1, 4, None, warmup_steps=0.1, save_steps=0.25, log_steps=0.01, eval_steps=0.5)
    assert (plan.total_steps, plan.warmup_steps, plan.save_steps, plan.log_steps, plan.eval_steps) == (40, 4, 10, 1, 20)


def test_integer_intervals_are_kept_and_none_means_off():
    plan = plan_steps(10, 1, 2, None, save_steps=5, log_steps=None)
    assert plan.save_steps == 5 and plan.log_steps is None and plan.eval_steps is None
    assert plan.is_due(plan.save_steps, 10) and not plan.is_due(plan.save_steps, 11)
    assert not plan.is_due(plan.log_steps, 10)


def test_the_same_run_on_two_processes_halves_the_steps_per_epoch():
    one = plan_steps(batches_per_epoch=20, gradient_accumulation_steps=2, num_epochs=1, max_steps=None)
    two = plan_steps(batches_per_epoch=10, gradient_accumulation_steps=2, num_epochs=1, max_steps=None)
    assert (one.steps_per_epoch, two.steps_per_epoch) == (10, 5)


def test_intervals_longer_than_the_run_are_clamped_to_it_with_a_note():
    plan = plan_steps(10, 1, None, 5, save_steps=500, log_steps=20, eval_steps=3)  # a max_steps: 5 smoke run
    assert (plan.save_steps, plan.log_steps, plan.eval_steps) == (5, 5, 3)
    assert plan.notes == ("save_steps: 500 is more than the run's 5 total steps; using 5",
                          "log_steps: 20 is more than the run's 5 total steps; using 5")


def test_a_warmup_longer_than_the_run_is_refused():
    with pytest.raises(ConfigError, match="warmup_steps: 20 is more than the run's 10 total steps"):
        plan_steps(10, 1, 1, None, warmup_steps=20)


def test_an_empty_dataloader_is_refused():
    with pytest.raises(ConfigError, match="no batch"):
        plan_steps(0, 1, 1, None)


def test_an_iterable_is_planned_by_max_steps_alone_with_its_epochs_unknown():
    plan = plan_steps(batches_per_epoch=None, gradient_accumulation_steps=2, num_epochs=5, max_steps=30, save_steps=0.5)
    assert (plan.total_steps, plan.steps_per_epoch, plan.num_epochs, plan.save_steps) == (30, None, None, 15)
    # Every epoch belongs to the run (passes go on until max_steps); none is known to be the last.
    assert plan.runs_epoch(1000) and not plan.is_last_epoch(1000)


def test_an_iterable_without_max_steps_is_refused_saying_what_to_set():
    with pytest.raises(ConfigError, match="max_steps: required with an iterable train_dataset.*num_epochs: 3"):
        plan_steps(batches_per_epoch=None, gradient_accumulation_steps=1, num_epochs=3, max_steps=None)
