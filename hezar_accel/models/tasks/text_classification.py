"""What every text classifier does the same way, whatever its encoder: the loss, ``preprocess`` and ``post_process``.

BERT, RoBERTa and DistilBERT classifiers differ only in their modules and ``forward``; they derive from
:class:`TextClassificationModel` for the rest, so ``predict`` behaves identically across families.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..labels import label_name, resolve_num_labels
from ..model import Model
from .tokenizer_lookup import find_tokenizer

__all__ = ["TextClassificationModel"]


class TextClassificationModel(Model):
    """Base of the text (and sentence-pair) classifiers: ``forward`` returns ``{"logits": (batch, num_labels)}``.

    Args:
        config: a config with ``num_labels``/``id2label`` (see :class:`~hezar_accel.models.labels.LabelsConfig`);
            never mutated (the label count comes from ``resolve_num_labels``).
    """

    # Preferred inside a preprocessor container; a family with another tokenizer overrides it (RoBERTa: BPE).
    tokenizer_name = "wordpiece_tokenizer"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.num_labels = resolve_num_labels(config)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean cross-entropy of ``(batch, num_labels)`` logits against ``(batch,)`` class indices."""
        return F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))

    def preprocess(self, inputs: str | list[str] | list[tuple[str, str]], **kwargs) -> dict[str, torch.Tensor]:
        """Tokenize raw texts (or ``(text, text_pair)`` tuples) into padded tensors on the model's device.

        Args:
            inputs: one text, a list of texts, or a list of text pairs.
            **kwargs: passed to the tokenizer (e.g. ``max_length``).

        Returns:
            ``token_ids``, ``attention_mask`` and ``token_type_ids`` tensors.

        Raises:
            ValueError: no tokenizer is attached to the model.
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        if isinstance(inputs, (str, tuple)):
            inputs = [inputs]
        options = {"padding": "longest", **kwargs}
        return tokenizer(inputs, return_tensors="pt", device=self.device, **options)

    def post_process(self, model_outputs: dict, return_all_scores: bool = False, **kwargs) -> list:
        """Turn logits into Hezar-style predictions.

        Args:
            model_outputs: the ``forward`` output.
            return_all_scores: give every label's probability instead of only the best one.

        Returns:
            One entry per input: ``{"label": ..., "score": float}``, or with ``return_all_scores`` a list of such dicts
            (one per label, in class-index order).
        """
        probs = model_outputs["logits"].float().softmax(-1).cpu()
        if return_all_scores:
            return [
                [{"label": label_name(self.config, i), "score": float(p)} for i, p in enumerate(row.tolist())]
                for row in probs
            ]
        scores, indices = probs.max(-1)
        return [
            {"label": label_name(self.config, int(i)), "score": float(s)}
            for s, i in zip(scores.tolist(), indices.tolist())
        ]
