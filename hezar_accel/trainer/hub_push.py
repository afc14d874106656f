"""Hub uploads of a training run: ``Trainer.push_to_hub`` (one commit of the finished model) and the background
upload of checkpoints during training (``push_to_hub: true`` + ``hub_model_id``).

During training, after a checkpoint is complete, the main process hard-links its model folder and ``train/`` (not
``accelerate/``, not the completion marker) into a private ``.hub-upload-*`` folder next to it - instant, and immune to
the checkpoint being pruned or replaced meanwhile - and hands it to one worker thread (:class:`HubUploader`, owned by
the Checkpointer). At most one upload is pending: a newer checkpoint replaces an older one whose upload has not
started. Uploads never block training, and a failed one is reported as a warning, never raised; the end of ``train()``
waits for the last one. Every uploaded model folder gets a ``README.md`` model card (:mod:`.model_card`), written into
the staged copy: the checkpoint itself is never changed. The token comes from ``HF_TOKEN`` or the stored ``hf auth login``; it is never part of the
config nor written anywhere.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import warnings
from typing import Callable

from ..constants import ACCELERATE_SUBFOLDER, CHECKPOINT_COMPLETE_MARKER, TRAINER_SUBFOLDER
from ..hub import upload_folder_to_hub
from .model_card import write_model_card

UPLOAD_STAGING_PREFIX = ".hub-upload-"


def stage_for_upload(checkpoint: str, root: str) -> str:
    """Hard-link (copy where linking fails) the files to upload from ``checkpoint`` into a new folder under ``root``.

    Returns:
        The staged folder (the caller deletes it after the upload).
    """
    staging = tempfile.mkdtemp(prefix=UPLOAD_STAGING_PREFIX, dir=root)
    for dirpath, dirnames, filenames in os.walk(checkpoint):
        rel = os.path.relpath(dirpath, checkpoint)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != ACCELERATE_SUBFOLDER]
            filenames = [f for f in filenames if f != CHECKPOINT_COMPLETE_MARKER]
        os.makedirs(os.path.join(staging, rel), exist_ok=True)
        for name in filenames:
            source, target = os.path.join(dirpath, name), os.path.join(staging, rel, name)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
    return staging


class HubUploader:
    """One background worker uploading staged checkpoints to ``repo_id``, keeping at most one upload pending.

    Args:
        repo_id: the Hub repo (created when missing).
        root: the checkpoints folder; staged copies live there (leftovers of a crashed run are removed here).
        upload: ``(folder, repo_id, commit_message=...) -> commit url``; default :func:`upload_folder_to_hub`.
    """

    def __init__(self, repo_id: str, root: str, upload: Callable[..., str] = upload_folder_to_hub):
        self.repo_id, self.root, self._upload = repo_id, root, upload
        self.uploaded_steps: list[int] = []  # steps whose checkpoint reached the Hub
        self.skipped_steps: list[int] = []  # replaced by a newer checkpoint before their upload started
        self.failures: list[tuple[int, str]] = []  # (step, error) of uploads that failed
        self._cond = threading.Condition()
        self._pending: tuple[str, int] | None = None
        self._busy = self._closed = False
        for name in os.listdir(root) if os.path.isdir(root) else []:
            if name.startswith(UPLOAD_STAGING_PREFIX):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        self._thread = threading.Thread(target=self._run, name="hezar-accel-hub-upload", daemon=True)
        self._thread.start()

    def submit(self, checkpoint: str, step: int) -> None:
        """Queue ``checkpoint`` (a complete checkpoint folder) for upload; returns at once."""
        staged = stage_for_upload(checkpoint, self.root)
        with self._cond:
            if self._pending is not None:  # not started yet: the newer checkpoint supersedes it
                shutil.rmtree(self._pending[0], ignore_errors=True)
                self.skipped_steps.append(self._pending[1])
            self._pending = (staged, step)
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or uploading. Returns False when ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def close(self) -> None:
        """Wait for the last upload, then stop the worker."""
        self.wait()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    @property
    def closed(self) -> bool:
        return self._closed

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                (folder, step), self._pending, self._busy = self._pending, None, True
            try:
                write_model_card(folder, repo_id=self.repo_id)
            except Exception as e:  # a card is a courtesy: the weights go up without it
                warnings.warn(f"push_to_hub: no model card for the checkpoint of step {step}: {type(e).__name__}: {e}",
                              RuntimeWarning, stacklevel=1)
            try:
                self._upload(folder, self.repo_id, commit_message=f"Checkpoint at step {step} (hezar_accel)")
                self.uploaded_steps.append(step)
            except Exception as e:  # never crash training: report and go on
                self.failures.append((step, f"{type(e).__name__}: {e}"))
                warnings.warn(f"push_to_hub: uploading the checkpoint of step {step} to `{self.repo_id}` failed; "
                              f"training goes on and the local checkpoint is intact. {type(e).__name__}: {e}",
                              RuntimeWarning, stacklevel=1)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def push_trainer_to_hub(trainer, repo_id: str, config_filename: str | None = None, push_model: bool = True,
                        push_optimizer: bool = False, push_logs: bool = False, model_filename: str | None = None,
                        model_config_filename: str | None = None, subfolder: str | None = None,
                        dataset_config_filename: str | None = None, commit_message: str | None = None,
                        private: bool = False, token: str | None = None) -> str | None:
    """Upload the trained model folder (+ train configs and a ``README.md`` model card, optionally optimizer state and
    logs) to ``repo_id``.

    Must be called on every process (gathering full weights is collective); only the main process uploads. The
    token comes from the argument or the standard HF login and is never written into any file.

    Args:
        repo_id: ``owner/name``; created when missing.
        config_filename, model_filename, model_config_filename, subfolder, dataset_config_filename: file names, as
            for ``Trainer.save``.
        push_model: save and upload the model folder (+ ``train/`` configs).
        push_optimizer: also upload ``train/optimizer.pt``. push_logs: also upload ``logs/``.
        commit_message, private, token: see :func:`hezar_accel.hub.upload_folder_to_hub`.

    Returns:
        The commit URL on the main process, None elsewhere.

    Raises:
        HubError: the upload failed (main process).
    """
    staging = tempfile.mkdtemp(prefix="hezar_accel_push_") if trainer.accelerator.is_main_process else None
    try:
        if push_model:
            trainer.save(staging or "", config_filename=config_filename, model_filename=model_filename,
                         model_config_filename=model_config_filename, subfolder=subfolder,
                         dataset_config_file=dataset_config_filename)
        if not trainer.accelerator.is_main_process:
            return None
        if push_optimizer:
            import torch

            torch.save(trainer.optimizer.state_dict(), os.path.join(staging, TRAINER_SUBFOLDER, "optimizer.pt"))
        if push_model:
            write_model_card(staging, state=trainer.state, repo_id=repo_id)
        if push_logs and os.path.isdir(trainer.config.logs_path):
            shutil.copytree(trainer.config.logs_path, os.path.join(staging, "logs"), dirs_exist_ok=True)
        return upload_folder_to_hub(staging, repo_id, token=token, private=private,
                                    commit_message=commit_message or "Upload model trained with hezar_accel")
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
