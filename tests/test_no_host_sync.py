"""DESIGN promise 3: an update never reads a value from the device; reads happen at log, evaluation and save points."""

import types

import torch

from hezar_accel.trainer.optim import SchedulerStepper

from host_reads import HostReads, quiet_steps
from tiny import build_trainer


def test_an_update_between_events_reads_nothing_from_the_device(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=2, log_steps=4, save_steps=3,
                            gradient_accumulation_steps=2, batch_size=4)
    reads = HostReads(trainer.state).install()
    try:
        trainer.train()
    finally:
        reads.uninstall()
    quiet = quiet_steps(trainer.plan, log_steps=4, save_steps=3)
    assert quiet, "the run has no update between events"
    assert reads.callers_at(quiet) == set()
    assert reads.callers_at([3, 4]), "the counter missed the reads of the log and save points"
    # The NaN check before a save is read once, not once by the event check and again by the save.
    assert [caller for caller, _ in reads.reads[3]].count("first_bad_step") == 1


def test_the_lr_scheduler_follows_fp16_skips_one_update_late_without_reading_the_device_in_between():
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4)
    accelerator = types.SimpleNamespace(scaler=scaler, optimizer_step_was_skipped=False)
    stepper = SchedulerStepper(accelerator, scheduler)
    state = types.SimpleNamespace(global_step=0)
    reads = HostReads(state)
    for gradient in (1.0, float("inf"), 1.0):  # the inf gradient makes the scaler skip update 2
        optimizer.zero_grad()
        scaler.scale((model.weight * gradient).sum()).backward()
        stepper.before_update()  # as in Trainer.optimization_step: settles the previous update (one read)
        reads.install()
        try:
            scaler.step(optimizer)
            scaler.update()
            stepper.after_update()
        finally:
            reads.uninstall()
        state.global_step += 1
    stepper_reads = {caller for caller, _ in reads.callers_at(range(3)) if caller in ("after_update", "before_update")}
    assert stepper_reads == set(), "the stepper read the device inside an update"
    assert scheduler.last_epoch == 1  # update 1 counted; update 2 (inf) skipped; update 3 still pending
    stepper.settle()
    assert scheduler.last_epoch == 2
    assert optimizer.param_groups[0]["lr"] == 1.0 / 3
