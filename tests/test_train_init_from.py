"""`init_from`: a run that starts from a local transformers GPT-2 folder computes that model's
logits before its first step, exports back to the same model, refuses another shape, and is
ignored once the run has a checkpoint."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from webtext.errors import UsageError
from webtext.train import data
from webtext.train.checkpoint import load_checkpoint, model_from_checkpoint
from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.generate import export_hf
from webtext.train.loop import train
from webtext.world.text import prose_paragraphs

transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (optional extra webtext[hf])")

# One optimizer step of 4 x 2 windows of 32 tokens, evaluated before it. lr 1e-9 without weight
# decay: Adam's first step moves each weight by at most lr, so the weights after the step are
# the folder's to ~1e-9 and the export can be compared with the folder itself.
ONE_STEP = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=4, grad_accum=2,
                max_tokens=4 * 2 * 32, eval_every=1, log_every=1, eval_windows=8,
                sample_count=0, peak_flops=1e11, warmup_steps=0, lr=1e-9, min_lr=0.0,
                weight_decay=0.0, autocast="off")
VOCAB, PADDED = 400, 448  # the tokenizer's vocabulary, and the trainer's (a multiple of 64)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    return write_text_tokens(root / "tok", list(prose_paragraphs()[:200]), vocab_size=VOCAB)


def saved_gpt2(folder, vocab_size: int, n_layer: int = 1) -> transformers.GPT2LMHeadModel:
    """A small GPT2LMHeadModel with every weight random (biases, LayerNorms too), saved."""
    config = transformers.GPT2Config(n_layer=n_layer, n_embd=32, n_head=2, n_positions=32,
                                     vocab_size=vocab_size)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    model.save_pretrained(folder)
    return model.eval()


def val_loss_of(hf: transformers.GPT2LMHeadModel, tokens, run) -> float:
    """transformers' mean loss (nats/token) over the run's validation windows."""
    flat = data.derive_flat(tokens, "val", data.cache_dir_for(tokens, run))
    batches = data.Batches(
        flat, flat, data.split_info(tokens, "val"), block_size=32, batch_size=4, seed=0,
        eval_windows=ONE_STEP["eval_windows"], accum=1, rank=0, world=1,
        device=torch.device("cpu"))
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in batches.val_windows():
            logits = hf(x).logits
            total += float(F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1),
                                           reduction="sum"))
            count += y.numel()
    return total / count


def first_eval(run) -> dict:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return next(r for r in map(json.loads, lines) if r["kind"] == "eval" and r["step"] == 0)


def test_run_starts_from_the_folder_and_exports_back_to_it(tokens, tmp_path):
    hf = saved_gpt2(tmp_path / "hf", vocab_size=PADDED)  # e.g. a run exported earlier
    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**ONE_STEP, init_from=str(tmp_path / "hf")))
    # Before the step: the folder's model, evaluated by the trainer on its validation windows.
    assert first_eval(run)["val_loss"] == pytest.approx(val_loss_of(hf, tokens, run), abs=1e-4)
    # The round trip: init_from -> one step of at most 1e-9 per weight -> export.
    exported = transformers.GPT2LMHeadModel.from_pretrained(export_hf(run, tmp_path / "out"))
    idx = torch.randint(0, VOCAB, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(exported.eval()(idx).logits, hf(idx).logits,
                                   atol=1e-4, rtol=1e-4)


def test_folder_vocabulary_fills_the_first_rows_of_the_padded_one(tokens, tmp_path):
    """A released GPT-2 has the tokenizer's 50,257 rows; the trainer pads to 50,304."""
    hf = saved_gpt2(tmp_path / "hf", vocab_size=VOCAB)
    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**ONE_STEP, init_from=str(tmp_path / "hf")))
    model = model_from_checkpoint(load_checkpoint(run / "ckpt.pt"))
    assert model.config.vocab_size == PADDED
    idx = torch.randint(0, VOCAB, (2, 32), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(idx, idx)[0]
        torch.testing.assert_close(ours[..., :VOCAB], hf(idx).logits, atol=1e-4, rtol=1e-4)
    wte = model.transformer.wte.weight
    torch.testing.assert_close(wte[:VOCAB], hf.transformer.wte.weight, atol=1e-6, rtol=0)
    assert wte[VOCAB:].std() < 0.05  # the padding rows keep the trainer's N(0, 0.02) init


@pytest.mark.parametrize(("settings", "vocab", "message"), [
    ({"n_layer": 2}, PADDED, "n_layer 2 != 1"),
    ({"n_embd": 64, "n_head": 2}, PADDED, "n_embd 64 != 32"),
    ({"block_size": 64}, PADDED, "block_size 64 != 32"),
    ({}, 300, "vocab_size 300 outside 400 (the tokenizer's) .. 448"),
    ({}, 512, "vocab_size 512 outside 400 (the tokenizer's) .. 448"),
    ({"norm": "post"}, PADDED, "pre-LN with biases"),
])
def test_another_shape_is_refused_before_anything_is_written(
    tokens, tmp_path, settings, vocab, message,
):
    saved_gpt2(tmp_path / "hf", vocab_size=vocab)
    run = tmp_path / "run"
    with pytest.raises(UsageError) as info:
        train(tokens, run, TrainConfig(**ONE_STEP | settings, init_from=str(tmp_path / "hf")))
    text = str(info.value)
    assert text.startswith(f"init_from {tmp_path / 'hf'}: ") and message in text
    assert "(config != folder)" in text and "\n" not in text
    assert not run.exists()


def test_the_shape_is_refused_before_the_weights_are_read(tokens, tmp_path):
    saved_gpt2(tmp_path / "hf", vocab_size=PADDED)
    weights = [p for p in (tmp_path / "hf").iterdir() if p.name != "config.json"]
    assert weights  # model.safetensors (or pytorch_model.bin)
    for path in weights:  # gone: reading them would be another error
        path.unlink()
    with pytest.raises(UsageError, match=r"n_layer 2 != 1 \(config != folder\)"):
        train(tokens, tmp_path / "run", TrainConfig(**ONE_STEP | {"n_layer": 2},
                                                    init_from=str(tmp_path / "hf")))
    with pytest.raises(UsageError, match="cannot load the GPT-2 weights"):  # the right shape
        train(tokens, tmp_path / "run", TrainConfig(**ONE_STEP, init_from=str(tmp_path / "hf")))


def test_not_a_model_folder_is_one_clear_line(tokens, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"empty: no config\.json"):
        train(tokens, tmp_path / "run", TrainConfig(**ONE_STEP, init_from=str(tmp_path / "empty")))


def test_a_resumed_run_ignores_init_from(tokens, tmp_path):
    saved_gpt2(tmp_path / "hf", vocab_size=PADDED)
    run = tmp_path / "run"
    cfg = ONE_STEP | {"max_tokens": 2 * 4 * 2 * 32, "init_from": str(tmp_path / "hf")}
    train(tokens, run, TrainConfig(**cfg, stop_after_steps=1))
    shutil.rmtree(tmp_path / "hf")  # the checkpoint holds the weights by now
    summary = train(tokens, run, TrainConfig(**cfg), resume=True)
    assert summary["finished"] and summary["final_step"] == 2
