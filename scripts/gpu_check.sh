#!/usr/bin/env bash
# One prepared GPU smoke check of the accelerate_configs/ (run ONCE on a lent GPU machine, from the repo root):
#
#   bash scripts/gpu_check.sh            # writes ${OUT:-/tmp}/gpu_check_summary.txt and ${OUT:-/tmp}/gpu_check/
#
# Steps (each guarded: a failure is recorded and the next step runs; a global deadline keeps the total < ~8 min):
#   0. setup: use the machine's own torch (never installs torch), `pip install --no-deps -e .`, check the deps
#   a. 1 GPU fp32            accelerate_configs/single_gpu.yaml
#   b. 1 GPU bf16            accelerate_configs/single_gpu.yaml --mixed_precision bf16
#   c. 1 GPU FSDP2           accelerate_configs/fsdp.yaml --num_processes 1
#   d. DeepSpeed ZeRO-2      accelerate_configs/deepspeed_zero2.yaml --num_processes 1 (pip install deepspeed transformers)
#   e. DeepSpeed ZeRO-3      only if time is left (checks the full model.pt gathered by stage3_gather_16bit_weights_on_model_save)
# Each run: configs/sentiment_bert.yaml, 1 epoch (95 updates of batch 32), eval + checkpoint at the end. The summary
# has per run: status, wall time, the "Device(s)" banner line, train.samples_per_second from the CSV log and the final
# evaluation line.
set -uo pipefail
cd "$(dirname "$0")/.."

OUTDIR="${OUT:-/tmp}"
WORK="$OUTDIR/gpu_check"
SUMMARY="$OUTDIR/gpu_check_summary.txt"
DEADLINE_S="${GPU_CHECK_BUDGET_S:-450}"   # total seconds for everything; steps that no longer fit are skipped
START=$(date +%s)
mkdir -p "$WORK"
: > "$SUMMARY"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}" PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR="$WORK/torch_extensions"
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || PY=python
ACC=("$PY" -m accelerate.commands.launch)
SCRIPT=scripts/train.py   # the training script run_one launches (the DeepSpeed workaround swaps in a wrapper)

say() { echo "$*" | tee -a "$SUMMARY"; }
elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( DEADLINE_S - $(elapsed) )); }

say "== gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)  (budget ${DEADLINE_S}s)"

# ---- 0. setup ---------------------------------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi 2>&1 | tee "$WORK/nvidia-smi.txt"
    say "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)"
else
    say "WARNING: no nvidia-smi: this is not a GPU machine; the runs below will fail or fall back to the CPU"
fi
# Never install torch here: the GPU machine's own CUDA build must stay (a bare requirement could pull a CPU wheel).
if ! "$PY" -c "import torch" 2>/dev/null; then
    say "FATAL: no torch in $PY; install the machine's CUDA build of torch first (not torch==2.13.0 CPU)."
    exit 1
fi
"$PY" - <<'EOF' 2>&1 | tee -a "$SUMMARY"
import sys, torch
print(f"python {sys.version.split()[0]}  torch {torch.__version__}  cuda {torch.version.cuda}  "
      f"cuda available {torch.cuda.is_available()}  bf16 {torch.cuda.is_available() and torch.cuda.is_bf16_supported()}")
EOF
# Our package without its dependencies (no network needed, torch untouched), then whatever deps are missing by name.
if ! timeout 120 "$PY" -m pip install -q --no-deps --no-build-isolation -e . >"$WORK/pip_install.log" 2>&1; then
    say "pip install -e . failed (see gpu_check/pip_install.log); using PYTHONPATH=$PWD"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
MISSING=$("$PY" - <<'EOF'
import importlib.util as u
mods = {"accelerate": "accelerate", "datasets": "datasets", "evaluate": "evaluate", "tokenizers": "tokenizers",
        "tqdm": "tqdm", "yaml": "pyyaml", "huggingface_hub": "huggingface_hub", "safetensors": "safetensors",
        "numpy": "numpy", "sklearn": "scikit-learn", "tensorboard": "tensorboard"}
print(" ".join(pkg for mod, pkg in mods.items() if u.find_spec(mod) is None))
EOF
)
if [ -n "$MISSING" ]; then
    say "missing deps: $MISSING -> pip install (needs network; torch is not touched)"
    timeout 180 "$PY" -m pip install -q --retries 0 --timeout 15 $MISSING >>"$WORK/pip_install.log" 2>&1 \
        || say "WARNING: installing [$MISSING] failed; runs needing them will fail"
fi
LOG_WITH=()
"$PY" -c "import tensorboard" 2>/dev/null || LOG_WITH=("trainer.log_with=null")
"$PY" -c "import accelerate, hezar_accel; print('accelerate', accelerate.__version__)" 2>&1 | tee -a "$SUMMARY"
say "setup done at $(elapsed)s"

# ---- one smoke training -----------------------------------------------------------------------------------------
# run_one NAME TIMEOUT_S [accelerate launch args ...] -- [extra recipe overrides ...]
run_one() {
    local name=$1 limit=$2; shift 2
    local launch=() extra=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do launch+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    extra=("$@")
    local remaining; remaining=$(left)
    if [ "$remaining" -lt 45 ]; then say "[$name] SKIPPED: only ${remaining}s of the budget left"; return 2; fi
    [ "$limit" -gt "$remaining" ] && limit=$remaining
    local dir="$WORK/runs/$name" log="$WORK/$name.log"
    rm -rf "$dir"
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout -k 15 "$limit" "${ACC[@]}" "${launch[@]}" "$SCRIPT" configs/sentiment_bert.yaml \
        trainer.num_epochs=1 trainer.device=cuda trainer.log_steps=10 trainer.show_progress_bar=false \
        trainer.save_total_limit=1 "trainer.output_dir=$dir" "${LOG_WITH[@]}" "${extra[@]}" >"$log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local wall; wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    local status=OK
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && status="TIMEOUT(${limit}s)"
    [ $rc -ne 0 ] && [ "$status" = OK ] && status="FAILED(rc=$rc)"
    local tput; tput=$("$PY" - "$dir" <<'EOF'
import csv, glob, statistics, sys
rows = []
for path in glob.glob(f"{sys.argv[1]}/logs/*/training_logs.csv"):
    with open(path, newline="") as f:
        rows += [float(r["train.samples_per_second"]) for r in csv.DictReader(f) if r.get("train.samples_per_second")]
if not rows:
    print("n/a")
else:  # the first window includes CUDA/cuDNN warm-up, so the median of the others is the steady number
    steady = rows[1:] or rows
    print(f"{statistics.median(steady):.0f} samples/s (median of {len(steady)} windows; first {rows[0]:.0f}, last {rows[-1]:.0f})")
EOF
)
    local device final err
    device=$(grep -m1 "Device(s)" "$log" | sed 's/.*: //')
    final=$(grep -m1 "^final evaluation" "$log")
    err=$(grep -E "Error|error:|Traceback" "$log" | grep -v "^\s*$" | tail -1 | cut -c1-300)
    say "[$name] $status  wall ${wall}s  device: ${device:-?}  train.samples_per_second: $tput"
    say "[$name]   ${final:-no final evaluation line}"
    [ "$status" != OK ] && say "[$name]   last error: ${err:-see gpu_check/$name.log}"
    if [ -d "$dir" ]; then  # keep logs and a file listing; drop weight blobs so $OUT stays small
        (cd "$dir" && find . -type f -printf "%10s %p\n" | sort -k2) >"$WORK/$name.files.txt"
        find "$dir" -type f -size +1M -delete
    fi
    return $rc
}

# ---- a-c ----------------------------------------------------------------------------------------------------------
run_one a_fp32 120 --config_file accelerate_configs/single_gpu.yaml
run_one b_bf16 120 --config_file accelerate_configs/single_gpu.yaml --mixed_precision bf16
run_one c_fsdp2 150 --config_file accelerate_configs/fsdp.yaml --num_processes 1

# ---- d/e: DeepSpeed -----------------------------------------------------------------------------------------------
ds_ready=0
if "$PY" -c "import deepspeed, transformers" 2>/dev/null; then
    ds_ready=1
elif [ "$(left)" -gt 120 ]; then
    say "installing deepspeed + transformers ..."
    if timeout 150 "$PY" -m pip install -q --retries 0 --timeout 15 deepspeed transformers >"$WORK/pip_deepspeed.log" 2>&1 \
        && "$PY" -c "import deepspeed, transformers" 2>/dev/null; then
        ds_ready=1
    else
        say "[d_zero2] SKIPPED: pip install deepspeed transformers failed ($(tail -1 "$WORK/pip_deepspeed.log" | cut -c1-200))"
    fi
else
    say "[d_zero2] SKIPPED: no time left to install deepspeed"
fi
if [ $ds_ready -eq 1 ]; then
    say "deepspeed $("$PY" -c 'import deepspeed; print(deepspeed.__version__)' 2>/dev/null)"
    run_one d_zero2 150 --config_file accelerate_configs/deepspeed_zero2.yaml --num_processes 1
    d_rc=$?
    if [ $d_rc -ne 0 ] && grep -q "is not an Optimizer" "$WORK/d_zero2.log"; then
        # Known Trainer bug (scheduler built on DeepSpeed's ZeRO optimizer): re-run with the workaround, so the config
        # itself is still checked on the GPU. The wrapper only changes what build_scheduler receives.
        say "[d_zero2] known Trainer bug (LR scheduler on DeepSpeedZeroOptimizer); re-running with a workaround wrapper"
        cat >"$WORK/ds_workaround.py" <<'EOF'
import runpy, sys
import torch
import hezar_accel.trainer.trainer as T
_build = T.build_scheduler
T.build_scheduler = lambda opt, *a, **k: _build(opt if isinstance(opt, torch.optim.Optimizer) else opt.optimizer, *a, **k)
sys.argv = ["scripts/train.py"] + sys.argv[1:]
runpy.run_path("scripts/train.py", run_name="__main__")
EOF
        SCRIPT="$WORK/ds_workaround.py"
        run_one d_zero2_workaround 150 --config_file accelerate_configs/deepspeed_zero2.yaml --num_processes 1
        if [ "$(left)" -gt 150 ]; then
            run_one e_zero3_workaround 150 --config_file accelerate_configs/deepspeed_zero3.yaml --num_processes 1
        else
            say "[e_zero3] SKIPPED: not enough time left"
        fi
        SCRIPT=scripts/train.py
    elif [ "$(left)" -gt 150 ]; then
        run_one e_zero3 150 --config_file accelerate_configs/deepspeed_zero3.yaml --num_processes 1
    else
        say "[e_zero3] SKIPPED: not enough time left"
    fi
fi

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=memory.used,memory.total --format=csv >>"$WORK/nvidia-smi.txt" 2>&1
say "== done in $(elapsed)s; logs in $WORK, summary in $SUMMARY"
exit 0
