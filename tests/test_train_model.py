"""The GPT-2 model: shapes, GPT-2's initialisation and weight tying, AdamW groups, overfitting."""

from __future__ import annotations

import math

import pytest
import torch

from webtext.train.config import MODEL_SHAPES, TrainConfig
from webtext.train.loop import get_lr
from webtext.train.model import GPT, GPTConfig


def small(**kw) -> GPT:
    torch.manual_seed(0)
    args = dict(vocab_size=96, block_size=16, n_layer=2, n_head=2, n_embd=32) | kw
    return GPT(GPTConfig(**args))


def test_output_shapes_and_loss():
    model = small()
    idx = torch.randint(0, 96, (3, 16))
    logits, loss = model(idx)
    assert logits.shape == (3, 1, 96) and loss is None  # sampling: the last position only
    last = logits
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 16, 96)
    torch.testing.assert_close(last[:, 0], logits[:, -1])
    assert loss.shape == () and math.isfinite(loss.item())
    # At initialisation the prediction is close to uniform: loss near ln(vocab).
    assert abs(loss.item() - math.log(96)) < 0.5
    _, loss_sum = model(idx, idx, reduction="sum")
    assert loss_sum.item() == pytest.approx(loss.item() * 3 * 16, rel=1e-5)
    with pytest.raises(ValueError):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_attention_is_causal():
    model = small().eval()
    a = torch.randint(0, 96, (1, 16))
    b = a.clone()
    b[0, 10:] = (b[0, 10:] + 1) % 96  # change only the future of position 9
    la, _ = model(a, a)  # targets: the logits of every position
    lb, _ = model(b, b)
    torch.testing.assert_close(la[0, :10], lb[0, :10])
    assert not torch.allclose(la[0, 10:], lb[0, 10:])


def test_tied_embeddings_and_scaled_residual_init():
    model = small(n_layer=4, n_embd=64, block_size=64, vocab_size=512)
    assert model.lm_head.weight is model.transformer.wte.weight
    c_proj = torch.cat([b.attn.c_proj.weight.flatten() for b in model.transformer.h])
    c_fc = torch.cat([b.mlp.c_fc.weight.flatten() for b in model.transformer.h])
    assert c_proj.std().item() == pytest.approx(0.02 / math.sqrt(2 * 4), rel=0.1)
    assert c_fc.std().item() == pytest.approx(0.02, rel=0.1)


def test_param_groups_exempt_norms_biases_embeddings():
    model = small()
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert all(n.endswith(".weight") and ".ln_" not in n for n in decayed)
    assert "transformer.wte.weight" in exempt and "transformer.wpe.weight" in exempt
    assert any(n.endswith(".bias") for n in exempt) and any("ln_1" in n for n in exempt)
    assert len(decayed) + len(exempt) == len(list(model.parameters()))


def test_loss_falls_when_overfitting_a_fixed_batch():
    model = small()
    batch = torch.randint(0, 96, (4, 17), generator=torch.Generator().manual_seed(1))
    x, y = batch[:, :-1], batch[:, 1:]
    opt = torch.optim.AdamW(model.param_groups(0.0), lr=3e-3)
    losses = []
    for _ in range(60):
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


def test_generate_appends_tokens_and_top1_is_greedy():
    model = small().eval()
    prompt = torch.tensor([[1, 2, 3]])
    out = model.generate(prompt, 20, temperature=1.0, top_k=1)
    assert out.shape == (1, 23) and torch.equal(out[:, :3], prompt)
    again = model.generate(prompt, 20, temperature=1.0, top_k=1)
    assert torch.equal(out, again)  # top-1 sampling is argmax decoding
    logits, _ = model(out[:, :3])
    assert out[0, 3].item() == logits[0, -1].argmax().item()


def test_sampling_runs_the_output_layer_on_the_last_position_only():
    model = small().eval()
    rows = []
    model.lm_head.register_forward_hook(lambda m, inp, out: rows.append(inp[0].shape[1]))
    model.generate(torch.tensor([[1, 2, 3, 4, 5]]), 4, top_k=1)
    assert rows == [1, 1, 1, 1]  # one position per new token, not the whole context


def test_named_configs_and_gpt2_small_size():
    assert TrainConfig(model="gpt2").model_shape() == {
        "n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024, "norm": "pre"}
    assert TrainConfig(model="tiny", n_layer=3).model_shape()["n_layer"] == 3
    with torch.device("meta"):  # no memory: only the parameter count
        gpt2 = GPT(GPTConfig(vocab_size=50304, **dict(zip(
            ("n_layer", "n_head", "n_embd", "block_size"), MODEL_SHAPES["gpt2"], strict=True))))
    assert 123e6 < gpt2.num_params() < 125e6  # GPT-2 small: "124M"


def test_lr_schedule_warmup_then_cosine_to_min():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4)
    lrs = [get_lr(s, cfg, warmup=10, max_steps=100) for s in range(101)]
    assert lrs[0] < lrs[5] < lrs[9] <= cfg.lr
    assert lrs[10] == pytest.approx(cfg.lr)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[100] == pytest.approx(cfg.min_lr)
    assert lrs[55] == pytest.approx((cfg.lr + cfg.min_lr) / 2)
