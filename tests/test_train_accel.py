"""Accelerator paths of the trainer, as far as a CPU runs them: activation checkpointing, the
fp16 gradient scaler, the compile setting, MFU against the peak of the run's dtype, and the
GPU benchmark's CPU form."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from webtext.train import metrics
from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.loop import checkpoint_blocks, train
from webtext.train.model import GPT, GPTConfig
from webtext.world.text import prose_paragraphs

ROOT = Path(__file__).resolve().parents[1]
# As tests/test_train_loop.py's MICRO: 8 steps of 4 x 2 windows of 32 tokens, fp32.
MICRO = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=4, grad_accum=2,
             max_tokens=8 * 4 * 2 * 32, eval_every=4, log_every=1, eval_windows=8,
             sample_count=0, peak_flops=1e11, warmup_steps=2, lr=3e-3, autocast="off")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    return write_text_tokens(root / "tok", list(prose_paragraphs()[:200]), vocab_size=400)


def records(run_dir, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def saved_tensors(model: GPT, idx: torch.Tensor) -> tuple[int, torch.Tensor, dict]:
    """(tensors the forward pass keeps for backward, loss, gradients) of one training step."""
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        return t

    torch.manual_seed(7)  # the dropout masks
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, loss = model(idx, idx)
    loss.backward()
    return count, loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_activation_checkpointing_keeps_less_and_computes_the_same():
    config = GPTConfig(vocab_size=64, block_size=16, n_layer=3, n_head=2, n_embd=16, dropout=0.1)
    torch.manual_seed(0)
    plain = GPT(config)
    checkpointed = GPT(config)
    checkpointed.load_state_dict(plain.state_dict())
    checkpoint_blocks(checkpointed)
    assert checkpointed.state_dict().keys() == plain.state_dict().keys()  # same checkpoints
    idx = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(1))
    kept_plain, loss_plain, grads_plain = saved_tensors(plain, idx)
    kept_ckpt, loss_ckpt, grads_ckpt = saved_tensors(checkpointed, idx)
    # Each block keeps its input only, not its attention and MLP activations.
    assert kept_ckpt < kept_plain / 2
    assert torch.equal(loss_ckpt, loss_plain)  # the same dropout masks, replayed
    for name, grad in grads_plain.items():
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=1e-6, atol=1e-7, msg=name)


def test_activation_checkpointing_run_trains_like_the_plain_one(tokens, tmp_path):
    cfg = MICRO | {"dropout": 0.1}
    train(tokens, tmp_path / "plain", TrainConfig(**cfg))
    train(tokens, tmp_path / "ckpt", TrainConfig(**cfg, activation_checkpointing=True))
    plain, ckpt = records(tmp_path / "plain", "train"), records(tmp_path / "ckpt", "train")
    assert [r["loss"] for r in ckpt] == pytest.approx([r["loss"] for r in plain], rel=1e-5)


def test_fp16_trains_with_a_gradient_scaler(tokens, tmp_path):
    """float16 autocast: the loss is scaled up for backward and the gradients unscaled before
    clipping, so the logged gradient norm is the true one (fp32's), not 65536 times it."""
    fp16 = train(tokens, tmp_path / "fp16", TrainConfig(**MICRO | {"autocast": "fp16"}))
    train(tokens, tmp_path / "fp32", TrainConfig(**MICRO))
    assert fp16["autocast"] == "float16" and fp16["finished"]
    half, full = records(tmp_path / "fp16", "train"), records(tmp_path / "fp32", "train")
    assert half[0]["grad_norm"] == pytest.approx(full[0]["grad_norm"], rel=0.05)
    assert half[-1]["loss"] == pytest.approx(full[-1]["loss"], rel=0.05)
    ckpt = torch.load(tmp_path / "fp16" / "ckpt.pt", weights_only=True)
    assert ckpt["scaler"]["scale"] == 2.0**16  # GradScaler's initial scale: no overflow here
    assert "scaler" not in torch.load(tmp_path / "fp32" / "ckpt.pt", weights_only=True)


def test_compile_setting_is_off_on_cpu_unless_asked(tokens, tmp_path, monkeypatch):
    compiled = []

    def fake_compile(model):  # records the call; compiling for real is the slow test below
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    cfg = MICRO | {"max_tokens": 2 * 4 * 2 * 32}
    assert TrainConfig().compile is None  # None: on for CUDA, off for CPU
    assert not train(tokens, tmp_path / "auto", TrainConfig(**cfg))["compile"]
    assert compiled == []
    assert train(tokens, tmp_path / "on", TrainConfig(**cfg, compile=True))["compile"]
    assert len(compiled) == 1 and isinstance(compiled[0], GPT)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_compiled_run_trains_like_the_eager_one(tokens, tmp_path):
    """torch.compile on a CPU: minutes of compiling on a 2-core machine, hence slow."""
    cfg = MICRO | {"max_tokens": 2 * 4 * 2 * 32, "n_layer": 1}
    eager = train(tokens, tmp_path / "eager", TrainConfig(**cfg))
    compiled = train(tokens, tmp_path / "compiled", TrainConfig(**cfg, compile=True))
    assert compiled["compile"] and not eager["compile"]
    assert [r["loss"] for r in records(tmp_path / "compiled", "train")] == pytest.approx(
        [r["loss"] for r in records(tmp_path / "eager", "train")], rel=1e-4)


@pytest.mark.parametrize(("name", "dtype", "peak"), [
    ("NVIDIA H100 80GB HBM3", torch.bfloat16, 989e12),
    ("NVIDIA H100 PCIe", torch.bfloat16, 756e12),
    ("NVIDIA H200", torch.bfloat16, 989e12),
    ("NVIDIA A100-SXM4-80GB", torch.float16, 312e12),
])
def test_named_gpus_use_their_datasheet_peak(monkeypatch, name, dtype, peak):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(metrics, "measure_matmul_peak", lambda *a, **k: pytest.fail("measured"))
    value, source = metrics.peak_flops(torch.device("cuda"), dtype)
    assert value == peak and source.startswith("datasheet")


@pytest.mark.parametrize(("name", "dtype", "measured"), [
    ("NVIDIA H100 80GB HBM3", None, torch.float32),  # an fp32 run: no tensor-core figure
    ("NVIDIA H100 NVL", torch.bfloat16, torch.bfloat16),  # a variant not in the table
    ("NVIDIA GeForce RTX 4090", torch.bfloat16, torch.bfloat16),
])
def test_other_devices_measure_a_matmul_in_the_run_dtype(monkeypatch, name, dtype, measured):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    asked = []
    monkeypatch.setattr(metrics, "measure_matmul_peak",
                        lambda device, n, dtype: asked.append(dtype) or 1e12)
    value, source = metrics.peak_flops(torch.device("cuda"), dtype)
    assert (value, asked) == (1e12, [measured])
    assert source == f"measured {str(measured).removeprefix('torch.')} matmul"


def test_mfu_of_a_bf16_run_is_against_a_bf16_peak(tokens, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(metrics, "measure_matmul_peak",
                        lambda device, n, dtype: asked.append(dtype) or 2e11)
    cfg = MICRO | {"max_tokens": 2 * 4 * 2 * 32, "autocast": "bf16", "peak_flops": None}
    summary = train(tokens, tmp_path / "run", TrainConfig(**cfg))
    assert asked == [torch.bfloat16]
    assert (summary["peak_flops"], summary["peak_flops_source"]) == (
        2e11, "measured bfloat16 matmul")
    for r in records(tmp_path / "run", "train"):
        assert r["mfu"] == pytest.approx(summary["flops_per_token"] * r["tokens_per_s"] / 2e11)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gpu_benchmark_runs_its_cpu_form(tmp_path):
    """benchmarks/gpu_bench.py --smoke: GPT-2 small, 2 steps of 1 x 128 on the CPU (about half
    a minute of CPU time), so the benchmark CI never runs on a GPU still works. Its scratch
    files (1.4 GB: the checkpoint with its optimiser state) are gone when it ends: every run
    used to leave them behind, and repeated runs filled the disk."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "benchmarks/gpu_bench.py", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=880, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(tmp_path.glob("webtext-gpu-bench-*"))  # its scratch folder is gone
    # 12 blocks of 7,087,872 + 50,304 x 768 token rows (padded vocabulary) + the final norm's
    # 1,536; position rows are not counted (model.num_params)
    assert "gpt2: 123,689,472 params on cpu" in proc.stdout
    tokens_per_s = re.search(r"^tokens/s: ([\d,]+)", proc.stdout, re.M)
    mfu = re.search(r"^MFU: ([\d.]+)% of .* \(measured (bfloat16|float32) matmul\)",
                    proc.stdout, re.M)
    assert tokens_per_s and float(tokens_per_s[1].replace(",", "")) > 0
    assert mfu and float(mfu[1]) > 0
