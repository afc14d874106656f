"""Count what reads tensor values to the host during training, by update: on a GPU each such read waits for the device.

DESIGN promise 3: no host sync inside a training step. Reads belong at log, evaluation and save points; between them
an update may read nothing from the device.
"""

from __future__ import annotations

import collections
import sys

import torch

# Python-level ways to read a tensor's value into Python (each one a device sync on a GPU).
READERS = ("item", "tolist", "__bool__", "__float__", "__int__")


class HostReads:
    """While installed, records ``(global step, calling function, tensor device)`` for every value read of a tensor.

    Args:
        state: the trainer state whose ``global_step`` labels each read.
    """

    def __init__(self, state):
        self.state = state
        self.reads: dict[int, list[tuple[str, str]]] = collections.defaultdict(list)
        self._originals = {}

    def install(self) -> "HostReads":
        for name in READERS:
            original = getattr(torch.Tensor, name)
            self._originals[name] = original
            setattr(torch.Tensor, name, self._recording(original))
        return self

    def uninstall(self) -> None:
        for name, original in self._originals.items():
            setattr(torch.Tensor, name, original)

    def _recording(self, original):
        def read(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_name
            self.reads[self.state.global_step].append((caller, str(tensor.device)))
            return original(tensor, *args, **kwargs)
        return read

    def callers_at(self, steps) -> set[tuple[str, str]]:
        """Every (caller, device) that read a value while ``global_step`` was one of ``steps``."""
        return {read for step in steps for read in self.reads.get(step, [])}


def quiet_steps(plan, log_steps: int, save_steps: int) -> list[int]:
    """Steps after which no event is due (no log, save, evaluation or epoch end) and before the run's last update:
    the reads labelled with such a step come from the next update alone (plus the stop-signal poll after it)."""
    events = {s for s in range(1, plan.total_steps + 1)
              if s % log_steps == 0 or s % save_steps == 0 or s % plan.steps_per_epoch == 0}
    return [s for s in range(1, plan.total_steps) if s not in events]
