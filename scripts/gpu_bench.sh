#!/usr/bin/env bash
# GPU benchmark: a BERT-base-shaped model (768 hidden, 12 layers, 12 heads) in bf16 on one CUDA device, the hezar_accel
# Trainer side by side with the hand-written PyTorch loop (scripts/benchmark.py). Prints train tokens/s and the
# ratios to raw; writes gpu_bench.json and gpu_bench.md into ${OUT:-/tmp}. Guarded: exits 0 with a message when no GPU
# is visible, and the whole run is capped below 6 minutes.
#
#   bash scripts/gpu_bench.sh            # PYTHON=/path/to/python to pick the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${OUT:-/tmp}"
mkdir -p "$OUT_DIR"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_bench: no CUDA device visible to $PYTHON (torch.cuda.is_available() is False); skipped"
    exit 0
fi
"$PYTHON" -c "import torch; print('gpu_bench:', torch.cuda.get_device_name(), 'torch', torch.__version__)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv || true

# 2 interleaved repetitions of 60 updates (15 warm-up) at batch 32; start-up/RSS children run once per repetition.
timeout --signal=INT --kill-after=15 330 "$PYTHON" scripts/benchmark.py \
    --preset base --device cuda --mixed-precision bf16 --threads 4 \
    --repeats 2 --max-steps 60 --warmup-steps 15 --batch-size 32 --eval-batch-size 64 --no-peers \
    --json "$OUT_DIR/gpu_bench.json" --markdown "$OUT_DIR/gpu_bench.md"

"$PYTHON" - "$OUT_DIR/gpu_bench.json" <<'PY'
import json, sys

report = json.load(open(sys.argv[1]))
for variant in ("raw", "hezar_accel"):
    tokens = report[variant]["train_tokens_per_s"]
    print(f"{variant:12s} train tokens/s (padded): median {tokens['median']:,.0f} "
          f"[{tokens['min']:,.0f}-{tokens['max']:,.0f}]")
print(f"train throughput ratio hezar_accel/raw: {report['train_throughput_ratio']:.3f}")
print(f"eval throughput ratio hezar_accel/raw:  {report['eval_throughput_ratio']:.3f}")
for name, target in report["targets"].items():
    print(f"  {name:9s} {target['shown']:>18s}  target {target['target']}: {'PASS' if target['pass'] else 'FAIL'}")
print(f"wrote {sys.argv[1]}")
PY
