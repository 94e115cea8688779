"""Training throughput: the data path's cost, model FLOPs utilisation, and fp32 vs bf16.

Same run, same model: `webtext.train.loop.train` reading windows from the token shards (through
the derived flat array) against the identical loop fed an in-memory random tensor (the data
class swapped, nothing else). Target: shards >= 0.9x random (the data path costs <= 10%).
MFU is reported against a measured fp32 matmul peak of this machine. Runs alternate (A B A B)
so that load from other processes on a shared machine hits both sides alike; medians are quoted.

    .venv/bin/python benchmarks/train_throughput.py [--steps 12] [--repeats 2]
        [--model tiny] [--autocast auto] [--no-compare-dtypes]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from webtext.train import data, loop
from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.metrics import measure_matmul_peak
from webtext.world.text import prose_paragraphs


class RandomWindows:
    """In-memory random batches with TrainWindows' interface: no disk, no gather."""

    def __init__(self, tokens: np.ndarray, block_size: int, batch_size: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        vocab = int(tokens.max()) + 1
        self.pool = torch.randint(0, vocab, (8, batch_size, block_size + 1), generator=gen)

    def batch(self, step: int, micro: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        b = self.pool[(step + micro) % len(self.pool)]
        return b[:, :-1].to(device), b[:, 1:].to(device)


def run_once(tokens: Path, out: Path, cfg: TrainConfig, random_data: bool) -> dict:
    original = data.TrainWindows
    if random_data:
        data.TrainWindows = RandomWindows  # the loop looks it up at call time
    try:
        return loop.train(tokens, out, cfg)
    finally:
        data.TrainWindows = original


def windows_per_s(tokens: Path, cache: Path, block: int, batch: int, n: int = 200) -> float:
    """Windows/s of TrainWindows.batch over the memory-mapped flat array."""
    flat = data.open_flat(data.derive_flat(tokens, "train", cache))
    w = data.TrainWindows(flat, block, batch_size=batch, seed=0)
    start = time.perf_counter()
    for i in range(n):
        w.batch(i, 0, torch.device("cpu"))
    return n * batch / (time.perf_counter() - start)


def row_group_windows_per_s(tokens: Path, block: int, batch: int, n: int = 20) -> float:
    """The rejected design: decode a Parquet row group per batch, cut windows from it."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    shards = [tokens / s["file"] for s in data.read_manifest(tokens)["shards"]
              if s["split"] == "train"]
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(n):
        pf = pq.ParquetFile(shards[rng.integers(len(shards))])
        col = pf.read_row_group(int(rng.integers(pf.num_row_groups)), columns=["tokens"])
        flat = pc.list_flatten(col.column("tokens")).to_numpy()
        for s in rng.integers(0, max(1, len(flat) - block - 1), size=batch):
            torch.from_numpy(flat[s : s + block + 1].astype(np.int64))
    return n * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps per run")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--autocast", default="auto", choices=["auto", "bf16", "off"])
    ap.add_argument("--no-compare-dtypes", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="webtext-bench-"))
    tokens = write_text_tokens(tmp / "tok", list(prose_paragraphs()), vocab_size=args.vocab)
    manifest = data.read_manifest(tokens)
    print(f"tokens dir: {manifest['splits']['train']['tokens']:,} train tokens, "
          f"vocab {args.vocab}, {len(manifest['shards'])} shards")

    peak = measure_matmul_peak("cpu", n=2048, seconds=1.0)
    print(f"fp32 matmul peak (2048^3, {torch.get_num_threads()} threads): "
          f"{peak / 1e9:.1f} GFLOP/s")

    block = TrainConfig(model=args.model).model_shape()["block_size"]
    base = dict(model=args.model, batch_size=args.batch_size, eval_every=10**9,
                eval_windows=1, sample_count=0, log_every=1, peak_flops=peak,
                max_tokens=args.steps * args.batch_size * block)
    cfg = TrainConfig(**base, autocast=args.autocast)
    flat_wps = windows_per_s(tokens, tmp / "cache", block, args.batch_size)
    group_wps = row_group_windows_per_s(tokens, block, args.batch_size)
    print(f"data path alone, windows of {block + 1} tokens: {flat_wps:,.0f}/s from the "
          f"memory-mapped flat array, {group_wps:,.0f}/s decoding a row group per batch")

    runs: dict[str, list[dict]] = {"shards": [], "random": []}
    for r in range(args.repeats):
        for kind in ("shards", "random"):
            s = run_once(tokens, tmp / f"{kind}{r}", cfg, random_data=kind == "random")
            runs[kind].append(s)
            print(f"  {kind:>6} run {r}: {s['tokens_per_s']:,.0f} tokens/s")
    tps = {k: statistics.median(s["tokens_per_s"] for s in v) for k, v in runs.items()}
    best = {k: max(s["tokens_per_s"] for s in v) for k, v in runs.items()}
    s0 = runs["shards"][0]
    print(f"model {args.model}: {s0['n_params']:,} params, {s0['flops_per_token'] / 1e6:.1f} "
          f"MFLOP/token, autocast {s0['autocast']}, batch {args.batch_size}x{block}")
    print(f"tokens/s median: shards {tps['shards']:,.0f}, in-memory random "
          f"{tps['random']:,.0f}; ratio {tps['shards'] / tps['random']:.3f} (target >= 0.9)")
    print(f"tokens/s best: shards {best['shards']:,.0f}, in-memory random "
          f"{best['random']:,.0f}; ratio {best['shards'] / best['random']:.3f}")
    print(f"MFU vs fp32 peak: shards {s0['flops_per_token'] * tps['shards'] / peak:.1%}, "
          f"random {s0['flops_per_token'] * tps['random'] / peak:.1%}")

    if not args.no_compare_dtypes:
        print("autocast on this CPU (in-memory random data, same model):")
        for model in ("tiny", "mini"):
            mblock = TrainConfig(model=model).model_shape()["block_size"]
            bs = max(1, args.batch_size * block // mblock)
            res = {}
            for ac in ("off", "bf16", "off", "bf16"):
                c = TrainConfig(**base | {"model": model, "batch_size": bs,
                                          "max_tokens": 4 * bs * mblock}, autocast=ac)
                s = run_once(tokens, tmp / f"{model}-{ac}-{len(res)}-{time.time_ns()}", c, True)
                res.setdefault(ac, []).append(s["tokens_per_s"])
            off, bf = max(res["off"]), max(res["bf16"])
            print(f"  {model} (best of 2): fp32 {off:,.0f} tokens/s, bf16 {bf:,.0f} tokens/s, "
                  f"bf16/fp32 {bf / off:.2f}x")
    print(f"(scratch files in {tmp})")


if __name__ == "__main__":
    main()
