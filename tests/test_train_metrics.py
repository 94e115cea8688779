"""Bits per byte on hand-computed examples; the FLOPs utilisation arithmetic."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from webtext.train import data
from webtext.train.fixture import write_tokens
from webtext.train.loop import evaluate
from webtext.train.metrics import bits_per_byte, model_flops_utilisation
from webtext.train.model import GPT, GPTConfig


def test_bits_per_byte_by_hand():
    # 12 tokens costing 4 bits each = 48 bits, spread over 12 * 2 = 24 bytes: 2 bits/byte.
    assert bits_per_byte(48 * math.log(2), 12, 2.0) == pytest.approx(2.0)
    # 1 nat per token at 4 bytes per token: 1 / (4 ln 2) = 0.360674 bits/byte.
    assert bits_per_byte(100.0, 100, 4.0) == pytest.approx(0.360674, abs=1e-6)


def test_uniform_model_scores_log2_vocab_bits_per_token(tmp_path):
    """A model with all weights zero predicts uniformly over 64 ids: ln 64 nats = 6 bits/token.

    The val split holds 10 docs of 30 tokens and 75 bytes each: 2.5 bytes/token, so
    bpb = 6 / 2.5 = 2.4 by hand.
    """
    docs = [([5 + i % 50] * 29 + [2], 75) for i in range(10)]
    tok = write_tokens(tmp_path / "tok", {"train": docs, "val": docs}, vocab_size=64, eod_id=2)
    info = data.split_info(tok, "val")
    assert info.bytes_per_token == 2.5
    flat = data.open_flat(data.derive_flat(tok, "val", tmp_path / "cache"))
    starts = data.val_starts(len(flat), 16, 8)
    batches = data.val_batches(flat, starts, 16, 3, torch.device("cpu"))
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=1, n_embd=8))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    result = evaluate(model, batches, contextlib.nullcontext(), info.bytes_per_token, False)
    assert result["val_tokens"] == 8 * 16
    assert result["val_loss"] == pytest.approx(math.log(64), rel=1e-6)
    assert result["val_bpb"] == pytest.approx(2.4, rel=1e-6)


def test_mfu_arithmetic():
    # 1e6 FLOPs/token at 5e4 tokens/s = 5e10 FLOP/s of a 1e11 peak.
    assert model_flops_utilisation(1e6, 5e4, 1e11) == pytest.approx(0.5)
