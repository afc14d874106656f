"""Attack a training run the way an attacker, a full disk or a careless user would, and count what happens.

    python tests/scripts/adversarial.py [--only NAME ...] [--skip-slow]

Each scenario damages a tiny real run (a payload in a checkpoint file, a deleted RNG file, a signal in the last
update, a full disk, a bad recipe, ...) and is classified as one of:

- handled: the run refused with one of the package's own errors (ConfigError, CheckpointError, DataError, ...)
  naming the problem, or did the right thing (a resume that is exact, a fallback that says so);
- crashed: a raw library error (RuntimeError, UnpicklingError, AttributeError, ...);
- silent: it went on with a wrong result and no error (code ran, a resume that is not exact, a lost log row).

The script uses only what every version of the package has (``tests/tiny.py``, ``tests/scripts/tiny_run.py``, the
recipe loader), so running it with ``PYTHONPATH`` pointing at an older checkout measures that version too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

from hezar_accel.errors import HezarAccelError  # noqa: E402
from resume_helpers import (complete_looking_checkpoints, csv_rows, final_weights,  # noqa: E402
                            killed_while_deleting, run)
from tiny import build_trainer, make_text_data  # noqa: E402


class Silent(Exception):
    """The scenario finished without an error, but its result is wrong."""


SCENARIOS = {}


def scenario(name: str, slow: bool = False):
    def register(fn):
        SCENARIOS[name] = (fn, slow)
        return fn
    return register


def quiet_train(trainer, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return trainer.train(**kwargs)


def finished_run(work: str, data: str, **overrides) -> str:
    output = os.path.join(work, "run")
    quiet_train(build_trainer(output, data, **{"num_epochs": 1, "save_steps": 2, "log_steps": 2, **overrides}))
    return output


def latest(output: str) -> str:
    folder = os.path.join(output, "checkpoints")
    return os.path.join(folder, sorted(n for n in os.listdir(folder) if n.isdigit())[-1])


def resume(output: str, data: str, path, **overrides):
    trainer = build_trainer(output, data, **{"num_epochs": 2, "save_steps": 2, "log_steps": 2, **overrides})
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.resume(path)
    return trainer


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def payload_in(file_name: str):
    def attack(work, data):
        output = finished_run(work, data)
        marker = os.path.join(work, "pwned")
        target = os.path.join(latest(output), file_name)
        torch.save({"state": RunsCode(marker)}, target)
        try:
            resume(output, data, latest(output))
        finally:
            if os.path.exists(marker):
                raise Silent(f"the payload in {file_name} ran")
        raise Silent(f"resumed from a checkpoint whose {file_name} holds a payload")
    return attack


for _name in ("accelerate/custom_checkpoint_0.pkl", "accelerate/random_states_0.pkl", "accelerate/optimizer.bin",
              "model.pt"):
    scenario(f"payload in {_name}")(payload_in(_name))


def damaged(file_name: str, spoil):
    def attack(work, data):
        output = finished_run(work, data)
        spoil(os.path.join(latest(output), file_name))
        resume(output, data, latest(output))
        raise Silent(f"resumed from a checkpoint with a damaged {file_name} without a word")
    return attack


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def garble(path):
    with open(path, "r+b") as f:
        f.seek(40)
        f.write(os.urandom(64))


def empty(path):
    open(path, "wb").close()


def garble_yaml(path):
    with open(path, "wb") as f:
        f.write(b"global_step: [8\n\xff\xfe epoch: {")


scenario("deleted random_states_0.pkl")(damaged("accelerate/random_states_0.pkl", os.remove))
scenario("garbled random_states_0.pkl")(damaged("accelerate/random_states_0.pkl", garble))
scenario("truncated model.pt")(damaged("model.pt", truncate))
scenario("empty model.pt")(damaged("model.pt", empty))
scenario("garbled trainer_state.yaml")(damaged("train/trainer_state.yaml", garble_yaml))
scenario("missing optimizer.bin")(damaged("accelerate/optimizer.bin", os.remove))


@scenario("resume true over a truncated newest checkpoint")
def fallback(work, data):
    output = finished_run(work, data)
    truncate(os.path.join(latest(output), "model.pt"))
    trainer = resume(output, data, True)
    if trainer.state.global_step != 6:
        raise Silent(f"resumed at step {trainer.state.global_step}, not from the newest intact checkpoint (6)")


@scenario("gradient accumulation 1 -> 2 at the new run's last step")
def accumulation_changed(work, data):
    output = finished_run(work, data)
    trainer = build_trainer(output, data, num_epochs=2, gradient_accumulation_steps=2)
    quiet_train(trainer, resume_from_checkpoint=True)
    raise Silent(f"'finished' at step {trainer.state.global_step} without training the changed run")


@scenario("extend a finished run (num_epochs 1 -> 2) with a linear schedule")
def extended(work, data):
    output = finished_run(work, data, lr_scheduler="linear")
    before = final_weights(output)
    trainer = build_trainer(output, data, num_epochs=2, save_steps=2, log_steps=2, lr_scheduler="linear")
    quiet_train(trainer, resume_from_checkpoint=True)
    after = final_weights(output)
    if all(torch.equal(before[k], after[k]) for k in before):
        raise Silent("the added epoch trained at learning rate 0: weights unchanged")


@scenario("torch_compile: true")
def compiled(work, data):
    compile_ = torch.compile
    torch.compile = lambda model, **kw: compile_(model, backend="eager")
    try:
        output = finished_run(work, data, torch_compile=True, load_best_model_at_end=True)
    finally:
        torch.compile = compile_
    from hezar_accel.models import Model

    Model.load(latest(output))


@scenario("kill in the middle of pruning")
def torn_prune(work, data):
    from hezar_accel.trainer import checkpoint as ckpt

    root = os.path.join(work, "checkpoints")
    complete_looking_checkpoints(root)
    with killed_while_deleting(), contextlib.suppress(KeyboardInterrupt):
        ckpt.prune(root, keep_last=1)
    torn = [f for f in ckpt.list_checkpoints(root) if not os.path.exists(os.path.join(f, "model.pt"))]
    if torn:
        raise Silent(f"{torn[0]} is listed as complete with model.pt missing")


BASE = {"num_epochs": 2, "save_steps": 5, "log_steps": 2}


@scenario("SIGTERM in the last update, then resume", slow=True)
def sigterm_last(work, data):
    reference, out = os.path.join(work, "reference"), os.path.join(work, "out")
    run(reference, data, BASE)
    run(out, data, BASE, "--signal-at-step", 15, "--signal", "SIGTERM", expect_code=75)
    run(out, data, {**BASE, "resume_from_checkpoint": True})
    if csv_rows(out) != csv_rows(reference):
        raise Silent("the resumed run's log differs (the final evaluation row is missing)")


@scenario("SIGINT to the launcher and a worker of a 2-process launch", slow=True)
def sigint_launcher(work, data):
    out = os.path.join(work, "out")
    log = run(out, data, BASE, "--signal-at-step", 2, "--signal", "SIGINT", "--signal-launcher-too", processes=2,
              expect_code="nonzero")
    if "Received SIGINT" not in log:
        raise RuntimeError("aborted without a checkpoint: " + log.strip().splitlines()[-1][:200])


class Skip(Exception):
    """The scenario cannot run on this machine."""


REPO = os.path.dirname(os.path.dirname(HERE))


def deepspeed_launch(config_name: str) -> list[str]:
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        raise Skip("deepspeed is not installed here (run with .venv/deepspeed/bin/python)")
    return ["--config_file", os.path.join(REPO, "accelerate_configs", config_name)]


@scenario("accelerate_configs/deepspeed_zero2.yaml on a machine without a GPU", slow=True)
def zero2_without_gpu(work, data):
    flags = deepspeed_launch("deepspeed_zero2.yaml")
    cwd = os.getcwd()
    os.chdir(REPO)  # the launch config names its JSON relative to the repository
    try:
        log = run(os.path.join(work, "out"), data, {"num_epochs": 1}, processes=2, launch_flags=flags)
    finally:
        os.chdir(cwd)
    if "DistributedType.DEEPSPEED" not in log:
        raise Silent("ran as " + next((line for line in log.splitlines() if line.startswith("WORLD")), "?"))


@scenario("ZeRO-3 with load_best_model_at_end", slow=True)
def zero3_best(work, data):
    flags = deepspeed_launch("deepspeed_zero3.yaml")
    out, saved = os.path.join(work, "out"), os.path.join(work, "saved")
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        run(out, data, {"num_epochs": 2, "save_steps": 3, "dropout": 0.0, "optimizer": "sgd",
                        "load_best_model_at_end": True, "greater_is_better": True}, "--save-to", saved,
            processes=2, launch_flags=flags)
    finally:
        os.chdir(cwd)
    from hezar_accel.models.model import read_state_dict
    from hezar_accel.trainer.checkpoint import read_state

    best = os.path.join(out, "checkpoints", read_state(latest(out)).best_checkpoint)
    a, b = read_state_dict(os.path.join(saved, "model.pt")), read_state_dict(os.path.join(best, "model.pt"))
    if not all(torch.equal(a[k], b[k]) for k in a):
        raise Silent("said it loaded the best weights but kept the last ones")


def disk_full(size_kib: int):
    def attack(work, data):
        disk = os.path.join(work, "disk")
        os.makedirs(disk)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", disk],
                          capture_output=True).returncode != 0:
            raise Skip("cannot mount a small tmpfs here")
        try:
            finished_run(disk, data, logs_dir=os.path.join(work, "logs"))
        finally:
            subprocess.run(["umount", "-l", disk], capture_output=True)  # lazy: a failed run may still hold a file
        raise Silent("no error although the disk was full")
    return attack


for _size in (700, 800, 880, 960, 1040, 1100):
    scenario(f"disk full ({_size} KiB tmpfs)")(disk_full(_size))


def write(path: str, content: bytes) -> str:
    with open(path, "wb") as f:
        f.write(content)
    return path


def recipe_attack(content: bytes):
    def attack(work, data):
        try:
            from hezar_accel.recipe import load_recipe
        except ImportError:  # versions before the recipe left the trainer package
            from hezar_accel.trainer.recipe import load_recipe

        recipe = load_recipe(write(os.path.join(work, "recipe.yaml"), content))
        raise Silent(f"loaded as {str(recipe)[:80]}")
    return attack


scenario("recipe whose top level is a list")(recipe_attack(b"- trainer\n- model\n"))
scenario("recipe that is not UTF-8")(recipe_attack("trainer:\n  output_dir: خروجی\n".encode("utf-16")))
scenario("recipe with a duplicate key")(recipe_attack(b"trainer:\n  batch_size: 8\n  batch_size: 64\n"))


@scenario("learning_rate: .inf")
def infinite_lr(work, data):
    from hezar_accel.trainer import TrainerConfig

    TrainerConfig(output_dir=work, task="text_classification", num_epochs=1, learning_rate=float("inf"))
    raise Silent("an infinite learning rate passed validation")


def csv_attack(rows: str, what: str):
    def attack(work, data):
        from hezar_accel.data import Dataset

        folder = os.path.join(work, "data")
        shutil.copytree(data, folder)
        write(os.path.join(folder, "train.csv"), ("text,label\n" + rows).encode())
        dataset = Dataset.load(folder, split="train", tokenizer_path=os.path.join(folder, "tokenizer"))
        labels = list(dataset.config.id2label.values())
        raise Silent(f"{what} loaded (labels {labels})")
    return attack


scenario("empty text cell")(csv_attack("عالی خوبه,happy\n,sad\nغمگین بد,sad\n", "an empty text"))
scenario("empty label cell")(csv_attack("عالی خوبه,happy\nغمگین,\nغمگین بد,sad\n", "an empty label"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="run only scenarios whose name contains one of these")
    parser.add_argument("--skip-slow", action="store_true", help="skip the scenarios that launch subprocesses")
    args = parser.parse_args()
    counts = {"handled": 0, "crashed": 0, "silent": 0, "skipped": 0}
    with tempfile.TemporaryDirectory() as root:
        data = make_text_data(os.path.join(root, "data"))
        for index, (name, (attack, slow)) in enumerate(SCENARIOS.items()):
            if (args.only and not any(o in name for o in args.only)) or (slow and args.skip_slow):
                continue
            work = os.path.join(root, f"s{index}")
            os.makedirs(work)
            verdict, detail = classify(attack, work, data)
            counts[verdict] += 1
            print(f"{verdict:8} | {name:62} | {detail[:150]}", flush=True)
    tried = sum(v for k, v in counts.items() if k != "skipped")
    print(f"\ntried {tried}: handled {counts['handled']} / crashed {counts['crashed']} / silent {counts['silent']}"
          f" (skipped {counts['skipped']})")
    return 0


def classify(attack, work: str, data: str) -> tuple[str, str]:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            attack(work, data)
    except Skip as e:
        return "skipped", str(e)
    except Silent as e:
        return "silent", str(e)
    except HezarAccelError as e:
        return "handled", f"{type(e).__name__}: {' '.join(str(e).split())}"
    except AssertionError as e:  # a subprocess that did not end as a clear refusal or an exact stop
        return "crashed", " ".join(str(e).split())[-150:]
    except BaseException as e:  # noqa: BLE001 - the point is to see what escapes
        frame = traceback.extract_tb(e.__traceback__)[-1]
        return "crashed", f"{type(e).__name__}: {' '.join(str(e).split())} ({os.path.basename(frame.filename)})"
    return "handled", "ok"


if __name__ == "__main__":
    sys.exit(main())
