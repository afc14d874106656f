"""What every token tagger does the same way, whatever its encoder: the loss, ``preprocess`` and ``post_process``.

BERT, RoBERTa and DistilBERT taggers differ only in their modules and ``forward``; they derive from
:class:`SequenceLabelingModel` for the rest, so ``predict`` labels whole input words in every family.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ...preprocessors.word_chars import token_word_chars
from ..labels import label_name, resolve_num_labels
from ..model import Model
from .tokenizer_lookup import find_tokenizer

__all__ = ["SequenceLabelingModel", "IGNORE_INDEX"]

IGNORE_INDEX = -100


class SequenceLabelingModel(Model):
    """Base of the taggers: ``forward`` returns ``{"logits": (batch, seq_len, num_labels)}`` (see :meth:`tag_outputs`).

    Args:
        config: a config with ``num_labels``/``id2label``; never mutated.
    """

    loss_reduction = "token_mean"
    # Preferred inside a preprocessor container; a family with another tokenizer overrides it (RoBERTa: BPE).
    tokenizer_name = "wordpiece_tokenizer"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.num_labels = resolve_num_labels(config)

    @staticmethod
    def tag_outputs(logits: torch.Tensor, forward_kwargs: dict) -> dict[str, Any]:
        """``forward``'s result: the logits, plus ``word_ids``/``words`` (from ``preprocess``) passed through for
        ``post_process``; any other keyword (e.g. ``labels``) is dropped."""
        outputs = {"logits": logits}
        outputs.update({k: forward_kwargs[k] for k in ("word_ids", "words") if k in forward_kwargs})
        return outputs

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean token cross-entropy; positions labelled -100 (special tokens, padding, later sub-tokens) are ignored."""
        return F.cross_entropy(logits.reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=IGNORE_INDEX)

    def preprocess(self, inputs: str | list[str] | list[list[str]], **kwargs) -> dict[str, Any]:
        """Tokenize words for tagging.

        Args:
            inputs: a raw string (split on whitespace), a list of raw strings (when any contains whitespace), a list of
                words (one sentence), or a list of word lists (a batch).
            **kwargs: passed to the tokenizer (e.g. ``max_length``).

        Returns:
            Tensors ``token_ids``, ``attention_mask``, ``token_type_ids`` on the model's device, plus ``word_ids`` (per
            token: the word index or None) and ``words`` (the word lists) for ``post_process``.

        Raises:
            ValueError: no tokenizer is attached to the model.
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        words = _as_word_lists(inputs)
        options = {"padding": "longest", **kwargs}
        batch = tokenizer(words, is_split_into_words=True, return_word_ids=True, return_tensors="pt",
                          device=self.device, **options)
        if self.uses_word_chars:  # built as the dataset builds it (max_word_chars), so predict sees what training saw
            width = self.config.max_word_chars
            batch["word_chars"] = torch.tensor(
                [token_word_chars(sentence, ids, width) for sentence, ids in zip(words, batch["word_ids"])],
                dtype=torch.long, device=self.device).reshape(len(words), -1, width)
        batch["words"] = words
        return batch

    @property
    def uses_word_chars(self) -> bool:
        """Whether ``forward`` needs ``word_chars`` (a config with the character CNN on)."""
        return bool(getattr(self.config, "uses_word_chars", False))

    def checked_word_chars(self, word_chars: torch.Tensor | None, token_ids: torch.Tensor) -> torch.Tensor:
        """``word_chars`` after a shape check (shapes only: no host sync).

        Raises:
            ValueError: it is missing, or not ``(batch, seq_len, max_word_chars)`` for these ``token_ids``.
        """
        width = self.config.max_word_chars
        if word_chars is None:
            raise ValueError(
                f"{type(self).__name__} has a character CNN (char_cnn_filters={self.config.char_cnn_filters}) and "
                "needs `word_chars` in its inputs: set the dataset config's max_word_chars "
                f"(to {width}, as the model's), or build inputs with model.preprocess()")
        if word_chars.shape != (*token_ids.shape, width):
            raise ValueError(
                f"word_chars has shape {tuple(word_chars.shape)}; expected {(*token_ids.shape, width)} "
                f"(batch, tokens, max_word_chars={width}): the dataset's max_word_chars must equal the model's")
        return word_chars

    def split_inputs(self, inputs: str | list[str] | list[list[str]]) -> list[list[str]]:
        """One word list per sentence (a list of words is one sentence, see :meth:`preprocess`)."""
        return _as_word_lists(inputs)

    def post_process(self, model_outputs: dict, **kwargs) -> list[list[dict]]:
        """Label each input word with the prediction of its first sub-token.

        Args:
            model_outputs: ``forward`` output holding ``logits``, ``word_ids`` and ``words``.

        Returns:
            Per input, a list of ``{"token": word, "label": tag, "score": float}``. Words cut off by truncation are left
            out.
        """
        probs = model_outputs["logits"].float().softmax(-1).cpu()
        scores, indices = probs.max(-1)
        results = []
        for row, (word_ids, words) in enumerate(zip(model_outputs["word_ids"], model_outputs["words"])):
            first_token = {}
            for position, word_id in enumerate(word_ids):
                if word_id is not None and word_id not in first_token:
                    first_token[word_id] = position
            results.append([
                {"token": words[w], "label": label_name(self.config, int(indices[row, p])),
                 "score": float(scores[row, p])}
                for w, p in sorted(first_token.items())
            ])
        return results


def _as_word_lists(inputs: str | list) -> list[list[str]]:
    if isinstance(inputs, str):
        return [inputs.split()]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError(f"Expected a string, a list of words or a list of word lists, got {inputs!r}")
    if all(isinstance(x, str) for x in inputs):
        if any(len(x.split()) != 1 for x in inputs):
            return [x.split() for x in inputs]
        return [list(inputs)]
    return [list(x) if not isinstance(x, str) else x.split() for x in inputs]
