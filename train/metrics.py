"""What a run measures besides the loss: bits per byte, FLOPs utilisation, the matmul peak.

In:  summed token losses (nats), token and byte counts, throughput, the model's FLOPs/token.
Out: plain floats for metrics.jsonl and summary.json.

Bits per byte makes runs with different tokenizers comparable (the convention of the Pile,
Gao et al. 2020, section 5, and of GPT-2's byte-level results): the cross-entropy of the text,
not of its tokens. bpb = (sum of token losses in nats) / (ln 2 * UTF-8 bytes those tokens
encode). Windows cut documents anywhere, so the bytes of an evaluated window are not known
exactly; they are estimated with the bytes-per-token ratio of the whole evaluated split
(manifest n_bytes / n_tokens of val). End-of-document ids are counted as tokens that encode no
bytes, exactly as the manifest counts them, so their loss is part of the text's cost.
"""

from __future__ import annotations

import math
import time

import torch


def bits_per_byte(loss_sum_nats: float, n_tokens: int, bytes_per_token: float) -> float:
    """Bits per UTF-8 byte of `n_tokens` tokens whose losses sum to `loss_sum_nats`."""
    return loss_sum_nats / (math.log(2) * n_tokens * bytes_per_token)


def model_flops_utilisation(flops_per_token: float, tokens_per_s: float, peak: float) -> float:
    """Achieved model FLOP/s over peak FLOP/s (PaLM, Chowdhery et al. 2022, appendix B)."""
    return flops_per_token * tokens_per_s / peak


def measure_matmul_peak(
    device: torch.device | str = "cpu", n: int = 1024, seconds: float = 0.3,
    dtype: torch.dtype = torch.float32,
) -> float:
    """FLOP/s of a large square matmul on `device`: the machine's practical peak."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elif device.type == "mps":
            torch.mps.synchronize()

    a @ b  # warm up the kernels
    sync()
    count, start = 0, time.perf_counter()
    while True:
        a @ b
        count += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 2 * n**3 * count / elapsed
