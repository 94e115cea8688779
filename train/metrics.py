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

MFU (PaLM, Chowdhery et al. 2022, appendix B) divides the model FLOP/s by the device's peak in
the dtype the run trains in: a bf16 run against a bf16 peak. For the GPUs in `DATASHEET_PEAKS`
the peak is the vendor's dense bf16/fp16 tensor-core figure, as PaLM and nanoGPT (A100, 312
TFLOP/s) quote it: a measured matmul reaches only part of it and moves with the load of the
machine, so against the datasheet an MFU is comparable across machines and with published
ones. Any other device (a CPU, another GPU, an fp32 run) gets a matmul measured in the run's
dtype: against an fp32 matmul, as it was measured before, a bf16 run's MFU reads several times
too high on a GPU, whose fp32 matmuls run without the bf16 tensor-core rate.
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


# Dense (no sparsity) bf16 = fp16 tensor-core FLOP/s by device name, from NVIDIA's datasheets.
# The first key found in torch's device name wins, so the PCIe card precedes the SXM one
# ("NVIDIA H100 80GB HBM3"); variants not listed (H100/H200 NVL) are measured instead.
DATASHEET_PEAKS: dict[str, float] = {
    "H100 PCIe": 756e12,
    "H100": 989e12,  # SXM
    "H200": 989e12,  # the H100's tensor cores with more memory
    "A100": 312e12,  # SXM and PCIe alike
}


def peak_flops(device: torch.device, dtype: torch.dtype | None) -> tuple[float, str]:
    """The device's peak FLOP/s in the run's dtype (None: fp32), and where it comes from."""
    dtype = dtype or torch.float32
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    if dtype in (torch.bfloat16, torch.float16) and "NVL" not in name:
        for key, peak in DATASHEET_PEAKS.items():
            if key in name:
                return peak, f"datasheet {key} {dtype_name(dtype)}"
    # A GPU reaches its peak only on large matrices; 1024 is already compute-bound on a CPU.
    n = 4096 if device.type == "cuda" else 1024
    return measure_matmul_peak(device, n=n, dtype=dtype), f"measured {dtype_name(dtype)} matmul"


def dtype_name(dtype: torch.dtype | None) -> str:
    """The dtype as run facts name it (bfloat16, float16, float32); None (no autocast): off."""
    return str(dtype).replace("torch.", "") if dtype is not None else "off"


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
