"""Run the tiny text-classification training in its own process, optionally killing itself with SIGKILL.

    python tests/scripts/tiny_run.py OUTPUT DATA '{"num_epochs": 3, ...}' [--kill-at-step N] [--kill-in-save POINT --kill-save-step N]

--kill-at-step N: SIGKILL during the first micro-batch after update N (mid-step, mid-accumulation group).
--kill-in-save POINT: SIGKILL inside the save of step N at POINT (after_write, before_rename, after_rename).
--signal-at-step N --signal SIG [--signal-twice] [--signal-launcher-too]: send SIG during update N+1.
Under `accelerate launch` every process runs this script; only the process with rank --kill-rank kills itself.
--save-to DIR: Trainer.save the model folder into DIR after train() (all processes take part).
--record-rows: each process writes `rows_<rank>.json` in the output folder: per update, its epoch and the token ids of
    each row it trained on (a file, not stdout: a line over the pipe's atomic size could interleave with the other
    process's).
Overrides may also hold build_trainer's data_format / eval_format (🤗-style data, tests/tiny.py as_hf).
--force-fsdp-on-cpu: make an `accelerate launch --use_fsdp --fsdp_version 2 ...` run really use FSDP2 on CPU (gloo); see
force_fsdp_on_cpu.
"""

import argparse
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from host_reads import HostReads, quiet_steps  # noqa: E402
from tiny import build_trainer  # noqa: E402


def report(line: str) -> None:
    """One write per line: both processes share the launcher's stdout, and print() writes the text and its newline
    separately, so two processes' lines could interleave ("WORLD 2 ...WORLD 2 ...\n\n")."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


# Where --kill-in-save dies: the checkpoint function that runs right after that point of a save (on the background
# thread that seals it; a SIGKILL from any thread kills the whole process).
KILL_POINTS = {"after_write": "seal", "before_rename": "publish", "after_rename": "update_latest_pointer"}


def kill_inside_save(point: str, step: int) -> None:
    """SIGKILL this process at ``point`` of the save of ``step`` (see KILL_POINTS)."""
    from hezar_accel.trainer import checkpoint

    name = KILL_POINTS[point]
    original = getattr(checkpoint, name)

    def dying(root, step_or_folder, *args):
        folder_step = int(os.path.basename(os.path.normpath(step_or_folder))) if isinstance(step_or_folder, str) \
            else step_or_folder
        if folder_step == step:
            die()
        return original(root, step_or_folder, *args)

    setattr(checkpoint, name, dying)


def force_fsdp_on_cpu():
    """accelerate never selects FSDP on a CPU (it silently falls back to DDP or to 1 process); pretend a GPU-like
    backend that is gloo on the CPU (docs: notes/distributed_cpu.md section 2). FSDP2 only: FSDP1 segfaults on CPU.

    Must run before anything builds an Accelerator. The Trainer asks for ``Accelerator(cpu=True)`` on a CPU-only
    machine, and with ``cpu=True`` accelerate only creates the process group for MULTI_CPU, so it is created here.
    """
    import torch.distributed as dist
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    os.environ["ACCELERATE_TORCH_DEVICE"] = "cpu"
    PartialState._prepare_backend = lambda self, cpu=False, sagemaker_dp=False, backend=None: (
        "gloo", DistributedType.MULTI_GPU)
    if not dist.is_initialized():
        dist.init_process_group("gloo")


def record_rows(trainer) -> list:
    """Wrap ``training_step`` to record ``[epoch, [token ids of each row]]`` per micro-batch (padding left out)."""
    seen = []
    original = trainer.training_step

    def recording_step(batch):
        ids, mask = batch["token_ids"].cpu(), batch["attention_mask"].cpu().bool()
        seen.append([trainer.state.epoch, [row[keep].tolist() for row, keep in zip(ids, mask)]])
        return original(batch)

    trainer.training_step = recording_step
    return seen


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("data")
    parser.add_argument("overrides", nargs="?", default="{}")
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--kill-in-save")
    parser.add_argument("--kill-save-step", type=int)
    parser.add_argument("--kill-rank", type=int, default=0)
    parser.add_argument("--raise-at-step", type=int, help="raise an exception in --kill-rank only, at this step")
    parser.add_argument("--signal-at-step", type=int, help="send itself --signal during this update")
    parser.add_argument("--signal", default="SIGTERM")
    parser.add_argument("--signal-twice", action="store_true")
    parser.add_argument("--signal-launcher-too", action="store_true",
                        help="also send --signal to the parent launcher (as `pkill -f` or a batch scheduler would)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="evaluate and predict with the untrained model: eval.json, predict.json, predictions.jsonl")
    parser.add_argument("--force-fsdp-on-cpu", action="store_true", help="really use FSDP2 on CPU (gloo)")
    parser.add_argument("--save-to", help="after training, Trainer.save the model folder here")
    parser.add_argument("--record-rows", action="store_true",
                        help="write the rows each process trained on to rows_<rank>.json in the output folder")
    parser.add_argument("--count-host-reads", nargs=2, type=int, metavar=("LOG_STEPS", "SAVE_STEPS"),
                        help="print HOST_READS: what read tensor values between events (tests/host_reads.py)")
    args = parser.parse_args()
    if args.force_fsdp_on_cpu:
        force_fsdp_on_cpu()
    overrides = json.loads(args.overrides)
    dropout = overrides.pop("dropout", 0.1)
    trainer = build_trainer(args.output, args.data, dropout=dropout, **overrides)
    rank = trainer.accelerator.process_index
    report(f"WORLD {trainer.accelerator.num_processes} {trainer.accelerator.distributed_type}")
    fsdp = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    if fsdp is not None:
        report(f"FSDP version {fsdp.fsdp_version} {fsdp.state_dict_type} {type(trainer.model).__name__}")
    deepspeed = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    if deepspeed is not None:
        report(f"DeepSpeed ZeRO-{deepspeed.zero_stage} {type(trainer.model).__name__} "
               f"{type(trainer.optimizer.optimizer).__name__}")
    if args.kill_at_step is not None:
        original = trainer.training_step

        def training_step(batch):
            if trainer.state.global_step == args.kill_at_step:
                # Die after the last save is sealed (fsync + rename run on a background thread): a kill inside that
                # window falls back to the checkpoint before, which --kill-in-save tests on purpose.
                trainer.checkpointer.wait(all_processes=True)
                if rank == args.kill_rank:
                    die()
            return original(batch)

        trainer.training_step = training_step
    if args.evaluate_only:  # also predict: predictions.jsonl and predict.json (its metrics) beside eval.json
        results = trainer.evaluate()
        predicted = trainer.predict(trainer.eval_dataset, output_file=os.path.join(args.output, "predictions.jsonl"))
        if trainer.accelerator.is_main_process:
            os.makedirs(args.output, exist_ok=True)
            for name, content in (("eval.json", results), ("predict.json", predicted.metrics)):
                with open(os.path.join(args.output, name), "w") as f:
                    json.dump(content, f)
        report("DONE 0")
        return
    if args.raise_at_step is not None and rank == args.kill_rank:
        original_step = trainer.training_step

        def failing_step(batch):
            if trainer.state.global_step == args.raise_at_step:
                raise RuntimeError(f"injected failure on rank {rank} at step {args.raise_at_step}")
            return original_step(batch)

        trainer.training_step = failing_step
    if args.signal_at_step is not None and rank == args.kill_rank:
        before_signal = trainer.training_step

        def signalling_step(batch):
            if trainer.state.global_step == args.signal_at_step:
                if args.signal_launcher_too:
                    os.kill(os.getppid(), getattr(signal, args.signal))
                os.kill(os.getpid(), getattr(signal, args.signal))
                if args.signal_twice:
                    os.kill(os.getpid(), getattr(signal, args.signal))
            return before_signal(batch)

        trainer.training_step = signalling_step
    if args.kill_in_save and rank == args.kill_rank:
        kill_inside_save(args.kill_in_save, args.kill_save_step)
    seen = record_rows(trainer) if args.record_rows else None
    reads = HostReads(trainer.state).install() if args.count_host_reads else None
    trainer.train()
    if reads is not None:
        reads.uninstall()
        quiet = quiet_steps(trainer.plan, *args.count_host_reads)
        report(f"HOST_READS {json.dumps(sorted(reads.callers_at(quiet)))}")  # one write: the processes share stdout
    if seen is not None:
        with open(os.path.join(args.output, f"rows_{rank}.json"), "w", encoding="utf-8") as f:
            json.dump(seen, f)
    if args.save_to:  # as a user would, after train(): a collective under several processes
        trainer.save(args.save_to)
    report(f"DONE {trainer.state.global_step}")


if __name__ == "__main__":
    main()
