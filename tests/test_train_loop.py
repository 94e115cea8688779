"""The training loop end to end on a small generated tokens dir: run files, resume, CLI, HF."""

from __future__ import annotations

import json
import math

import pytest
import torch

from webtext.cli import main
from webtext.errors import UsageError
from webtext.train.checkpoint import load_checkpoint
from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.generate import generate_texts
from webtext.train.loop import train
from webtext.world.text import prose_paragraphs

# 8 optimizer steps of 4 x 2 windows of 32 tokens; a measured peak is not needed for tests,
# and fp32 because bf16 autocast costs more than it saves on matrices this small.
MICRO = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=4, grad_accum=2,
             max_tokens=8 * 4 * 2 * 32, eval_every=3, log_every=1, eval_windows=8,
             sample_tokens=8, peak_flops=1e11, warmup_steps=2, lr=3e-3, autocast="off")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    return write_text_tokens(root / "tok", list(prose_paragraphs()[:200]), vocab_size=400)


def losses(run_dir) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


def test_run_writes_every_output(tokens, tmp_path):
    run = tmp_path / "run"
    summary = train(tokens, run, TrainConfig(**MICRO))
    for name in ("ckpt.pt", "metrics.jsonl", "config.toml", "samples.txt", "summary.json",
                 "tokenizer.model"):
        assert (run / name).is_file(), name
    assert summary == json.loads((run / "summary.json").read_text())
    assert summary["tokens_seen"] == 8 * 4 * 2 * 32 and summary["final_step"] == 8
    assert summary["finished"] and summary["final_val_bpb"] > 0
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train_recs = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in train_recs] == list(range(1, 9))
    assert [r["step"] for r in evals] == [0, 3, 6, 8]  # before training, every 3, at the end
    for r in train_recs:
        assert {"loss", "lr", "tokens_seen", "tokens_per_s", "mfu"} <= r.keys()
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]  # it learned something
    assert evals[0]["val_loss"] == pytest.approx(math.log(448), abs=0.3)  # padded vocab, init
    assert all(isinstance(s, str) for s in evals[0]["samples"])
    ckpt = torch.load(run / "ckpt.pt", weights_only=True)  # plain data: no code runs
    assert ckpt["step"] == 8 and ckpt["tokens_seen"] == summary["tokens_seen"]
    assert ckpt["config"]["n_embd"] == 32 and ckpt["model_args"]["vocab_size"] == 448
    assert {"model", "optimizer", "rng", "data"} <= ckpt.keys()
    texts = generate_texts(run, prompt="The", num_samples=2, max_new_tokens=5)
    assert len(texts) == 2 and all(t.startswith("The") for t in texts)


def test_resumed_run_repeats_the_uninterrupted_losses(tokens, tmp_path):
    """Interrupt after 5 of 8 steps, resume: the same losses and weights, bit for bit.

    Exact equality holds because nothing a step computes depends on the interruption: the
    batch is a function of (seed, step), the checkpoint restores weights, AdamW moments and
    RNG state, and the same CPU kernels run with the same thread count in this process.
    """
    full = tmp_path / "full"
    train(tokens, full, TrainConfig(**MICRO, dropout=0.1))  # dropout: the RNG state matters
    cut = tmp_path / "cut"
    stopped = train(tokens, cut, TrainConfig(**MICRO, dropout=0.1, stop_after_steps=5))
    assert not stopped["finished"] and load_checkpoint(cut / "ckpt.pt")["step"] == 5
    resumed = train(tokens, cut, TrainConfig(**MICRO, dropout=0.1), resume=True)
    assert resumed["finished"] and resumed["tokens_seen"] == 8 * 4 * 2 * 32
    assert losses(cut) == losses(full)
    assert resumed["final_val_loss"] == json.loads((full / "summary.json").read_text())[
        "final_val_loss"]
    a, b = load_checkpoint(full / "ckpt.pt"), load_checkpoint(cut / "ckpt.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    again = train(tokens, cut, TrainConfig(**MICRO), resume=True)  # finished: nothing to do
    assert again == resumed


def test_existing_checkpoint_and_foreign_tokenizer_are_refused(tokens, tmp_path):
    cfg = TrainConfig(**MICRO | {"max_tokens": 256, "sample_count": 0})
    train(tokens, tmp_path / "run", cfg)
    with pytest.raises(UsageError, match="checkpoint"):
        train(tokens, tmp_path / "run", cfg)
    other = write_text_tokens(tmp_path / "other", list(prose_paragraphs()[200:300]),
                              vocab_size=512)
    with pytest.raises(UsageError, match="tokenizer"):
        train(tokens, tmp_path / "run2", cfg, eval_tokens_dir=other)


def test_eval_on_another_tokens_dir_with_the_same_tokenizer(tokens, tmp_path):
    held_out = write_text_tokens(tmp_path / "eval", list(prose_paragraphs()[300:400]),
                                 tokenizer_model=tokens / "tokenizer.model", val_every=2)
    cfg = TrainConfig(**MICRO | {"max_tokens": 256, "sample_count": 0})
    summary = train(tokens, tmp_path / "run", cfg, eval_tokens_dir=held_out)
    assert summary["eval_tokens_dir"] == str(held_out.resolve())
    assert (held_out / "cache" / "val.npy").is_file()


def test_cli_train_and_generate(tokens, tmp_path, capsys):
    run = tmp_path / "run"
    sets = [f"train.{k}={json.dumps(v)}" for k, v in MICRO.items() if k != "max_tokens"]
    args = ["train", str(tokens), "--out", str(run), "--set", "train.max_tokens=512"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    assert (run / "config.toml").read_text().startswith("[train]")
    assert main(["generate", str(run), "--prompt", "The", "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.startswith("The")
    assert main(["generate", str(tmp_path / "nothing")]) == 2  # a clear one-line error
    assert main(["train", str(tmp_path / "nothing"), "--out", str(run)]) == 2


def test_export_to_hugging_face_gives_the_same_logits(tokens, tmp_path):
    transformers = pytest.importorskip(
        "transformers", reason="transformers is not installed (optional extra webtext[hf])")
    from webtext.train.generate import export_hf, load_run

    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**MICRO | {"max_tokens": 256, "sample_count": 0}))
    out = export_hf(run, tmp_path / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    model, _, _ = load_run(run)
    idx = torch.randint(0, 400, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, model(idx, idx)[0], atol=1e-4, rtol=1e-4)
