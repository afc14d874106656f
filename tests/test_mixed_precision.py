"""Mixed precision on CPU: bf16 trains, fp16 is refused, and updates a grad scaler skips leave the LR schedule alone."""

import pytest
import torch
from accelerate.optimizer import AcceleratedOptimizer

from hezar_accel.errors import ConfigError

from tiny import build_trainer


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """accelerate keeps one process-wide state, mixed precision included: each test here starts from none."""
    from accelerate.state import AcceleratorState, GradientState

    def reset():
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()

    reset()
    yield
    reset()


def test_fp16_on_a_cpu_is_refused_instead_of_silently_training_in_fp32(tmp_path, text_data):
    with pytest.raises(ConfigError, match="mixed_precision: `fp16` needs a GPU.*bf16"):
        build_trainer(str(tmp_path), text_data, num_epochs=1, mixed_precision="fp16")


def test_bf16_on_a_cpu_runs_the_layers_in_bf16_and_keeps_fp32_weights_and_outputs(tmp_path, text_data):
    trainer = build_trainer(str(tmp_path), text_data, num_epochs=1, mixed_precision="bf16")
    layer_dtypes, output_dtypes = set(), set()
    trainer.unwrapped_model.classifier.register_forward_hook(lambda m, i, out: layer_dtypes.add(out.dtype))
    forward = trainer.forward

    def recording_forward(batch):
        outputs = forward(batch)
        output_dtypes.add(outputs["logits"].dtype)
        return outputs

    trainer.forward = recording_forward
    results = trainer.train()
    assert layer_dtypes == {torch.bfloat16}
    assert output_dtypes == {torch.float32}  # accelerate hands outputs back in fp32, so losses are computed in fp32
    assert all(p.dtype == torch.float32 for p in trainer.unwrapped_model.parameters())
    assert torch.isfinite(torch.tensor(results["loss"]))


@pytest.mark.parametrize("optimizer_name", ["adamw", "sgd"])  # fused on CPU/GPU, and the plain per-tensor loop
def test_updates_skipped_by_the_grad_scaler_do_not_advance_the_lr_schedule(tmp_path, text_data, optimizer_name):
    """A real GradScaler (on CPU) sees an overflowed gradient at updates 3 and 4, as fp16 would, and skips them.

    AdamW is fused (as on GPUs), which accelerate's own skipped-step flag cannot see."""
    trainer = build_trainer(str(tmp_path), text_data, max_steps=8, log_steps=1, max_grad_norm=None,
                            lr_scheduler="linear", save_enabled=False, optimizer=optimizer_name)
    scaler = torch.amp.GradScaler("cpu", init_scale=1.0, growth_interval=10_000)
    optimizer = AcceleratedOptimizer(trainer.optimizer.optimizer, device_placement=False, scaler=scaler)
    trainer.optimizer, trainer.accelerator.scaler, trainer.accelerator._optimizers = optimizer, scaler, [optimizer]
    scheduler = trainer.lr_scheduler.scheduler
    overflow_at, record = {3, 4}, []
    training_step, optimization_step = trainer.training_step, trainer.optimization_step

    def overflowing_step(batch):
        loss = training_step(batch)
        if trainer.state.global_step + 1 in overflow_at:
            next(trainer.unwrapped_model.parameters()).grad.view(-1)[0] = float("inf")
        return loss

    def recording_step():
        before = [p.detach().clone() for p in trainer.unwrapped_model.parameters()]
        optimization_step()
        # The skip decision is read from the device one update late (at the next optimizer step, or a log/save);
        # settling here reads it now, so the schedule can be checked update by update.
        trainer.scheduler_stepper.settle()
        changed = any(not torch.equal(a, b) for a, b in zip(before, trainer.unwrapped_model.parameters()))
        record.append((changed, scheduler.last_epoch, optimizer.param_groups[0]["lr"]))

    trainer.training_step, trainer.optimization_step = overflowing_step, recording_step
    trainer.train()
    assert len(record) == 8
    applied = 0
    for update, (changed, schedule_steps, _) in enumerate(record, start=1):
        skipped = update in overflow_at
        applied += not skipped
        assert changed == (not skipped) and schedule_steps == applied, record
    assert record[1][2] == record[2][2] == record[3][2]  # the LR waits while the updates are skipped
