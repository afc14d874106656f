"""What every masked-LM (mask filling) model does the same way, whatever its encoder: the loss over masked tokens,
``preprocess`` (texts holding one mask token) and ``post_process`` (Hezar's top-k fills)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..model import Model
from .tokenizer_lookup import find_tokenizer

__all__ = ["MaskFillingModel", "IGNORE_INDEX"]

IGNORE_INDEX = -100


class MaskFillingModel(Model):
    """Base of the mask-filling models: ``forward`` returns ``{"logits": (batch, seq_len, vocab), "token_ids"}``.

    ``token_ids`` rides along (as in Hezar) so ``post_process`` can find the mask and rebuild the filled sequence.
    Training labels hold the original id at masked positions and -100 everywhere else (see
    ``hezar_accel.data.MaskFillingDataset``).

    Args:
        config: the model config; never mutated.
    """

    loss_reduction = "token_mean"
    # Preferred inside a preprocessor container; a family with another tokenizer overrides it (RoBERTa: BPE).
    tokenizer_name = "wordpiece_tokenizer"

    @staticmethod
    def fill_outputs(logits: torch.Tensor, token_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """``forward``'s result: the vocabulary logits and the input ids they score."""
        return {"logits": logits, "token_ids": token_ids}

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """Mean cross-entropy over the masked positions (labels other than -100).

        A batch without any masked position gives 0 (still attached to the graph) instead of cross-entropy's NaN, so
        one such micro-batch cannot poison a run; the trainer weights it by its 0 targets anyway.
        """
        flat = labels.reshape(-1)
        total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat, ignore_index=IGNORE_INDEX,
                                reduction="sum")
        return total / (flat != IGNORE_INDEX).sum().clamp(min=1)

    def preprocess(self, inputs: str | list[str], **kwargs) -> dict[str, torch.Tensor]:
        """Tokenize texts that each hold the tokenizer's mask token once (``[MASK]``, ``<mask>`` ...).

        Args:
            inputs: one text or a list of texts.
            **kwargs: passed to the tokenizer (e.g. ``max_length``).

        Returns:
            Padded ``token_ids``, ``attention_mask`` (and ``token_type_ids``) tensors on the model's device.

        Raises:
            ValueError: no tokenizer is attached, it has no mask token, or an input holds no mask token.
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        mask_token, _ = _mask_of(tokenizer)
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        missing = [i for i, text in enumerate(texts) if mask_token not in text]
        if missing:
            raise ValueError(f"Input {missing[0]} ({texts[missing[0]]!r}) holds no `{mask_token}`; write the token "
                             f"`{mask_token}` where the model should fill in a word (once per input).")
        options = {"padding": "longest", **kwargs}
        return tokenizer(texts, return_tensors="pt", device=self.device, **options)

    def post_process(self, model_outputs: dict, top_k: int = 1, **kwargs) -> list[list[dict[str, Any]]]:
        """The ``top_k`` most likely fills of each input's mask, as Hezar's ``MaskFillingOutput`` fields.

        Args:
            model_outputs: ``forward`` output holding ``logits`` and ``token_ids``.
            top_k: how many candidates per input, most likely first.

        Returns:
            Per input, ``top_k`` dicts ``{"token": str, "sequence": str, "token_id": int, "score": float}``: the fill,
            the decoded input with the mask replaced by it (special tokens left out), its id and its probability.

        Raises:
            ValueError: ``top_k`` is not in 1..vocab size, or an input holds no mask or more than one (as in Hezar).
        """
        tokenizer = find_tokenizer(self.preprocessor, self.tokenizer_name)
        mask_token, mask_id = _mask_of(tokenizer)
        logits, token_ids = model_outputs["logits"], model_outputs["token_ids"].cpu()
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= logits.shape[-1]:
            raise ValueError(f"top_k: {top_k!r} must be an integer in 1..{logits.shape[-1]} (the vocabulary size)")
        results = []
        for row, ids in enumerate(token_ids):
            positions = (ids == mask_id).nonzero().flatten().tolist()
            if len(positions) != 1:
                raise ValueError(f"Input {row} holds {len(positions)} `{mask_token}` tokens; mask filling fills "
                                 "exactly one per input (split the text into one input per mask).")
            scores, candidates = logits[row, positions[0]].float().softmax(-1).topk(top_k)
            fills = []
            for score, token_id in zip(scores.tolist(), candidates.tolist()):
                filled = ids.clone()
                filled[positions[0]] = token_id
                fills.append({"token": _text(tokenizer.decode([token_id])).strip(),
                              "sequence": _text(tokenizer.decode(filled.tolist())),
                              "token_id": token_id, "score": score})
            results.append(fills)
        return results


def _mask_of(tokenizer) -> tuple[str, int]:
    """The tokenizer's mask token and id (ours and Hezar's tokenizers both have these two properties)."""
    mask_token, mask_id = getattr(tokenizer, "mask_token", None), getattr(tokenizer, "mask_token_id", None)
    if mask_token is None or mask_id is None:
        raise ValueError(f"The tokenizer has no mask token (mask_token: {mask_token!r}, id {mask_id}); set mask_token "
                         "in its tokenizer_config.yaml to a special token of its vocabulary ([MASK] or <mask>).")
    return mask_token, mask_id


def _text(decoded) -> str:
    # Hezar's tokenizers decode one sequence into a one-element list; ours into a string.
    return decoded[0] if isinstance(decoded, (list, tuple)) else decoded
