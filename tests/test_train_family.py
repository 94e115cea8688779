"""The GPT family as named configs: released parameter counts, GPT-1's post-LN, its resume."""

from __future__ import annotations

import json

import pydantic
import pytest
import torch

from webtext.train.checkpoint import load_checkpoint
from webtext.train.config import MODEL_SHAPES, TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.loop import train
from webtext.train.model import GPT, GPTConfig
from webtext.world.text import prose_paragraphs

GPT2_VOCAB = 50_257  # exactly: the trainer's padding to a multiple of 64 is not applied here
# Parameter counts of the released checkpoints (tied embeddings, biases, 1024 positions): what
# `transformers` reports for gpt2, gpt2-medium, gpt2-large, gpt2-xl.
RELEASED = {
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
}


def build_meta(name: str, vocab_size: int = GPT2_VOCAB) -> GPT:
    with torch.device("meta"):  # shapes only: no memory, no time
        return GPT(GPTConfig(vocab_size=vocab_size, **TrainConfig(model=name).model_shape()))


def n_params(model: GPT) -> int:
    return sum(p.numel() for p in model.parameters())  # the tied matrix counts once


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_gpt2_sizes_have_the_released_parameter_counts(name):
    model = build_meta(name)
    print(f"{name}: {n_params(model):,} parameters")
    assert n_params(model) == RELEASED[name]
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.config.norm == "pre" and "ln_f" in model.transformer
    assert model.config.n_embd // model.config.n_head == 64  # every size: 64-wide heads


def test_gpt1_is_post_ln_without_a_final_norm():
    model = build_meta("gpt1")
    print(f"gpt1 (50257 vocab): {n_params(model):,} parameters")
    assert model.config.norm == "post" and model.config.block_size == 512
    assert "ln_f" not in model.transformer
    # With GPT-1's own 40,478-token vocabulary: the released openai-gpt's 116,534,784.
    released = build_meta("gpt1", vocab_size=40_478)
    print(f"gpt1 (40478 vocab): {n_params(released):,} parameters")
    assert n_params(released) == 116_534_784


def test_tiny_and_mini_keep_their_shapes():
    assert MODEL_SHAPES["tiny"] == (2, 2, 128, 128) and MODEL_SHAPES["mini"] == (4, 4, 256, 256)
    assert TrainConfig().model_shape()["norm"] == "pre"


def test_norm_is_a_setting_of_its_own():
    assert TrainConfig(model="gpt1").model_shape()["norm"] == "post"
    assert TrainConfig(model="gpt1", norm="pre").model_shape()["norm"] == "pre"
    assert TrainConfig(model="gpt2", norm="post").model_shape()["norm"] == "post"
    with pytest.raises(pydantic.ValidationError, match="norm"):
        TrainConfig(norm="sandwich")
    with pytest.raises(ValueError, match="norm"):
        GPT(GPTConfig(vocab_size=64, norm="sandwich"))


def small(norm: str) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=512, block_size=64, n_layer=4, n_head=2, n_embd=64,
                         norm=norm)).eval()


def test_post_ln_blocks_end_normalised_and_pre_ln_blocks_do_not():
    x = torch.randn(2, 16, 64) * 3 + 1
    for norm, normalised in (("post", True), ("pre", False)):
        y = small(norm).transformer.h[0](x)  # LayerNorm gain 1, bias 0 at initialisation
        is_normal = torch.allclose(y.mean(-1), torch.zeros(2, 16), atol=1e-4) and \
            torch.allclose(y.var(-1, unbiased=False), torch.ones(2, 16), atol=1e-3)
        assert is_normal == normalised, norm


def test_post_ln_keeps_gpt1_init_and_pre_ln_scales_residual_projections():
    for norm, std in (("post", 0.02), ("pre", 0.02 / (2 * 4) ** 0.5)):
        c_proj = torch.cat([b.attn.c_proj.weight.flatten() for b in small(norm).transformer.h])
        assert c_proj.std().item() == pytest.approx(std, rel=0.1), norm


# As tests/test_train_loop.py's MICRO: 8 steps of 4 x 2 windows of 32 tokens, fp32.
MICRO = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=4, grad_accum=2,
             max_tokens=8 * 4 * 2 * 32, eval_every=3, log_every=1, eval_windows=8,
             sample_tokens=8, peak_flops=1e11, warmup_steps=2, lr=3e-3, autocast="off",
             norm="post", dropout=0.1)


def losses(run_dir) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


def test_post_ln_run_trains_and_resumes_bit_identically(tmp_path):
    tokens = write_text_tokens(tmp_path / "tok", list(prose_paragraphs()[:200]), vocab_size=400)
    full = tmp_path / "full"
    summary = train(tokens, full, TrainConfig(**MICRO))
    records = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    evals = [r["val_loss"] for r in records if r["kind"] == "eval"]
    assert evals[-1] < evals[0]  # it learned something
    ckpt = load_checkpoint(full / "ckpt.pt")
    assert ckpt["model_args"]["norm"] == summary["model_args"]["norm"] == "post"
    assert not any(".ln_f." in name for name in ckpt["model"])  # GPT-1: no final LayerNorm

    cut = tmp_path / "cut"
    stopped = train(tokens, cut, TrainConfig(**MICRO, stop_after_steps=5))
    assert not stopped["finished"] and load_checkpoint(cut / "ckpt.pt")["step"] == 5
    resumed = train(tokens, cut, TrainConfig(**MICRO), resume=True)
    assert resumed["finished"] and losses(cut) == losses(full)
    assert resumed["final_val_loss"] == summary["final_val_loss"]
    b = load_checkpoint(cut / "ckpt.pt")
    for name, tensor in ckpt["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
