"""GPT-2 small (124M) training throughput and MFU on whatever device this machine has.

The trainer as a run uses it (`webtext.train.loop.train`), on a tokens dir of random ids over
GPT-2's 50,257-token vocabulary, so the output layer has its real size. On CUDA: torch.compile,
bf16 autocast (fp16 with a gradient scaler where bf16 is missing), fused AdamW; MFU against the
datasheet bf16 peak for named GPUs (H100, H200, A100), a measured matmul in the run's dtype
elsewhere (see webtext.train.metrics). On a CPU the same run shrinks to a size CI can afford.

    .venv/bin/python benchmarks/gpu_bench.py                 # CUDA: 30 steps of 16 x 1024
    .venv/bin/python benchmarks/gpu_bench.py --smoke         # CPU, 2 steps of 1 x 128, < 1 min
    .venv/bin/python benchmarks/gpu_bench.py --steps 50 --batch 12 --activation-checkpointing

Steady state: the first steps (compilation, allocator warm-up) are left out of the median.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from webtext.train.config import TrainConfig
from webtext.train.fixture import write_tokens
from webtext.train.loop import train

GPT2_VOCAB, GPT2_EOD = 50257, 50256  # GPT-2's byte-level BPE and its <|endoftext|>


def random_tokens(out: Path, n_tokens: int, seed: int = 0) -> Path:
    """A tokens dir of random GPT-2 ids in 1,000-token documents (4 bytes per token, a guess
    that only scales bits per byte, which this benchmark does not report)."""
    rng = np.random.default_rng(seed)
    docs = [(rng.integers(0, GPT2_EOD, size=999).tolist() + [GPT2_EOD], 4000)
            for _ in range(max(2, n_tokens // 1000))]
    return write_tokens(out, {"train": docs, "val": docs[:2]}, GPT2_VOCAB, GPT2_EOD)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="the CI form: CPU, --steps 2 --batch 1 --block 128")
    ap.add_argument("--device", default="auto", help="auto: cuda if there is one, else cpu")
    ap.add_argument("--steps", type=int, default=None, help="default: 30 on CUDA, 2 on CPU")
    ap.add_argument("--batch", type=int, default=None, help="default: 16 on CUDA, 1 on CPU")
    ap.add_argument("--block", type=int, default=None, help="default: 1024 on CUDA, 128 on CPU")
    ap.add_argument("--model", default="gpt2")
    ap.add_argument("--autocast", default="auto", choices=["auto", "bf16", "fp16", "off"])
    ap.add_argument("--no-compile", action="store_true", help="(compiled by default on CUDA)")
    ap.add_argument("--activation-checkpointing", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch tokens and run dir (GPT-2 small's checkpoint with "
                         "its optimiser state is about 1.4 GB); removed by default")
    args = ap.parse_args()

    device = "cpu" if args.smoke else args.device
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    steps = args.steps or (30 if cuda else 2)
    batch = args.batch or (16 if cuda else 1)
    block = args.block or (1024 if cuda else 128)
    tmp = Path(tempfile.mkdtemp(prefix="webtext-gpu-bench-"))
    try:
        measure(args, device, steps, batch, block, tmp)
    finally:
        if args.keep:
            print(f"(scratch files kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(args: argparse.Namespace, device: str, steps: int, batch: int, block: int,
            tmp: Path) -> None:
    tokens = random_tokens(tmp / "tok", n_tokens=max(20_000, 4 * batch * block))
    cfg = TrainConfig(
        model=args.model, block_size=block, batch_size=batch, max_tokens=steps * batch * block,
        warmup_steps=1, eval_every=10**9, eval_windows=1, sample_count=0, log_every=1,
        device=device, autocast=args.autocast, compile=False if args.no_compile else None,
        activation_checkpointing=args.activation_checkpointing)
    summary = train(tokens, tmp / "run", cfg)
    records = [json.loads(line) for line in (tmp / "run" / "metrics.jsonl").open()]
    steady = [r for r in records if r["kind"] == "train"][min(steps - 1, max(1, steps // 5)):]
    tokens_per_s = statistics.median(r["tokens_per_s"] for r in steady)
    mfu = statistics.median(r["mfu"] for r in steady)
    name = torch.cuda.get_device_name() if summary["device"].startswith("cuda") else "CPU"
    print(f"{args.model}: {summary['n_params']:,} params on {summary['device']} ({name}), "
          f"batch {batch} x {block}, {steps} steps, autocast {summary['autocast']}, "
          f"compile {summary['compile']}, activation checkpointing "
          f"{args.activation_checkpointing}")
    print(f"tokens/s: {tokens_per_s:,.0f} (median of the last {len(steady)} steps)")
    print(f"MFU: {mfu:.1%} of {summary['peak_flops'] / 1e12:,.2f} TFLOP/s "
          f"({summary['peak_flops_source']})")
    if torch.cuda.is_available() and summary["device"].startswith("cuda"):
        print(f"peak memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
