"""Scoring: sliding windows score every token once, equal a direct pass when the text fits,
batching changes nothing, loglikelihood matches a direct computation, bpb arithmetic."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from webtext.evals.score import (
    bits_per_byte,
    encode_pair,
    loglikelihood,
    loglikelihoods,
    plan_windows,
    score_texts,
)
from webtext.train.model import GPT, GPTConfig
from webtext.train.tokenizer import Tokenizer, train_tokenizer
from webtext.world.text import prose_paragraphs

BLOCK = 32


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Tokenizer:
    path = tmp_path_factory.mktemp("tok") / "tokenizer.model"
    return Tokenizer(train_tokenizer(list(prose_paragraphs()[:200]), path, 400))


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=448, block_size=BLOCK, n_layer=1, n_head=2,
                         n_embd=32)).eval()


def direct_nats(model: GPT, ids: list[int], first: int) -> float:
    """-log p of ids[first:] with all earlier ids as context, one plain forward pass."""
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:-1]]), torch.tensor([ids[1:]]))
    logp = F.log_softmax(logits[0].double(), dim=-1)
    return -sum(logp[t - 1, ids[t]].item() for t in range(first, len(ids)))


@pytest.mark.parametrize(("n", "first", "block", "stride"), [
    (2, 1, 8, 4), (9, 1, 8, 4), (10, 1, 8, 4), (57, 1, 8, 4), (57, 1, 8, 8), (57, 1, 8, 1),
    (57, 20, 8, 3), (30, 25, 8, 4), (30, 30, 8, 4), (100, 3, 16, 5)])
def test_windows_score_every_target_once(n, first, block, stride):
    scored = []
    for start, end, k in plan_windows(n, first, block, stride):
        assert 0 <= start < end <= n - 1 and end - start <= block and 1 <= k <= end - start
        scored += range(end - k + 1, end + 1)  # targets are ids[start+1 : end+1]
    assert scored == list(range(first, n))
    windows = plan_windows(n, first, block, stride)
    if n - 1 > block and n - first > block:  # long: full windows, moving by the stride
        assert all(e - s == block for s, e, _ in windows)
        assert all(b[1] - a[1] <= stride for a, b in zip(windows, windows[1:], strict=False))


def test_text_that_fits_one_window_equals_a_direct_pass(model, tokenizer):
    text = prose_paragraphs()[300][:40]
    ids = [tokenizer.eod_id, *tokenizer.encode(text)]
    assert 5 < len(ids) <= BLOCK + 1
    got = score_texts(model, tokenizer, [text])[0]
    assert got.tokens == len(ids) - 1 and got.bytes == len(text.encode("utf-8"))
    assert got.nats == pytest.approx(direct_nats(model, ids, 1), rel=1e-5)


def test_long_text_scores_each_token_once_with_context(model, tokenizer):
    text = " ".join(prose_paragraphs()[300:303])
    n = len(tokenizer.encode(text))
    assert n > 4 * BLOCK
    full = score_texts(model, tokenizer, [text])[0]
    assert full.tokens == n
    one = score_texts(model, tokenizer, [text], stride=1)[0]
    block = score_texts(model, tokenizer, [text], stride=BLOCK)[0]
    # more context never changes the count, only (slightly) the nats
    assert one.tokens == block.tokens == n
    assert abs(one.nats - block.nats) / n < 0.1


def test_batching_and_order_change_nothing(model, tokenizer):
    texts = [p[: 40 + 37 * i] for i, p in enumerate(prose_paragraphs()[310:318])]
    alone = [score_texts(model, tokenizer, [t], batch_size=1)[0] for t in texts]
    batched = score_texts(model, tokenizer, texts, batch_size=5)
    for a, b in zip(alone, batched, strict=True):
        assert (a.tokens, a.bytes) == (b.tokens, b.bytes)
        assert a.nats == pytest.approx(b.nats, rel=1e-5)


def test_loglikelihood_equals_a_direct_computation(model, tokenizer):
    context, continuation = "The module provides a way", " to read files"
    ctx, cont = encode_pair(tokenizer, context, continuation)
    ll, greedy = loglikelihood(model, tokenizer, context, continuation)
    assert ll == pytest.approx(-direct_nats(model, ctx + cont, len(ctx)), rel=1e-5)
    # trailing spaces of the context move to the continuation, as lm-eval does
    assert encode_pair(tokenizer, context + " ", continuation[1:]) == (ctx, cont)
    with torch.no_grad():
        logits, _ = model(torch.tensor([(ctx + cont)[:-1]]), torch.tensor([(ctx + cont)[1:]]))
    argmax = logits[0].argmax(-1).tolist()[len(ctx) - 1:]
    assert greedy == (argmax == cont)
    many = loglikelihoods(model, tokenizer, [(context, continuation), ("", "Hello there")] * 3,
                          batch_size=4)
    assert many[0][0] == pytest.approx(ll, rel=1e-5) and many[2] == many[0]


def test_bits_per_byte_hand_case():
    # 80 ln 2 nats over 40 bytes is 80 bits over 40 bytes: 2 bits per byte
    assert bits_per_byte(80 * math.log(2), 40) == pytest.approx(2.0)
    assert math.isnan(bits_per_byte(1.0, 0))
