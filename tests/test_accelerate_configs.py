"""The launch configs in accelerate_configs/ parse with accelerate's own code and mean what their comments say.

Everything here runs on a CPU, offline, in a few seconds: each YAML goes through accelerate's config parser
(``load_config_from_file``) and through ``accelerate launch``'s argument handling (the launch line written in the
file's header is parsed and validated as the CLI would), the FSDP and DeepSpeed plugins are built from the exact
environment the launcher would hand its workers, and the DeepSpeed JSONs are validated by DeepSpeed itself when it is
installed (``pip install -e ".[deepspeed]"``). Nothing is launched: real runs are in accelerate_configs/README.md.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

pytest.importorskip("accelerate")

from accelerate.commands.config.config_args import load_config_from_file  # noqa: E402
from accelerate.commands.launch import _validate_launch_command, launch_command_parser  # noqa: E402
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin  # noqa: E402
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env  # noqa: E402

from hezar_accel.trainer.config import TrainerConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "accelerate_configs"
RECIPE = "configs/sentiment_bert.yaml"

# file -> (distributed_type, num_processes, num_machines, mixed_precision in the YAML (None = left to the launch line))
EXPECTED = {
    "cpu.yaml": (DistributedType.MULTI_GPU, 2, 1, "no"),
    "single_gpu.yaml": (DistributedType.NO, 1, 1, "no"),
    "multi_gpu.yaml": (DistributedType.MULTI_GPU, 2, 1, "bf16"),
    "fsdp.yaml": (DistributedType.FSDP, 2, 1, "bf16"),
    "deepspeed_zero2.yaml": (DistributedType.DEEPSPEED, 2, 1, None),
    "deepspeed_zero3.yaml": (DistributedType.DEEPSPEED, 2, 1, None),
    "multi_node.yaml": (DistributedType.MULTI_GPU, 16, 2, "bf16"),
}
DS_JSON = {"deepspeed_zero2.yaml": ("ds_zero2.json", 2), "deepspeed_zero3.yaml": ("ds_zero3.json", 3)}
# With a deepspeed_config_file, accelerate's workers refuse these keys in the YAML (DeepSpeedPlugin._deepspeed_config_checks).
DS_KEYS_REFUSED_WITH_JSON = ("mixed_precision", "zero_stage", "gradient_clipping", "gradient_accumulation_steps",
                             "offload_optimizer_device", "offload_param_device", "offload_param_nvme_path",
                             "offload_optimizer_nvme_path", "zero3_save_16bit_model")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Run from the repo root (the YAMLs hold repo-relative paths) and restore os.environ whatever a plugin sets."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("ACCELERATE_", "FSDP_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(ROOT)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _header(name: str) -> str:
    """The comment block that opens the file."""
    lines = []
    for line in (CONFIG_DIR / name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return "\n".join(lines)


def _launch_lines(name: str) -> list[str]:
    """The `accelerate launch ...` commands of the header (the part from `accelerate` or an env assignment on)."""
    found = re.findall(r"((?:[A-Z_]+=\S+ )*accelerate launch --config_file \S+.*)$", _header(name), flags=re.M)
    return [line.strip() for line in found]


def _validated_args(launch_line: str):
    """What `accelerate launch` makes of a launch line: (args, config defaults, mixed-precision-from-config flag)."""
    words = shlex.split(launch_line)
    env = [w for w in words[: words.index("accelerate")] if "=" in w]
    argv = words[words.index("launch") + 1:]
    args = launch_command_parser().parse_args(argv)
    return (*_validate_launch_command(args), dict(w.split("=", 1) for w in env))


def _apply_worker_env(monkeypatch, env: dict) -> None:
    for key, value in env.items():
        if key.startswith(("ACCELERATE_", "FSDP_")):
            monkeypatch.setenv(key, value)


def test_every_config_file_is_covered():
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == sorted(EXPECTED)
    assert sorted(p.name for p in CONFIG_DIR.glob("*.json")) == sorted(j for j, _ in DS_JSON.values())
    readme = (CONFIG_DIR / "README.md").read_text(encoding="utf-8")
    for name in [*EXPECTED, *(j for j, _ in DS_JSON.values())]:
        assert name in readme, f"accelerate_configs/README.md does not mention {name}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parses_with_accelerates_parser(name):
    config = load_config_from_file(str(CONFIG_DIR / name))  # also rejects unknown top-level keys
    distributed_type, num_processes, num_machines, mixed_precision = EXPECTED[name]
    assert config.distributed_type == distributed_type
    assert config.num_processes == num_processes
    assert config.num_machines == num_machines
    assert config.mixed_precision == mixed_precision
    assert config.compute_environment.value == "LOCAL_MACHINE"
    if num_machines == 1 and num_processes > 1:
        assert config.main_process_port == 0, "single-machine configs pick a free port (no collisions)"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_header_launch_line_and_a_comment_on_every_setting(name):
    lines = _launch_lines(name)
    assert lines, f"{name}: the header has no `accelerate launch --config_file ...` line"
    for line in lines:
        assert f"--config_file accelerate_configs/{name} " in line
        assert f"scripts/train.py {RECIPE}" in line
    for number, line in enumerate((CONFIG_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            assert "#" in line, f"{name}:{number}: setting without a comment: {line!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_launch_line_is_what_accelerate_launch_accepts(name):
    """The header's command goes through `accelerate launch`'s parser and validation unchanged."""
    for line in _launch_lines(name):
        args, defaults, _, env = _validated_args(line)
        distributed_type, num_processes, _, mixed_precision = EXPECTED[name]
        assert args.num_processes == num_processes
        assert args.mixed_precision == (mixed_precision or "no")
        assert args.use_fsdp == (distributed_type == DistributedType.FSDP)
        assert args.use_deepspeed == (distributed_type == DistributedType.DEEPSPEED)
        assert args.multi_gpu == (distributed_type == DistributedType.MULTI_GPU)
        assert args.training_script == "scripts/train.py" and args.training_script_args[0] == RECIPE
        assert Path(args.training_script_args[0]).is_file()
        # Nested keys are copied onto argparse names without any check: a typo would be silently ignored.
        known = vars(launch_command_parser().parse_args(["x.py"]))
        for key in [*defaults.fsdp_config, *defaults.deepspeed_config]:
            assert key in known, f"{name}: `{key}` is not an `accelerate launch` option (typo?)"


def test_cpu_config_needs_the_cpu_env_variable():
    """MULTI_GPU + ACCELERATE_USE_CPU=1 is the only YAML route to 2 real CPU processes (shared/notes/distributed_cpu.md)."""
    header = _header("cpu.yaml")
    assert "MULTI_CPU" in header and "ACCELERATE_USE_CPU=1 MUST BE IN THE LAUNCH LINE" in header
    (line,) = _launch_lines("cpu.yaml")
    args, _, _, env = _validated_args(line)
    assert env == {"ACCELERATE_USE_CPU": "1"}
    assert args.multi_gpu and not args.cpu and args.num_processes == 2  # the torchrun launcher, 2 workers


def test_multi_node_launch_lines_one_per_machine():
    lines = _launch_lines("multi_node.yaml")
    assert len(lines) == 2
    for rank, line in enumerate(lines):
        args, _, _, _ = _validated_args(line)
        assert int(args.machine_rank) == rank
        prepare_multi_gpu_env(args)  # what the launcher hands torchrun
        assert (args.nnodes, args.nproc_per_node, args.node_rank) == ("2", "8", rank)
        # accelerate passes either --rdzv_endpoint or --master_addr/--master_port (same_network); both meet at rank 0.
        endpoint = getattr(args, "rdzv_endpoint", None) or f"{args.master_addr}:{args.master_port}"
        assert endpoint == "10.0.0.1:29500"
        assert args.rdzv_backend == "static"


def _fsdp_plugin(monkeypatch, extra_flags=()):
    line = f"accelerate launch --config_file accelerate_configs/fsdp.yaml {' '.join(extra_flags)} scripts/train.py {RECIPE}"
    args, _, _, _ = _validated_args(line)
    _apply_worker_env(monkeypatch, prepare_multi_gpu_env(args))
    try:
        return FullyShardedDataParallelPlugin()  # reads the FSDP_* variables, as in a worker
    except RuntimeError as e:
        if "no available devices" in str(e):
            pytest.skip(f"FullyShardedDataParallelPlugin needs an accelerator here: {e}")
        raise


def test_fsdp_plugin_from_fsdp_yaml(monkeypatch):
    from torch.distributed.fsdp import FullStateDictConfig, ShardedStateDictConfig, StateDictType
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

    config = load_config_from_file(str(CONFIG_DIR / "fsdp.yaml"))
    assert config.fsdp_config["fsdp_version"] == 2
    plugin = _fsdp_plugin(monkeypatch)
    assert plugin.fsdp_version == 2
    assert plugin.reshard_after_forward is True
    assert plugin.state_dict_type == StateDictType.SHARDED_STATE_DICT
    assert isinstance(plugin.state_dict_config, ShardedStateDictConfig)
    assert plugin.auto_wrap_policy is transformer_auto_wrap_policy
    assert plugin.transformer_cls_names_to_wrap == ["BertLayer"]
    assert plugin.cpu_ram_efficient_loading is True
    assert plugin.activation_checkpointing is False
    # The commented alternative: FULL_STATE_DICT through the launch flag.
    full = _fsdp_plugin(monkeypatch, ["--fsdp_state_dict_type", "FULL_STATE_DICT"])
    assert full.state_dict_type == StateDictType.FULL_STATE_DICT
    assert isinstance(full.state_dict_config, FullStateDictConfig)


def test_fsdp_wrap_class_exists_in_the_recipe_model(monkeypatch):
    """fsdp_transformer_layer_cls_to_wrap names a class of the BERT the launch line trains (else prepare() raises)."""
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy

    from hezar_accel.models import BertTextClassification, BertTextClassificationConfig

    plugin = _fsdp_plugin(monkeypatch)
    fields = {k: v for k, v in yaml.safe_load((ROOT / RECIPE).read_text(encoding="utf-8"))["model"].items() if k != "name"}
    model = BertTextClassification(BertTextClassificationConfig(**fields, id2label={0: "a", 1: "b"}, vocab_size=50))
    policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
    wrapped = [m for m in model.modules() if policy(m)]
    assert len(wrapped) == fields["num_hidden_layers"]
    assert {type(m).__name__ for m in wrapped} == {"BertLayer"}


@pytest.mark.parametrize("name", sorted(DS_JSON))
def test_deepspeed_plugin_from_yaml_and_json(name, monkeypatch):
    json_name, stage = DS_JSON[name]
    config = load_config_from_file(str(CONFIG_DIR / name))
    assert config.deepspeed_config["deepspeed_config_file"] == f"accelerate_configs/{json_name}"
    assert not set(DS_KEYS_REFUSED_WITH_JSON) & set(config.deepspeed_config)
    (line,) = _launch_lines(name)
    args, defaults, mp_from_config, _ = _validated_args(line)
    # What launch_command() does before deepspeed_launcher(): the fields the workers' plugin checks.
    args.deepspeed_fields_from_accelerate_config = ",".join(
        [*defaults.deepspeed_config, *(["mixed_precision"] if mp_from_config else [])])
    _, env = prepare_deepspeed_cmd_env(args)
    _apply_worker_env(monkeypatch, env)
    plugin = DeepSpeedPlugin()  # as a worker builds it: from ACCELERATE_DEEPSPEED_CONFIG_FILE and the checks
    assert plugin.zero_stage == stage
    assert plugin.gradient_clipping == 1.0
    assert plugin.zero3_init_flag is False
    assert plugin.zero3_save_16bit_model is (stage == 3)
    ds = plugin.deepspeed_config
    for key in ("train_micro_batch_size_per_gpu", "train_batch_size", "gradient_accumulation_steps"):
        assert ds[key] == "auto", f"{json_name}: {key} should be auto (filled from the Trainer's batch size)"
    plugin.set_mixed_precision("bf16")  # what `--mixed_precision bf16` on the launch line does
    assert ds["bf16"]["enabled"] is True and ds["fp16"]["enabled"] is False


@pytest.mark.parametrize("json_name", sorted(j for j, _ in DS_JSON.values()))
def test_deepspeed_json_clipping_matches_trainer_default(json_name):
    data = json.loads((CONFIG_DIR / json_name).read_text(encoding="utf-8"))
    default_max_grad_norm = TrainerConfig.__dataclass_fields__["max_grad_norm"].default
    assert data["gradient_clipping"] == default_max_grad_norm == 1.0
    assert "optimizer" not in data and "scheduler" not in data  # the Trainer builds both
    if data["zero_optimization"]["stage"] == 3:
        assert data["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.parametrize("json_name", sorted(j for j, _ in DS_JSON.values()))
@pytest.mark.parametrize("mixed_precision", ["no", "bf16", "fp16"])
def test_deepspeed_json_validates_with_deepspeed(json_name, mixed_precision):
    pytest.importorskip("deepspeed", reason="deepspeed not installed (pip install -e '.[deepspeed]')")
    from deepspeed.runtime.config import DeepSpeedConfig

    plugin = DeepSpeedPlugin(hf_ds_config=str(CONFIG_DIR / json_name))
    plugin.set_mixed_precision(mixed_precision)
    # The values accelerate fills in at prepare() for one process, batch 32, no accumulation.
    plugin.deepspeed_config_process(must_match=False, train_micro_batch_size_per_gpu=32, train_batch_size=32,
                                    gradient_accumulation_steps=1)
    resolved = copy.deepcopy(plugin.deepspeed_config)
    resolved["steps_per_print"] = 10 ** 9  # accelerate sets inf, which DeepSpeed's int field would reject here
    assert "auto" not in json.dumps(resolved)
    ds = DeepSpeedConfig(resolved)  # pydantic validation: unknown keys, bad values, batch arithmetic
    assert ds.zero_optimization_stage == int(json_name[len("ds_zero")])
    assert ds.gradient_clipping == 1.0
    assert ds.bfloat16_config.enabled == (mixed_precision == "bf16")
    assert ds.float16_config.enabled == (mixed_precision == "fp16")
