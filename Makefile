# Two commands on a fresh machine:  `make demo` (a real training run on bundled data, CPU, a few minutes)
#                                   `make test` (the test suite; what .ci/run calls)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# DeepSpeed and transformers (which accelerate imports whenever DeepSpeed is on) get a venv of their own, layered on
# .venv: in .venv itself they would slow every other test process (evaluate imports transformers when it is installed,
# accelerate's unwrap_model imports deepspeed; measured +22% CPU time on tests/test_resume_exact.py).
DS_VENV  := $(VENV)/deepspeed
DS_BIN   := $(DS_VENV)/bin
DS_STAMP := $(DS_VENV)/.installed
DS_TESTS := tests/test_deepspeed.py tests/test_launch_mode.py tests/test_accelerate_configs.py
# DeepSpeed JIT-compiles its CPU comm op (g++, ~1 min) at the first engine start; kept with the venv, built at setup.
DS_ENV   := TORCH_EXTENSIONS_DIR=$(CURDIR)/$(DS_VENV)/torch_extensions PATH=$(CURDIR)/$(DS_BIN):$$PATH
export OMP_NUM_THREADS ?= 2
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup setup-deepspeed demo test test-deepspeed test-fast clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# Without a GPU, take the local CPU wheel first: a bare torch requirement would pull a multi-GB CUDA build.
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q torch==2.13.0; fi
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# A venv whose .pth adds .venv's site-packages (torch, accelerate, hezar_accel, pytest come from there), so pip only
# adds deepspeed, transformers and what they need on top.
$(DS_STAMP): $(STAMP)
	@command -v g++ >/dev/null 2>&1 || { echo "DeepSpeed on a CPU JIT-compiles a comm op with g++, which is missing: install it (apt-get install g++)"; exit 1; }
	$(PYTHON) -m venv $(DS_VENV)
	$(BIN)/python -c "import sysconfig; print('import site; site.addsitedir(%r)' % sysconfig.get_paths()['purelib'])" \
		> "$$($(DS_BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/hezar_accel_base_venv.pth"
	$(DS_BIN)/python -m pip install -q --upgrade pip
	$(DS_BIN)/python -m pip install -q -e ".[deepspeed]"
	$(DS_ENV) $(DS_BIN)/python -c "from deepspeed.accelerator import get_accelerator as a; a().create_op_builder('ShareMemCommBuilder').load()"
	touch $(DS_STAMP)

setup-deepspeed: $(DS_STAMP)

demo: setup
	$(BIN)/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
		scripts/train.py configs/sentiment_bert.yaml

test: setup setup-deepspeed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider
	$(MAKE) test-deepspeed

# The DeepSpeed tests (2-process ZeRO-3 on CPU) and the checks that need deepspeed installed (skipped in .venv).
test-deepspeed: setup-deepspeed
	OMP_NUM_THREADS=1 $(DS_ENV) $(DS_BIN)/python -m pytest -q -p no:cacheprovider $(DS_TESTS)

test-fast: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "not slow and not distributed"

clean:
	rm -rf outputs .pytest_cache
