"""Run the tiny text-classification training in its own process, optionally killing itself with SIGKILL.

    python tests/scripts/tiny_run.py OUTPUT DATA '{"num_epochs": 3, ...}' [--kill-at-step N] [--kill-in-save POINT --kill-save-step N]

--kill-at-step N: SIGKILL during the first micro-batch after update N (mid-step, mid-accumulation group).
--kill-in-save POINT: SIGKILL inside the save of step N at POINT (after_write, before_rename, after_rename).
Under `accelerate launch` every process runs this script; only the process with rank --kill-rank kills itself.
"""

import argparse
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tiny import build_trainer  # noqa: E402


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


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
    parser.add_argument("--evaluate-only", action="store_true", help="print the untrained model's evaluation as JSON")
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    dropout = overrides.pop("dropout", 0.1)
    trainer = build_trainer(args.output, args.data, dropout=dropout, **overrides)
    rank = trainer.accelerator.process_index
    print(f"WORLD {trainer.accelerator.num_processes} {trainer.accelerator.distributed_type}", flush=True)
    if args.kill_at_step is not None and rank == args.kill_rank:
        original = trainer.training_step

        def training_step(batch):
            if trainer.state.global_step == args.kill_at_step:
                die()
            return original(batch)

        trainer.training_step = training_step
    if args.evaluate_only:
        results = trainer.evaluate()
        if trainer.accelerator.is_main_process:
            os.makedirs(args.output, exist_ok=True)
            with open(os.path.join(args.output, "eval.json"), "w") as f:
                json.dump(results, f)
        print("DONE", 0, flush=True)
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
                os.kill(os.getpid(), getattr(signal, args.signal))
                if args.signal_twice:
                    os.kill(os.getpid(), getattr(signal, args.signal))
            return before_signal(batch)

        trainer.training_step = signalling_step
    if args.kill_in_save and rank == args.kill_rank:
        point, step = args.kill_in_save, args.kill_save_step

        def maybe_die(saving_step):
            if saving_step == step:
                die()

        trainer._save_hooks = {point: maybe_die}
    trainer.train()
    print("DONE", trainer.state.global_step, flush=True)


if __name__ == "__main__":
    main()
