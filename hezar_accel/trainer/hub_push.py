"""``Trainer.push_to_hub``: save what was asked into a temporary folder and upload it in one commit."""

from __future__ import annotations

import os
import shutil
import tempfile

from ..constants import TRAINER_SUBFOLDER
from ..hub import upload_folder_to_hub


def push_trainer_to_hub(trainer, repo_id: str, config_filename: str | None = None, push_model: bool = True,
                        push_optimizer: bool = False, push_logs: bool = False, model_filename: str | None = None,
                        model_config_filename: str | None = None, subfolder: str | None = None,
                        dataset_config_filename: str | None = None, commit_message: str | None = None,
                        private: bool = False, token: str | None = None) -> str | None:
    """Upload the trained model folder (+ train configs, optionally optimizer state and logs) to ``repo_id``.

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
        if push_logs and os.path.isdir(trainer.config.logs_path):
            shutil.copytree(trainer.config.logs_path, os.path.join(staging, "logs"), dirs_exist_ok=True)
        return upload_folder_to_hub(staging, repo_id, token=token, private=private,
                                    commit_message=commit_message or "Upload model trained with hezar_accel")
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
