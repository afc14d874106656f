"""The parts of scripts/benchmark.py: workload, timing, raw loop, Trainer runs, fresh processes, peers, report."""
