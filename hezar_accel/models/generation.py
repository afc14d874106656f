"""Decoding shared by every generative model: token choice, logit rules, the greedy/sampling loop and beam search.

Models supply a ``step`` function that runs their decoder on new token ids and returns the last position's logits
and an updated key/value cache; everything about *which* tokens to keep lives here, so GPT-2, T5, Whisper and the
ViT + RoBERTa image-to-text models decode with one implementation. Greedy decoding and beam search follow 🤗
transformers' ``generate`` (5.x) step for step, so the same weights give the same tokens
(tests/test_hezar_compat_seq2seq.py and tests/test_hezar_compat_image2text.py check it against Hezar's models).
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["StepFn", "LogitsRule", "choose_next_tokens", "decode", "beam_search", "token_rules", "reorder_cache",
           "ban_repeated_ngrams"]

# step(input_ids, attention_mask, past) -> (logits of the last position (rows, vocab), new past)
StepFn = Callable[[torch.Tensor, torch.Tensor, object], tuple[torch.Tensor, object]]
# rule(scores (rows, vocab), number of tokens generated so far, every id so far (rows, length), prompt included)
#   -> scores with forbidden tokens at -inf
LogitsRule = Callable[[torch.Tensor, int, torch.Tensor], torch.Tensor]

# transformers' stand-in for "minus infinity" in beam bookkeeping; kept identical so ties break the same way.
_NEG = -1.0e9


def choose_next_tokens(logits: torch.Tensor, do_sample: bool = False, temperature: float = 1.0,
                       top_k: int | None = None, top_p: float | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick one token per row from last-position logits ``(batch, vocab)``.

    Args:
        do_sample: sample from the (filtered) distribution; False = greedy argmax (the other options are unused).
        temperature: divide logits by this before sampling (< 1 sharper, > 1 flatter).
        top_k: keep only the k most likely tokens (None/0 = off).
        top_p: keep the smallest set of most likely tokens whose probability reaches p (None/1.0 = off).
        generator: RNG for sampling (None = torch's global RNG, so ``torch.manual_seed`` makes it reproducible).

    Returns:
        ``(batch,)`` token ids.
    """
    if not do_sample:
        return logits.argmax(-1)
    logits = logits.float() / max(float(temperature), 1e-6)
    if top_k:
        kth = torch.topk(logits, min(int(top_k), logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, indices = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the tokens before it already reach top_p; the most likely token always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(1, indices, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)


def token_rules(suppress_tokens=None, begin_suppress_tokens=None, min_new_tokens: int = 0,
                eos_token_id: int | None = None, no_repeat_ngram_size: int = 0) -> LogitsRule | None:
    """The logit rules of 🤗's ``SuppressTokens``, ``SuppressTokensAtBegin``, ``MinLength`` and ``NoRepeatNGram``
    processors in one.

    Args:
        suppress_tokens: ids never generated (None/empty = off).
        begin_suppress_tokens: ids not allowed as the first generated token (Whisper's blank and EOS).
        min_new_tokens: EOS is forbidden until this many tokens are generated (0 = off).
        eos_token_id: the EOS id ``min_new_tokens`` holds back.
        no_repeat_ngram_size: no n-gram of this many ids occurs twice in a row's ids, prompt included (0 = off).

    Returns:
        A rule, or None when every option is off (decoding then skips the call).
    """
    always = list(suppress_tokens or [])
    first = list(begin_suppress_tokens or [])
    hold_eos = min_new_tokens > 0 and eos_token_id is not None
    if not (always or first or hold_eos or no_repeat_ngram_size):
        return None

    def rule(scores: torch.Tensor, generated: int, token_ids: torch.Tensor) -> torch.Tensor:
        banned = always + (first if generated == 0 else []) + ([eos_token_id] if hold_eos and generated < min_new_tokens
                                                                 else [])
        if banned:
            scores = scores.clone()
            scores[:, torch.tensor(banned, device=scores.device)] = float("-inf")
        if no_repeat_ngram_size:
            scores = ban_repeated_ngrams(scores, token_ids, no_repeat_ngram_size)
        return scores

    return rule


def ban_repeated_ngrams(scores: torch.Tensor, token_ids: torch.Tensor, size: int) -> torch.Tensor:
    """``scores`` with every token that would repeat an n-gram of ``token_ids`` at -inf (🤗's ``NoRepeatNGram``).

    A row's last ``size - 1`` ids are the prefix of the next n-gram; every earlier window of ``size`` ids that starts
    with that prefix bans its own last id.

    Args:
        scores: ``(rows, vocab)`` next-token scores.
        token_ids: ``(rows, length)`` every id so far.
        size: the n-gram length (>= 1).
    """
    length = token_ids.shape[1]
    if length < size:
        return scores
    prefix = token_ids[:, length + 1 - size:]
    windows = token_ids.unfold(dimension=1, size=size, step=1)
    matches = (windows[..., :-1] == prefix[:, None]).all(dim=-1)
    vocab = scores.shape[-1]
    # Windows that do not match write into a spare column past the vocabulary, so they cannot unban anything.
    banned = scores.new_zeros((scores.shape[0], vocab + 1), dtype=torch.bool)
    banned.scatter_(1, torch.where(matches, windows[..., -1].clamp(max=vocab), vocab), True)
    return scores.masked_fill(banned[:, :vocab], float("-inf"))


def decode(step: StepFn, token_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
           choose: Callable[[torch.Tensor], torch.Tensor], eos_token_id: int | None, pad_token_id: int,
           use_cache: bool = True, rule: LogitsRule | None = None) -> torch.Tensor:
    """Generate up to ``max_new_tokens`` after left-aligned prompts, one token per row and step; rows stop after EOS.

    Args:
        step: runs the model on new input ids (all ids when ``use_cache`` is False) with the full attention mask and
            the cache, returning the last position's logits and the new cache.
        token_ids / attention_mask: left-aligned prompts ``(batch, prompt_length)`` (an encoder-decoder model's
            decoder prompt, e.g. its start token).
        choose: logits ``(batch, vocab)`` -> ``(batch,)`` ids.
        eos_token_id: stop a row after it emits this id (None = never stop early).
        pad_token_id: written after a row's EOS.
        use_cache: reuse keys/values of earlier positions (one new token per step) instead of re-running all tokens.
        rule: forbids tokens per step (see :func:`token_rules`); None = none.

    Returns:
        ``(batch, generated_length)`` ids: the continuation only, EOS included, padded with ``pad_token_id``; the
        loop ends when every row has stopped, so ``generated_length`` may be below ``max_new_tokens``.
    """
    batch = token_ids.shape[0]
    finished = torch.zeros(batch, dtype=torch.bool, device=token_ids.device)
    ones = torch.ones(batch, 1, dtype=attention_mask.dtype, device=attention_mask.device)
    generated, inputs, past = [], token_ids, None
    for index in range(max_new_tokens):
        logits, past = step(inputs, attention_mask, past if use_cache else None)
        if rule is not None:
            logits = rule(logits.float(), index, token_ids)
        next_ids = torch.where(finished, torch.full_like(finished, pad_token_id, dtype=torch.long), choose(logits))
        generated.append(next_ids)
        if eos_token_id is not None:
            finished |= next_ids == eos_token_id
            if bool(finished.all()):
                break
        attention_mask = torch.cat([attention_mask, ones], dim=1)
        token_ids = torch.cat([token_ids, next_ids[:, None]], dim=1)
        inputs = next_ids[:, None] if use_cache else token_ids
    if not generated:
        return token_ids.new_zeros(batch, 0)
    return torch.stack(generated, dim=1)


def reorder_cache(past, index: torch.Tensor):
    """``past`` (nested lists/tuples of tensors whose dim 0 is the row) with its rows taken in ``index`` order."""
    if past is None:
        return None
    if isinstance(past, torch.Tensor):
        return past.index_select(0, index)
    return type(past)(reorder_cache(p, index) for p in past)


def _gather(tensor: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``tensor[b, indices[b, k], ...]`` for every batch row ``b`` and pick ``k``."""
    shape = indices.shape + tensor.shape[2:]
    expanded = indices.reshape(*indices.shape, *([1] * (tensor.dim() - 2))).expand(shape)
    return tensor.gather(1, expanded)


def beam_search(step: StepFn, token_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
                num_beams: int, eos_token_id: int | None, pad_token_id: int | None, length_penalty: float = 1.0,
                early_stopping: bool | str = False, rule: LogitsRule | None = None,
                use_cache: bool = True) -> torch.Tensor:
    """Beam search as 🤗 transformers' vectorised ``_beam_search`` (5.x), so the same logits give the same tokens.

    Each sample keeps ``num_beams`` running hypotheses. Per step the ``2 * num_beams`` best continuations (by summed
    log-probability) are taken; those ending in EOS (or reaching the length limit) among the first ``num_beams`` are
    scored ``sum_logprob / generated_length ** length_penalty`` and kept if they beat the finished ones, the others
    continue. The search ends when no running beam can beat the worst finished one (``early_stopping`` False: judged
    at the current length; True: as soon as ``num_beams`` hypotheses finished; ``"never"``: at the best possible
    length), or at ``max_new_tokens``.

    Args:
        step: as for :func:`decode`, but it sees ``batch * num_beams`` rows, the beams of one sample adjacent (the
            order ``repeat_interleave(num_beams, 0)`` gives), so it must be prepared for that many rows (e.g.
            repeated encoder states).
        token_ids / attention_mask: the (decoder) prompts, ``(batch, prompt_length)``, one row per sample.
        max_new_tokens: most generated tokens.
        num_beams: hypotheses per sample (> 1).
        eos_token_id: the id that finishes a hypothesis (None: only the length limit does).
        pad_token_id: written after a hypothesis ends; like transformers, a pad id of 0 or None means EOS is written.
        length_penalty: exponent of the length normalisation (> 0 favours longer outputs, 0 = plain sums).
        early_stopping: True, False or ``"never"``, as in transformers.
        rule: forbids tokens per step (applied to the log-probabilities).
        use_cache: pass only the newest token per step with the reordered cache.

    Returns:
        ``(batch, generated_length)``: each sample's best hypothesis (the continuation only, EOS included), padded
        as described; ``generated_length`` is the longest best hypothesis.
    """
    batch, prompt_length = token_ids.shape
    device = token_ids.device
    max_length = prompt_length + max_new_tokens
    keep = max(2, 1 + (eos_token_id is not None)) * num_beams
    fill = pad_token_id if pad_token_id else (eos_token_id if eos_token_id is not None else -1)
    running = torch.full((batch, num_beams, max_length), fill, dtype=torch.long, device=device)
    running[:, :, :prompt_length] = token_ids[:, None]
    finished = running.clone()
    running_scores = torch.zeros(batch, num_beams, device=device)
    running_scores[:, 1:] = _NEG  # only the first beam is live at the start, or every beam would pick the same token
    finished_scores = torch.full((batch, num_beams), _NEG, device=device)
    is_finished = torch.zeros(batch, num_beams, dtype=torch.bool, device=device)
    improvable = torch.ones(batch, 1, dtype=torch.bool, device=device)
    # Which flattened row each generated token came from; -1 = not generated (gives each hypothesis' length).
    running_origin = torch.full((batch, num_beams, max_new_tokens), -1, dtype=torch.long, device=device)
    finished_origin = running_origin.clone()
    top_of_keep = torch.arange(keep, device=device) < num_beams
    offsets = torch.arange(batch, device=device)[:, None] * num_beams
    mask = attention_mask.repeat_interleave(num_beams, 0)
    inputs, past, length = token_ids.repeat_interleave(num_beams, 0), None, prompt_length
    while True:
        logits, past = step(inputs, mask, past if use_cache else None)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        if rule is not None:
            log_probs = rule(log_probs, length - prompt_length, running.view(batch * num_beams, -1)[:, :length])
        vocab = log_probs.shape[-1]
        totals = (log_probs.view(batch, num_beams, vocab) + running_scores[:, :, None]).view(batch, -1)
        top_scores, top_index = torch.topk(totals, keep)
        source_beam, new_tokens = top_index // vocab, top_index % vocab
        top_sequences = _gather(running, source_beam)
        top_sequences[:, :, length] = new_tokens
        top_origin = _gather(running_origin, source_beam)
        top_origin[:, :, length - prompt_length] = source_beam + offsets
        hits = torch.full_like(new_tokens, length + 1 >= max_length, dtype=torch.bool)
        if eos_token_id is not None:
            hits |= new_tokens == eos_token_id
        # The best num_beams continuations that did not just finish keep running.
        still_running = top_scores + hits.float() * _NEG
        chosen = torch.topk(still_running, num_beams).indices
        running, running_scores = _gather(top_sequences, chosen), _gather(still_running, chosen)
        running_origin = _gather(top_origin, chosen)
        # Finished candidates (only among the first num_beams of the step) join the finished set if they beat it.
        just_finished = hits & top_of_keep[None, :]
        candidate = top_scores / ((length + 1 - prompt_length) ** length_penalty)
        full = is_finished.all(dim=-1, keepdim=True) & (early_stopping is True)
        candidate = candidate + full.float() * _NEG + (~improvable).float() * _NEG + (~just_finished).float() * _NEG
        merged_scores = torch.cat([finished_scores, candidate], dim=1)
        best = torch.topk(merged_scores, num_beams).indices
        finished = _gather(torch.cat([finished, top_sequences], dim=1), best)
        finished_scores = _gather(merged_scores, best)
        finished_origin = _gather(torch.cat([finished_origin, top_origin], dim=1), best)
        is_finished = _gather(torch.cat([is_finished, just_finished], dim=1), best)
        if use_cache:
            past = reorder_cache(past, running_origin[:, :, length - prompt_length].reshape(-1))
        length += 1
        improvable = improvable & _can_improve(running_scores, finished_scores, is_finished, length, prompt_length,
                                               max_length, early_stopping, length_penalty)
        open_beam = not (bool(is_finished.all()) and early_stopping is True)
        if not (bool(improvable.any()) and open_beam and not bool(hits.all())):
            break
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        flat = running.view(batch * num_beams, -1)
        inputs = flat[:, length - 1: length] if use_cache else flat[:, :length]
    generated = int((finished_origin[:, 0] >= 0).sum(dim=1).max())
    return finished[:, 0, prompt_length: prompt_length + generated]


def _can_improve(running_scores, finished_scores, is_finished, length, prompt_length, max_length, early_stopping,
                 length_penalty) -> torch.Tensor:
    """Whether a running beam could still beat the worst finished hypothesis (transformers' early-stop heuristic)."""
    if early_stopping == "never" and length_penalty > 0.0:
        best_length = max_length - prompt_length
    else:
        best_length = length - prompt_length
    best_running = running_scores[:, :1] / (best_length ** length_penalty)
    worst_finished = torch.where(is_finished, finished_scores.min(dim=1, keepdim=True).values, _NEG)
    return (best_running > worst_finished).any(dim=-1, keepdim=True)
