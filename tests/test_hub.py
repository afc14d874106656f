"""Push to and load from the Hub, against a real local HTTP server speaking the Hub API (tests/hub_server.py).

Nothing of hezar_accel is mocked: ``huggingface_hub`` talks HTTP to 127.0.0.1 (``HF_ENDPOINT``), with its cache and
home in a temporary folder. The module runs top to bottom: pushes and online loads first, then ``HF_HUB_OFFLINE=1``.
"""

import csv
import glob
import importlib
import os
import secrets
import shutil

import pytest
import torch
import yaml

from hub_server import start_hub_server, stop_hub_server
from tiny import build_trainer

TOKEN = "hf_test_" + secrets.token_hex(12)
ENV_KEYS = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_XET")


def _reload_hub_constants():
    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)  # ENDPOINT, cache folders and offline mode are read at import


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("hub_tests")


@pytest.fixture(scope="module")
def hub(root):
    """The local Hub server plus an environment pointing huggingface_hub at it (restored at teardown)."""
    server = start_hub_server(str(root / "server"))
    home = root / "hf_home"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in zip(ENV_KEYS, (server.endpoint, str(home), str(home / "hub"), "0", "1", "1")):
            mp.setenv(key, value)
        for key in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HUGGINGFACE_HUB_CACHE"):
            mp.delenv(key, raising=False)
        _reload_hub_constants()
        try:
            yield server
        finally:
            stop_hub_server(server)
    _reload_hub_constants()


@pytest.fixture
def offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def eval_inputs(trainer, n=4):
    batch = trainer.data_collator([trainer.eval_dataset[i] for i in range(n)])
    return {k: v for k, v in batch.items() if k != "labels"}


@pytest.fixture(scope="module")
def pushed_model(hub, root, text_data):
    """A tiny trained model pushed with Trainer.push_to_hub, then loaded back with Model.load(repo_id)."""
    from hezar_accel.models import Model

    trainer = build_trainer(str(root / "run_pushed"), text_data, num_epochs=2)
    trainer.train()
    url = trainer.push_to_hub("user/tiny-bert", token=TOKEN)
    return trainer, url, Model.load("user/tiny-bert")


def test_trainer_push_then_model_load_gives_identical_logits_and_predicts(hub, pushed_model):
    trainer, url, loaded = pushed_model
    assert hub.server.server_address[0] == "127.0.0.1" and url.startswith(f"{hub.endpoint}/user/tiny-bert/commit/")
    files = hub.files("user/tiny-bert")
    for name in ("model_config.yaml", "model.pt", "preprocessor/tokenizer.json", "preprocessor/tokenizer_config.yaml",
                 "train/train_config.yaml", "train/dataset_config.yaml"):
        assert name in files, name
    assert f"Bearer {TOKEN}" in hub.authorizations
    inputs = eval_inputs(trainer)
    trainer.unwrapped_model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(**inputs)["logits"], trainer.unwrapped_model(**inputs)["logits"])
    predictions = loaded.predict(["خیلی خوشحالم", "ناراحتم"])
    assert {p["label"] for p in predictions} <= set(trainer.unwrapped_model.config.id2label.values())


def test_a_pushed_model_folder_carries_a_model_card_with_its_metrics(hub, pushed_model):
    trainer = pushed_model[0]
    card = hub.files("user/tiny-bert")["README.md"].decode("utf-8")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "hezar_accel" and front["language"] == "fa"
    assert front["metrics"] == ["accuracy", "f1"] and "bert_text_classification" in front["tags"]
    last = trainer.state.log_history[-1]
    assert "| f1 | " in card and f"last (step {last['step']})" in card
    assert 'Model.load("user/tiny-bert")' in card


@pytest.fixture(scope="module")
def pushed_tokenizer(hub, pushed_model):
    from hezar_accel.preprocessors import Preprocessor

    tokenizer = pushed_model[0].unwrapped_model.preprocessor
    tokenizer.push_to_hub("user/tokenizer", token=TOKEN)
    return tokenizer, Preprocessor.load("user/tokenizer")


def test_preprocessor_push_and_load(hub, pushed_tokenizer):
    original, loaded = pushed_tokenizer
    assert set(hub.files("user/tokenizer")) == {".gitattributes", "preprocessor/tokenizer.json",
                                                "preprocessor/tokenizer_config.yaml"}
    texts = ["عالی بود امروز", "غمگین و خسته"]
    assert loaded(texts)["token_ids"] == original(texts)["token_ids"]
    assert loaded.config.to_dict() == original.config.to_dict()


def test_config_push_and_load(hub, pushed_model):
    from hezar_accel.configs import ModelConfig

    config = pushed_model[0].unwrapped_model.config
    config.push_to_hub("user/config-only", token=TOKEN, subfolder="configs")
    assert set(hub.files("user/config-only")) == {".gitattributes", "configs/model_config.yaml"}
    assert ModelConfig.load("user/config-only", subfolder="configs").to_dict() == config.to_dict()


@pytest.fixture(scope="module")
def pushed_dataset(hub, root, text_data, pushed_tokenizer):
    """The tiny dataset folder pushed as a dataset repo (train CSV, test as Parquet, dataset_config.yaml)."""
    import datasets

    from hezar_accel.data import Dataset
    from hezar_accel.hub import upload_folder_to_hub

    folder = root / "dataset_repo"
    folder.mkdir()
    for name in ("train.csv", "dataset_config.yaml"):
        shutil.copy(os.path.join(text_data, name), folder / name)
    datasets.Dataset.from_csv(os.path.join(text_data, "test.csv")).to_parquet(str(folder / "test.parquet"))
    upload_folder_to_hub(folder, "user/tweets", repo_type="dataset", token=TOKEN)
    tokenizer = pushed_tokenizer[0]
    return {split: Dataset.load("user/tweets", split=split, preprocessor=tokenizer) for split in ("train", "test")}


def test_dataset_load_from_a_hub_dataset_repo(hub, pushed_dataset, text_data, pushed_tokenizer):
    from hezar_accel.data import Dataset

    assert set(hub.files("user/tweets", repo_type="dataset")) == {".gitattributes", "train.csv", "test.parquet",
                                                                  "dataset_config.yaml"}
    for split, from_hub in pushed_dataset.items():
        local = Dataset.load(text_data, split=split, preprocessor=pushed_tokenizer[0])
        assert len(from_hub) == len(local) and from_hub.config.id2label == local.config.id2label
        assert [from_hub[i]["token_ids"] for i in range(5)] == [local[i]["token_ids"] for i in range(5)]
        assert [from_hub[i]["labels"] for i in range(len(local))] == [local[i]["labels"] for i in range(len(local))]


def test_init_weights_from_a_hub_repo(hub, root, text_data, pushed_model):
    trainer = build_trainer(str(root / "run_init"), text_data, num_epochs=1, init_weights_from="user/tiny-bert")
    report = trainer.init_weights_report
    assert report.loaded and not report.missing and not report.mismatched
    pushed = pushed_model[0].unwrapped_model.state_dict()
    for key, tensor in trainer.unwrapped_model.state_dict().items():
        assert torch.equal(tensor, pushed[key]), key


@pytest.fixture(scope="module")
def live_run(hub, root, text_data):
    """A run with push_to_hub: true; each commit takes 0.3 s so that checkpoints queue behind the uploads."""
    hub.commit_delay = 0.3
    out = str(root / "run_live")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", TOKEN)
        trainer = build_trainer(out, text_data, num_epochs=2, save_steps=2, push_to_hub=True,
                                hub_model_id="user/live-run")
        trainer.train()
    hub.commit_delay = 0.0
    return trainer, out


def test_push_to_hub_during_training_uploads_the_last_checkpoint(hub, live_run):
    from hezar_accel.trainer.checkpoint import find_latest, list_checkpoints

    trainer, out = live_run
    uploader = trainer.checkpointer.uploader
    saves = len({int(os.path.basename(c)) for c in list_checkpoints(os.path.join(out, "checkpoints"))})
    assert uploader.failures == [] and uploader.uploaded_steps[-1] == trainer.plan.total_steps
    assert len(uploader.uploaded_steps) + len(uploader.skipped_steps) >= saves  # every save was queued
    assert hub.commit_count("user/live-run") == 1 + len(uploader.uploaded_steps)
    files = hub.files("user/live-run")
    latest = find_latest(os.path.join(out, "checkpoints"))
    with open(os.path.join(latest, "model.pt"), "rb") as f:
        assert files["model.pt"] == f.read()
    assert yaml.safe_load(files["train/trainer_state.yaml"])["global_step"] == trainer.plan.total_steps
    assert not any(p.startswith("accelerate/") or p == "COMPLETE" for p in files)
    assert f"| optimizer updates done | {trainer.plan.total_steps} |" in files["README.md"].decode("utf-8")
    assert not os.path.exists(os.path.join(latest, "README.md"))  # the card went into the staged copy only
    assert not glob.glob(os.path.join(out, "checkpoints", ".hub-upload-*"))
    assert f"Bearer {TOKEN}" in hub.authorizations


def test_the_uploader_keeps_one_pending_upload_and_a_newer_checkpoint_replaces_it(hub, root):
    import threading

    from hezar_accel.hub import upload_folder_to_hub
    from hezar_accel.trainer.hub_push import HubUploader

    checkpoints = root / "uploader_checkpoints"
    for step in (1, 2, 3, 4):
        folder = checkpoints / f"{step:08d}"
        (folder / "accelerate").mkdir(parents=True)
        (folder / "accelerate" / "optimizer.bin").write_bytes(b"optimizer")
        (folder / "train").mkdir()
        (folder / "train" / "trainer_state.yaml").write_text(f"global_step: {step}\n")
        (folder / "model.pt").write_bytes(b"weights %d" % step)
        (folder / "COMPLETE").write_text(f"{step}\n")
    gate, started = threading.Event(), threading.Event()

    def gated_upload(folder, repo_id, **kwargs):
        started.set()
        gate.wait(10)
        return upload_folder_to_hub(folder, repo_id, token=TOKEN, **kwargs)

    uploader = HubUploader("user/queue", str(checkpoints), upload=gated_upload)
    uploader.submit(str(checkpoints / "00000001"), 1)
    assert started.wait(10)  # step 1 is uploading (held at the gate); 2 and 3 are replaced while pending
    for step in (2, 3, 4):
        uploader.submit(str(checkpoints / f"{step:08d}"), step)
    assert not uploader.wait(timeout=0.2)
    gate.set()
    uploader.close()
    assert (uploader.uploaded_steps, uploader.skipped_steps, uploader.failures) == ([1, 4], [2, 3], [])
    assert hub.files("user/queue") == {".gitattributes": hub.files("user/queue")[".gitattributes"],
                                       "model.pt": b"weights 4", "train/trainer_state.yaml": b"global_step: 4\n"}
    assert sorted(os.listdir(checkpoints)) == ["00000001", "00000002", "00000003", "00000004"]  # staging removed


def test_resume_from_a_pushed_checkpoint_repo(hub, root, text_data, live_run):
    pushed_step = live_run[0].plan.total_steps
    out = str(root / "run_resumed")
    trainer = build_trainer(out, text_data, num_epochs=3)
    trainer.train(resume_from_checkpoint="user/live-run")
    assert trainer.state.global_step == trainer.plan.total_steps > pushed_step
    (log,) = glob.glob(os.path.join(out, "logs", "*", "training_logs.csv"))
    with open(log, encoding="utf-8") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps and min(steps) > pushed_step  # the pushed steps were not trained again


def test_a_failing_background_upload_is_a_warning_and_training_finishes(hub, root, text_data):
    from hezar_accel.trainer.checkpoint import find_latest

    out = str(root / "run_rejected")
    hub.valid_tokens = {TOKEN}
    try:
        with pytest.MonkeyPatch.context() as mp, pytest.warns(RuntimeWarning, match="push_to_hub: uploading"):
            mp.setenv("HF_TOKEN", "hf_wrong_token")
            trainer = build_trainer(out, text_data, num_epochs=1, push_to_hub=True, hub_model_id="user/rejected")
            trainer.train()
    finally:
        hub.valid_tokens = None
    assert trainer.checkpointer.uploader.failures and find_latest(os.path.join(out, "checkpoints"))


@pytest.fixture(scope="module")
def uncached_repo(hub, pushed_model):
    """A model pushed with Model.push_to_hub and never downloaded."""
    pushed_model[0].unwrapped_model.push_to_hub("user/never-downloaded", token=TOKEN, safe_serialization=True)
    return "user/never-downloaded"


def test_model_push_to_hub_uploads_the_model_folder(hub, uncached_repo):
    assert set(hub.files(uncached_repo)) == {".gitattributes", "model_config.yaml", "model.safetensors",
                                              "preprocessor/tokenizer.json", "preprocessor/tokenizer_config.yaml"}


def test_offline_mode_reads_the_cache_and_names_the_fix_when_a_repo_is_not_cached(
        hub, uncached_repo, offline, pushed_model, pushed_tokenizer, pushed_dataset):
    from hezar_accel.data import Dataset
    from hezar_accel.hub import HubError
    from hezar_accel.models import Model
    from hezar_accel.preprocessors import Preprocessor

    seen = len(hub.requests)
    trainer = pushed_model[0]
    inputs = eval_inputs(trainer)
    with torch.no_grad():
        assert torch.equal(Model.load("user/tiny-bert")(**inputs)["logits"], trainer.unwrapped_model(**inputs)["logits"])
    assert Preprocessor.load("user/tokenizer").vocab_size == pushed_tokenizer[0].vocab_size
    assert len(Dataset.load("user/tweets", split="train", preprocessor=pushed_tokenizer[0])) == len(pushed_dataset["train"])
    with pytest.raises(HubError, match="HF_HUB_OFFLINE") as e:
        Model.load(uncached_repo)
    assert "local path" in str(e.value)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        Dataset.load("user/not-cached-dataset", split="train", preprocessor=pushed_tokenizer[0])
    assert len(hub.requests) == seen  # nothing touched the network


def test_the_push_token_is_never_written_to_any_file(hub, root, pushed_model, pushed_tokenizer, pushed_dataset,
                                                     live_run):
    needle = TOKEN.encode()
    checked = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    assert needle not in f.read(), path
                checked += 1
    assert checked > 50
