"""Evaluation throughput: suite scoring against a bare forward pass over the same windows.

Same model, same texts, same windows: `webtext.evals.score.score_texts` (tokenize, plan the
sliding windows, batch, forward with per-position loss, pool per item) against the model's
own `forward(idx, targets)` over exactly those windows, already tokenized and batched (the
least any scorer must do). Throughput is scored tokens per second; the scorer pays for
tokenization and padding, the bare pass for nothing. Target: scoring >= 0.8x the bare pass.
Rounds alternate (A B A B ...) so that load from other processes on a shared machine hits both
sides alike; every round is printed and the medians are compared.

    .venv/bin/python benchmarks/eval_throughput.py [--rounds 5] [--model small]
        [--texts 120] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from webtext.evals.score import Window, plan_windows, score_texts
from webtext.train.model import GPT, GPTConfig
from webtext.train.tokenizer import Tokenizer, train_tokenizer
from webtext.world.evalsets import eval_paragraphs
from webtext.world.text import prose_paragraphs

MODELS = {  # shapes of the demo's model and a larger one
    "tiny": dict(n_layer=2, n_head=2, n_embd=128, block_size=128),
    "small": dict(n_layer=4, n_head=4, n_embd=256, block_size=256),
}


def bare_batches(tokenizer: Tokenizer, texts: list[str], block: int, stride: int,
                 batch_size: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], int]:
    """The scorer's windows as (idx, targets) batches, and how many tokens they score."""
    seqs = [[tokenizer.eod_id, *tokenizer.encode(t)] for t in texts]
    windows = [Window(i, s, e, k) for i, seq in enumerate(seqs)
               for s, e, k in plan_windows(len(seq), 1, block, stride)]
    windows.sort(key=lambda w: w.end - w.start, reverse=True)
    batches = []
    for b in range(0, len(windows), batch_size):
        part = windows[b : b + batch_size]
        width = max(w.end - w.start for w in part)
        idx = torch.zeros((len(part), width), dtype=torch.long)
        tgt = torch.full((len(part), width), -100, dtype=torch.long)
        for row, w in enumerate(part):
            n = w.end - w.start
            idx[row, :n] = torch.tensor(seqs[w.item][w.start : w.end])
            tgt[row, :n] = torch.tensor(seqs[w.item][w.start + 1 : w.end + 1])
        batches.append((idx, tgt))
    return batches, sum(len(s) - 1 for s in seqs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", choices=sorted(MODELS), default="small")
    ap.add_argument("--texts", type=int, default=120, help="paragraph pairs scored per round")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    paras = eval_paragraphs()
    texts = [paras[i] + "\n\n" + paras[i + 1] for i in range(0, 2 * args.texts, 2)]
    with tempfile.TemporaryDirectory() as tmp:
        tok = Tokenizer(train_tokenizer(list(prose_paragraphs()), Path(tmp) / "t.model", 2048))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=2048, **MODELS[args.model])).eval()
    block = model.config.block_size
    stride = block // 2
    batches, n_tokens = bare_batches(tok, texts, block, stride, args.batch_size)
    print(f"model {args.model} ({model.num_params() / 1e6:.1f}M params, block {block}), "
          f"{len(texts)} texts, {n_tokens:,} scored tokens, {len(batches)} batches, "
          f"{torch.get_num_threads()} threads")

    def run_score() -> float:
        t = time.perf_counter()
        scores = score_texts(model, tok, texts, stride=stride, batch_size=args.batch_size)
        assert sum(s.tokens for s in scores) == n_tokens
        return n_tokens / (time.perf_counter() - t)

    @torch.inference_mode()
    def run_bare() -> float:
        t = time.perf_counter()
        for idx, tgt in batches:
            model(idx, tgt)
        return n_tokens / (time.perf_counter() - t)

    run_score(), run_bare()  # warm-up: allocator, kernels
    score_tps, bare_tps = [], []
    for r in range(args.rounds):
        s, b = run_score(), run_bare()
        score_tps.append(s)
        bare_tps.append(b)
        print(f"round {r + 1}: suite scoring {s:,.0f} tok/s   bare forward {b:,.0f} tok/s   "
              f"ratio {s / b:.3f}")
    ratio = statistics.median(score_tps) / statistics.median(bare_tps)
    verdict = "meets" if ratio >= 0.8 else "MISSES"
    print(f"median: suite scoring {statistics.median(score_tps):,.0f} tok/s, bare forward "
          f"{statistics.median(bare_tps):,.0f} tok/s: {ratio:.3f}x ({verdict} the 0.8x target)")


if __name__ == "__main__":
    main()
