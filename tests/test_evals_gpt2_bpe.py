"""A released-style GPT-2 folder (weights + its own byte-level BPE: vocab.json, merges.txt) is
scored on the suites with its own tokens, as transformers itself scores it.

No released model is downloaded: the tokenizer is a small byte-level BPE trained here with
the `tokenizers` library on the fixture prose, saved in GPT-2's file format, and the model a
random GPT2LMHeadModel of that vocabulary."""

from __future__ import annotations

import json
import math

import pytest
import torch
import transformers
from tokenizers import ByteLevelBPETokenizer

from webtext.cli import main
from webtext.evals.score import score_texts
from webtext.train.generate import generate_texts, load_run
from webtext.world.evalsets import write_evalsets
from webtext.world.text import prose_paragraphs

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpt2bpe")
    folder = root / "gpt2"
    folder.mkdir()
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(prose_paragraphs()[:200]), vocab_size=600,
                            special_tokens=[EOT], show_progress=False)
    bpe.save_model(str(folder))  # vocab.json + merges.txt, GPT-2's own files
    eot = bpe.token_to_id(EOT)
    config = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64,
                                     vocab_size=bpe.get_vocab_size(), bos_token_id=eot,
                                     eos_token_id=eot)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    sets = root / "evalsets"
    write_evalsets(sets, n_items=6)
    return {"dir": folder, "eot": eot, "root": root, "sets": sets}


def test_its_own_bpe_scores_as_transformers_does(gpt2_folder):
    model, tokenizer, ckpt = load_run(gpt2_folder["dir"])
    assert tokenizer.eod_id == gpt2_folder["eot"] == ckpt["run"]["eod_id"]
    reference = transformers.AutoTokenizer.from_pretrained(gpt2_folder["dir"])
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(gpt2_folder["dir"]).eval()
    texts = ["The harbour town rebuilt its sea wall.", "A naïve café, crème brûlée — 42%!"]
    scores = score_texts(model, tokenizer, texts)
    for text, score in zip(texts, scores, strict=True):
        ids = reference.encode(text)
        assert tokenizer.encode(text) == ids and tokenizer.decode(ids) == text
        x = torch.tensor([[gpt2_folder["eot"], *ids]])
        with torch.no_grad():
            loss = hf_model(x, labels=x).loss.item()  # mean nats over the len(ids) targets
        assert score.tokens == len(ids) and score.bytes == len(text.encode("utf-8"))
        assert score.nats == pytest.approx(loss * len(ids), rel=1e-4)
    assert generate_texts(gpt2_folder["dir"], prompt="The", max_new_tokens=4)[0].startswith(
        "The")


def test_webtext_eval_scores_a_gpt2_folder(gpt2_folder, capsys):
    folder = gpt2_folder["dir"]
    assert main(["eval", str(folder), "--config", str(gpt2_folder["sets"] / "suites.toml"),
                 "--set", f'build.data_root="{gpt2_folder["root"] / "data"}"',
                 "--suite", "reference_txt", "--suite", "lambada"]) == 0
    report = json.loads((folder / "eval.json").read_text())
    ref = report["suites"]["reference_txt"]
    assert math.isfinite(ref["bpb"]) and ref["bpb"] > 0 and ref["n_items"] > 1
    assert 0 <= report["suites"]["lambada"]["acc"] <= 1


def test_a_folder_without_any_tokenizer_says_which_files(gpt2_folder, tmp_path):
    from webtext.errors import UsageError

    bare = tmp_path / "bare"
    transformers.GPT2LMHeadModel.from_pretrained(gpt2_folder["dir"]).save_pretrained(bare)
    with pytest.raises(UsageError, match="neither tokenizer.model .* nor vocab.json"):
        load_run(bare)
