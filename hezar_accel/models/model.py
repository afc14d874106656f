"""The ``Model`` base: an ``nn.Module`` that saves and loads itself in Hezar's folder format.

A model folder holds ``model_config.yaml`` (``name`` = registry name, ``config_type: model``, ``task``, fields),
``model.pt`` (a plain state dict with Hezar's parameter names) and optionally ``preprocessor/``. Weights are read with
``torch.load(weights_only=True)`` or safetensors, so loading never runs pickled code.
"""

from __future__ import annotations

import inspect
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..configs import ModelConfig, load_yaml_mapping
from ..constants import MODEL_CONFIG_FILE, MODEL_FILE, MODEL_SAFETENSORS_FILE, PREPROCESSOR_SUBFOLDER
from ..errors import CheckpointError, ConfigError
from ..hub import HubError, resolve_file
from ..registry import get_entry

# Inputs per forward in ``Model.predict``: bounds its memory whatever the number of inputs (3,000 tweets in one batch
# took 1.4 GB for a 1.2 M-parameter BERT), while large enough that a CPU or GPU stays busy.
DEFAULT_PREDICT_BATCH_SIZE = 32


@dataclass
class LoadReport:
    """What ``load_matching_weights`` did: which keys were loaded, missing, unexpected or of another shape.

    ``renamed`` is ``(source encoder prefix, own encoder prefix)`` when the source's encoder sits under another name
    (e.g. ``bert_mask_filling.bert.`` loaded as ``bert.``); ``loaded`` and ``mismatched`` then use the own names.
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    renamed: tuple[str, str] | None = None

    def summary(self) -> str:
        parts = [f"loaded {len(self.loaded)} tensors"]
        if self.renamed:
            parts[0] += f" (encoder `{self.renamed[0]}*` as `{self.renamed[1]}*`)"
        if self.missing:
            parts.append(f"{len(self.missing)} missing (kept at init): {self.missing[:5]}{' ...' if len(self.missing) > 5 else ''}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected (ignored): {self.unexpected[:5]}{' ...' if len(self.unexpected) > 5 else ''}")
        if self.mismatched:
            shown = [f"{k} {tuple(a)} vs {tuple(b)}" for k, a, b in self.mismatched[:5]]
            parts.append(f"{len(self.mismatched)} shape-mismatched (kept at init): {shown}")
        return "; ".join(parts)


def read_state_dict(file_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a ``torch.save`` file without executing pickled code.

    Raises:
        CheckpointError: when the file would need arbitrary code to load (an unsafe pickle) or is not a state dict.
    """
    file_path = os.fspath(file_path)
    if file_path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(file_path, device="cpu")
    try:
        state = torch.load(file_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"Refusing to load `{file_path}`: it contains objects that would run code when unpickled "
            f"(torch.load weights_only=True rejected it: {str(e).splitlines()[0]}). Only plain tensor state dicts are "
            "accepted; re-save the weights with `torch.save(model.state_dict(), path)` from a trusted source."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"`{file_path}` holds a {type(state).__name__}, not a state dict of tensors.")
    return state


class Model(nn.Module):
    """Base class of every hezar_accel model.

    Subclasses register themselves with ``@register_model(name, ConfigClass)``, implement ``forward(**inputs)``
    returning a dict with ``logits`` and ``compute_loss(logits, labels, ...)``, and for inference ``preprocess`` /
    ``post_process`` (``predict`` chains them).

    Args:
        config: the model's config; kept as given (never mutated).
    """

    config_filename = MODEL_CONFIG_FILE
    model_filename = MODEL_FILE
    is_generative = False
    # What compute_loss averages over: "sample_mean" (one value per sample) or "token_mean" (every label != -100).
    # The trainer weights micro-batches by it, so accumulation and multi-process runs equal one big batch.
    loss_reduction = "sample_mean"
    # State-dict keys that older saves carry but the module does not own (e.g. non-persistent buffers).
    skip_keys_on_load: list[str] = []
    # Where the model's pretrained encoder lives in its state dict (e.g. "bert." in a classifier,
    # "bert_mask_filling.bert." in Hezar's masked LM); None = no encoder to transfer. init_weights_from maps one
    # model's encoder onto another's with it.
    encoder_prefix: str | None = None

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__()
        self.config = config
        self._preprocessor = None

    # -- preprocessor ------------------------------------------------------------------------------------------
    @property
    def preprocessor(self):
        return self._preprocessor

    @preprocessor.setter
    def preprocessor(self, value):
        self._preprocessor = value

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- counting -----------------------------------------------------------------------------------------------
    def num_parameters(self) -> int:
        """Total number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def num_trainable_parameters(self) -> int:
        """Number of parameters with ``requires_grad``."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -- training contract --------------------------------------------------------------------------------------
    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss(logits, labels)")

    # -- inference ----------------------------------------------------------------------------------------------
    def preprocess(self, inputs: Any, **kwargs) -> dict:  # pragma: no cover - per model
        raise NotImplementedError(f"{type(self).__name__} does not implement preprocess() for predict()")

    def post_process(self, model_outputs: dict, **kwargs) -> Any:  # pragma: no cover - per model
        raise NotImplementedError(f"{type(self).__name__} does not implement post_process() for predict()")

    def split_inputs(self, inputs: Any) -> list:
        """``inputs`` as a list of single inputs, so ``predict`` can run them ``batch_size`` at a time.

        The default takes a list as a batch and anything else (a text, a ``(text, text_pair)`` tuple, an image ...) as
        one input; a family whose single input may itself be a list (a sentence as a list of words, a waveform as a
        list of numbers) overrides it. ``preprocess`` must accept any slice of the result.
        """
        return list(inputs) if isinstance(inputs, list) else [inputs]

    @torch.inference_mode()
    def predict(self, inputs: Any, preprocess_kwargs: dict | None = None, post_process_kwargs: dict | None = None,
                batch_size: int | None = DEFAULT_PREDICT_BATCH_SIZE, **kwargs) -> Any:
        """Preprocess raw ``inputs``, run the model in eval mode and return Hezar-style outputs.

        Args:
            inputs: what ``preprocess`` takes (texts, images, audio ...).
            preprocess_kwargs, post_process_kwargs: keyword arguments for those two steps.
            batch_size: inputs per forward/generate call (each chunk is preprocessed, so padded, on its own); the
                results are concatenated in input order. None or 0 = all inputs in one batch.
            **kwargs: keyword arguments for ``forward``/``generate``; one that ``post_process`` or ``preprocess``
                names explicitly and ``forward``/``generate`` does not goes to that step instead (as in Hezar, e.g.
                ``predict(text, top_k=3)``).

        Returns:
            ``post_process``'s result: one entry per input, in input order.

        Raises:
            ValueError: ``batch_size`` is negative or not an integer.
        """
        if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 0):
            raise ValueError(f"batch_size: {batch_size!r} must be an integer >= 1 (inputs per forward), or None/0 for "
                             "all inputs in one batch")
        run = self.generate if self.is_generative else self.forward
        pre, post, forward_kwargs = dict(preprocess_kwargs or {}), dict(post_process_kwargs or {}), {}
        for key, value in kwargs.items():
            if key not in _named_parameters(run) and key in _named_parameters(self.post_process):
                post[key] = value
            elif key not in _named_parameters(run) and key in _named_parameters(self.preprocess):
                pre[key] = value
            else:
                forward_kwargs[key] = value
        items = self.split_inputs(inputs) if batch_size else None
        # Up to one batch, the inputs go through as given: the result is exactly that of an unbatched call.
        chunks = [inputs] if items is None or len(items) <= batch_size else \
            [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
        was_training = self.training
        self.eval()
        try:
            results = [self._predict_batch(chunk, pre, forward_kwargs, post) for chunk in chunks]
        finally:
            self.train(was_training)
        if len(results) == 1:
            return results[0]
        return [output for chunk_outputs in results for output in chunk_outputs]

    def _predict_batch(self, inputs: Any, pre: dict, forward_kwargs: dict, post: dict) -> Any:
        batch = self.preprocess(inputs, **pre)
        outputs = self.generate(**batch, **forward_kwargs) if self.is_generative else self(**batch, **forward_kwargs)
        return self.post_process(outputs, **post)

    # -- save / load --------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, filename: str | None = None, save_preprocessor: bool = True,
             config_filename: str | None = None, safe_serialization: bool = False,
             state_dict: dict[str, torch.Tensor] | None = None) -> str:
        """Save the model folder: config YAML, weights and (optionally) the preprocessor.

        Args:
            path: target folder (created).
            filename: weights file name (default ``model.pt``; ``model.safetensors`` with ``safe_serialization``).
            save_preprocessor: also write ``preprocessor/`` when a preprocessor is attached.
            config_filename: config file name (default ``model_config.yaml``).
            safe_serialization: write safetensors instead of ``torch.save``.
            state_dict: weights to write instead of ``self.state_dict()`` (e.g. a full state dict gathered by the
                accelerator from a sharded model).

        Returns:
            The folder path.
        """
        os.makedirs(path, exist_ok=True)
        self.config.save(path, filename=config_filename or self.config_filename)
        state = state_dict if state_dict is not None else self.state_dict()
        state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        if safe_serialization:
            from safetensors.torch import save_file

            # safetensors refuses tensors that share memory (tied weights: a masked LM's decoder and word
            # embeddings, GPT-2's lm_head and wte); each tied name gets its own copy, loading ties them again.
            seen = set()
            for key, tensor in state.items():
                storage = tensor.untyped_storage().data_ptr()
                state[key] = tensor.clone() if storage in seen else tensor
                seen.add(storage)
            save_file(state, os.path.join(path, filename or MODEL_SAFETENSORS_FILE), metadata={"format": "pt"})
        else:
            torch.save(state, os.path.join(path, filename or self.model_filename))
        if save_preprocessor and self.preprocessor is not None:
            self.preprocessor.save(path)
        return os.fspath(path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None, load_preprocessor: bool = True,
             model_filename: str | None = None, config_filename: str | None = None, strict: bool = True, **overrides):
        """Load a model folder saved by ``save`` (or by Hezar) from a local path or a Hub repo id.

        The class is looked up by the config's ``name`` when called on ``Model`` itself.

        Args:
            path: model folder or Hub repo id.
            device: where to put the model (default CPU).
            load_preprocessor: also load ``preprocessor/`` when present.
            model_filename: weights file (default: ``model.pt``, else ``model.safetensors``).
            config_filename: config file (default ``model_config.yaml``).
            strict: every weight must match a parameter.
            **overrides: config fields to change (e.g. dropout for fine-tuning).

        Raises:
            ConfigError, HubError, CheckpointError: invalid config, missing files, or unsafe/mismatched weights.
        """
        config = ModelConfig.load(path, filename=config_filename or cls.config_filename, **overrides)
        model_cls = cls if cls is not Model else get_entry("model", config.name).cls
        model = model_cls(config)
        weights = _find_weights(path, model_filename)
        state = {k: v for k, v in read_state_dict(weights).items() if k not in model_cls.skip_keys_on_load}
        result = model.load_state_dict(state, strict=False)
        if strict and (result.missing_keys or result.unexpected_keys):
            raise CheckpointError(
                f"`{weights}` does not match {model_cls.__name__}: missing {result.missing_keys[:10]}, "
                f"unexpected {result.unexpected_keys[:10]}. Was it saved from another architecture or config?"
            )
        if load_preprocessor:
            model.preprocessor = _load_preprocessor_if_any(path)
        # Like 🤗 from_pretrained: a loaded model is ready for inference; Trainer switches it to train mode itself.
        return model.to(device or "cpu").eval()

    def push_to_hub(self, repo_id: str, commit_message: str | None = None, private: bool | None = False,
                    token: str | None = None, save_preprocessor: bool = True, safe_serialization: bool = False) -> str:
        """Upload the whole model folder (config, weights, ``preprocessor/``) to the Hub repo ``repo_id`` in one commit.

        Args:
            repo_id: ``owner/name``; created when missing.
            commit_message: commit title.
            private: create the repo private; None = the Hub's default.
            token: a Hub token (default: ``HF_TOKEN`` or the stored login); never written anywhere.
            save_preprocessor, safe_serialization: as for :meth:`save`.

        Returns:
            The commit URL.

        Raises:
            HubError: the upload failed.
        """
        from ..hub import push_saved_to_hub

        return push_saved_to_hub(
            lambda folder: self.save(folder, save_preprocessor=save_preprocessor, safe_serialization=safe_serialization),
            repo_id, commit_message=commit_message or f"Upload {type(self).__name__}", private=private, token=token)

    def load_matching_weights(self, path: str | os.PathLike, filename: str | None = None) -> LoadReport:
        """Copy every tensor of another model folder/file whose name and shape match (``init_weights_from``).

        When the source folder's ``model_config.yaml`` names a model whose encoder lives under another prefix
        (:attr:`encoder_prefix`), its encoder keys are matched under this model's prefix: a ``bert_mask_filling``
        folder (``bert_mask_filling.bert.*``) initialises a ``bert_text_classification``'s ``bert.*``, and back.
        Heads never transfer that way (their names differ).

        Args:
            path: a weights file, a model folder, or a Hub repo id (downloaded into the HF cache when not local).
            filename: the weights file inside the folder/repo (default ``model.pt``, else ``model.safetensors``).

        Returns:
            A :class:`LoadReport` of loaded, missing, unexpected and shape-mismatched keys.
        """
        path = os.fspath(path)
        weights = path if os.path.isfile(path) else _find_weights(path, filename)
        source = read_state_dict(weights)
        own = self.state_dict()
        report = LoadReport(renamed=self._encoder_renaming(path))
        to_load = {}
        for key, tensor in source.items():
            if key in self.skip_keys_on_load:
                continue
            if report.renamed and key.startswith(report.renamed[0]):
                renamed = report.renamed[1] + key[len(report.renamed[0]):]
                key = renamed if renamed in own else key
            if key not in own:
                report.unexpected.append(key)
            elif own[key].shape != tensor.shape:
                report.mismatched.append((key, tuple(tensor.shape), tuple(own[key].shape)))
            else:
                to_load[key] = tensor
        report.loaded = sorted(to_load)
        report.missing = sorted(k for k in own if k not in to_load and k not in self.skip_keys_on_load
                                and k not in {m for m, _, _ in report.mismatched})
        self.load_state_dict(to_load, strict=False)
        return report

    def _encoder_renaming(self, path: str) -> tuple[str, str] | None:
        """``(source prefix, own prefix)`` when the model folder at ``path`` keeps its encoder under another prefix
        than this model (its ``model_config.yaml`` names a registered class whose ``encoder_prefix`` differs)."""
        if self.encoder_prefix is None:
            return None
        folder = os.path.dirname(path) if os.path.isfile(path) else path
        config_file = resolve_file(folder, MODEL_CONFIG_FILE, required=False)
        if config_file is None:
            return None
        try:
            source_prefix = getattr(get_entry("model", load_yaml_mapping(config_file).get("name")).cls,
                                    "encoder_prefix", None)
        except ConfigError:  # an unreadable config or a model this package does not know: keys are matched as they are
            return None
        if source_prefix is None or source_prefix == self.encoder_prefix:
            return None
        return source_prefix, self.encoder_prefix


def _named_parameters(function) -> set[str]:
    """The explicitly named parameters of a callable (not ``*args``/``**kwargs``)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name for name, p in inspect.signature(function).parameters.items() if p.kind in kinds}


def _load_preprocessor_if_any(path):
    """The folder's preprocessor, or None when it has none (a local folder without ``preprocessor/``)."""
    from ..preprocessors.preprocessor import Preprocessor

    path = os.fspath(path)
    if os.path.isdir(path) and not os.path.isdir(os.path.join(path, PREPROCESSOR_SUBFOLDER)):
        return None
    try:
        return Preprocessor.load(path)
    except HubError:
        if os.path.isdir(path):
            raise
        return None


def _find_weights(path, model_filename: str | None) -> str:
    if model_filename:
        return resolve_file(path, model_filename)
    found = resolve_file(path, MODEL_FILE, required=False) or resolve_file(path, MODEL_SAFETENSORS_FILE, required=False)
    if found is None:
        raise CheckpointError(f"No `{MODEL_FILE}` or `{MODEL_SAFETENSORS_FILE}` found in `{path}`.")
    return found
