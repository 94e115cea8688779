"""Score texts and continuations with a trained model: nats, tokens, bytes, greedy hits.

In:  a model (`webtext.train.model.GPT`, as `webtext.train.generate.load_run` returns it), its
     tokenizer, and texts (language-model suites) or (context, continuation) pairs (zero-shot
     tasks, and the lm-evaluation-harness adapter).
Out: per text: the nats of all its tokens, the token count and its UTF-8 bytes (`TextScore`);
     per pair: the log-likelihood of the continuation and whether each of its tokens is the
     model's argmax (`loglikelihood`, `loglikelihoods`). `bits_per_byte` pools them.

How (the usual way perplexity of fixed-length models is computed, as Hugging Face's perplexity
guide does): a text is preceded by the end-of-document id (in training every document follows
the previous one's), and one longer than the model's `block_size` is scored with a sliding
window that moves by `stride` tokens (default block_size // 2); every token is scored exactly
once, with at least block_size - stride tokens of context once the first window is full. A text
that fits one window is scored with its full context, as a direct forward pass would.

Pairs are tokenized as lm-evaluation-harness does (`_encode_pair`): trailing spaces of the
context move to the continuation, the whole string is encoded, and the continuation is what
follows the context's own tokens, so that both tokenizations agree where a merge crosses the
boundary. A pair longer than one window keeps the most recent context (left truncation).

Windows of many texts are batched (padding on the right, which a causal model never attends
to) and sorted by length, so a suite runs at the speed of a bare forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

IGNORE = -100  # cross_entropy's ignore_index: padding and context positions score 0 nats


class TokenizerLike(Protocol):
    """What scoring needs of a tokenizer (webtext.train.tokenizer.Tokenizer has it)."""

    @property
    def eod_id(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class TextScore:
    """One scored text: nats summed over its scored tokens, how many, and its UTF-8 bytes."""

    nats: float
    tokens: int
    bytes: int
    greedy: bool = True  # every scored token was the argmax


@dataclass(frozen=True)
class Window:
    """One forward pass: inputs ids[start:end], targets ids[start+1:end+1], the last
    `n_scored` targets counted (the others are context already scored by an earlier window)."""

    item: int
    start: int
    end: int
    n_scored: int


def plan_windows(n_ids: int, first: int, block_size: int, stride: int
                 ) -> list[tuple[int, int, int]]:
    """(start, end, n_scored) of the windows that score targets ids[first:] of a sequence of
    `n_ids` ids exactly once; each window's newly scored targets are its last `n_scored`.

    A sequence whose scored part fits one window is scored in one pass with as much context as
    fits (the lm-evaluation-harness rule); a longer one moves by `stride` after a first full
    window (the Hugging Face perplexity guide's rule).
    """
    if not 1 <= stride <= block_size:
        raise ValueError(f"stride {stride} must be in 1..block_size ({block_size})")
    last = n_ids - 1  # windows end before the last id: it is a target, not an input
    if first < 1:
        raise ValueError("the first id has no context: score from index 1 on")
    if first > last:
        return []
    if last - first < block_size:  # every scored target fits one window
        return [(max(0, last - block_size), last, last - first + 1)]
    out = []
    prev = first - 1  # the last target already scored
    end = max(block_size, first - 1 + stride)
    while prev < last:
        end = min(end, last)
        out.append((end - block_size, end, end - prev))
        prev, end = end, end + stride
    return out


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def score_windows(
    model: torch.nn.Module, sequences: Sequence[Sequence[int]], windows: Sequence[Window],
    batch_size: int = 16, greedy: bool = False,
) -> list[tuple[float, int, bool]]:
    """(nats, scored tokens, all greedy) of each window, in the order given.

    One forward pass per batch of windows through the model's own `forward(idx, targets,
    reduction="none")`: per-position cross-entropy is exactly the negative log-probability of
    the target, and positions marked IGNORE contribute 0.
    """
    device = _device(model)
    results: list[tuple[float, int, bool]] = [(0.0, 0, True)] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: windows[i].end - windows[i].start,
                   reverse=True)  # similar lengths together: little padding
    for b in range(0, len(order), batch_size):
        batch = [windows[i] for i in order[b : b + batch_size]]
        width = max(w.end - w.start for w in batch)
        idx = torch.zeros((len(batch), width), dtype=torch.long)
        tgt = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        for row, w in enumerate(batch):
            ids = sequences[w.item]
            n = w.end - w.start
            idx[row, :n] = torch.as_tensor(ids[w.start : w.end])
            tgt[row, n - w.n_scored : n] = torch.as_tensor(ids[w.end - w.n_scored + 1 : w.end + 1])
        idx, tgt = idx.to(device), tgt.to(device)
        logits, loss = model(idx, tgt, reduction="none")
        nats = loss.view(len(batch), width).double().sum(dim=1).tolist()
        if greedy:
            hit = (logits.argmax(dim=-1) == tgt) | (tgt == IGNORE)
            all_hit = hit.all(dim=1).tolist()
        else:
            all_hit = [True] * len(batch)
        for row, i in enumerate(order[b : b + batch_size]):
            results[i] = (nats[row], batch[row].n_scored, bool(all_hit[row]))
    return results


def _score_sequences(
    model: torch.nn.Module, sequences: Sequence[Sequence[int]], firsts: Sequence[int],
    stride: int | None, batch_size: int, greedy: bool,
) -> list[tuple[float, int, bool]]:
    """Pool the windows of each sequence: (nats, tokens, all greedy) of its ids[first:]."""
    block = model.config.block_size
    stride = stride or max(1, block // 2)
    windows = [Window(i, start, end, n) for i, (seq, first) in
               enumerate(zip(sequences, firsts, strict=True))
               for start, end, n in plan_windows(len(seq), first, block, stride)]
    per_window = score_windows(model, sequences, windows, batch_size, greedy)
    out = [[0.0, 0, True] for _ in sequences]
    for w, (nats, n, hit) in zip(windows, per_window, strict=True):
        acc = out[w.item]
        acc[0] += nats
        acc[1] += n
        acc[2] = acc[2] and hit
    return [(float(a), int(b), bool(c)) for a, b, c in out]


def score_texts(
    model: torch.nn.Module, tokenizer: TokenizerLike, texts: Sequence[str],
    stride: int | None = None, batch_size: int = 16,
) -> list[TextScore]:
    """Every token of each text scored once (sliding window), after the end-of-document id."""
    eod = tokenizer.eod_id
    sequences = [[eod, *tokenizer.encode(t)] for t in texts]
    scored = _score_sequences(model, sequences, [1] * len(sequences), stride, batch_size,
                              greedy=False)
    return [TextScore(nats, n, len(t.encode("utf-8")))
            for t, (nats, n, _) in zip(texts, scored, strict=True)]


def encode_pair(tokenizer: TokenizerLike, context: str, continuation: str
                ) -> tuple[list[int], list[int]]:
    """(context ids after the end-of-document id, continuation ids), split as
    lm-evaluation-harness splits them (see the module docstring)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    ctx = [tokenizer.eod_id, *tokenizer.encode(context)] if context else [tokenizer.eod_id]
    whole = [tokenizer.eod_id, *tokenizer.encode(context + continuation)]
    cont = whole[len(ctx):]
    if not cont:
        raise ValueError(f"the continuation {continuation!r} encodes to no tokens")
    return ctx, cont


def score_pairs(
    model: torch.nn.Module, tokenizer: TokenizerLike, requests: Sequence[tuple[str, str]],
    batch_size: int = 16, stride: int | None = None,
) -> list[TextScore]:
    """Each continuation's nats, tokens, UTF-8 bytes and greediness given its context."""
    sequences, firsts = [], []
    for context, continuation in requests:
        ctx, cont = encode_pair(tokenizer, context, continuation)
        sequences.append(ctx + cont)
        firsts.append(len(ctx))
    scored = _score_sequences(model, sequences, firsts, stride, batch_size, greedy=True)
    return [TextScore(nats, n, len(cont.encode("utf-8")), hit)
            for (_, cont), (nats, n, hit) in zip(requests, scored, strict=True)]


def loglikelihoods(
    model: torch.nn.Module, tokenizer: TokenizerLike, requests: Sequence[tuple[str, str]],
    batch_size: int = 16, stride: int | None = None,
) -> list[tuple[float, bool]]:
    """`loglikelihood` of many (context, continuation) pairs, batched."""
    return [(-s.nats, s.greedy)
            for s in score_pairs(model, tokenizer, requests, batch_size, stride)]


def loglikelihood(
    model: torch.nn.Module, tokenizer: TokenizerLike, context: str, continuation: str
) -> tuple[float, bool]:
    """Sum of log p(continuation token | everything before it) in nats, given `context`, and
    whether every continuation token is the model's argmax (lm-evaluation-harness's
    `loglikelihood` request: (logprob, is_greedy))."""
    return loglikelihoods(model, tokenizer, [(context, continuation)], batch_size=1)[0]


def bits_per_byte(nats: float, n_bytes: int) -> float:
    """Total nats / ln 2 / total UTF-8 bytes: comparable across tokenizers."""
    return nats / math.log(2) / n_bytes if n_bytes else float("nan")
