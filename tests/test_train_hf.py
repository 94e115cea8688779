"""transformers GPT-2 <-> our GPT: start from a saved GPT2LMHeadModel, export every named
config and back without loss, refuse what GPT-2 cannot be (post-LN) with a clear error."""

from __future__ import annotations

import json
import sys

import pytest
import torch
import transformers

from webtext.cli import main as cli_main
from webtext.errors import UsageError
from webtext.train import hf
from webtext.train.config import MODEL_SHAPES, TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.generate import export_hf, generate_texts, load_run
from webtext.train.loop import train
from webtext.train.model import GPT, GPTConfig
from webtext.world.text import prose_paragraphs


def random_hf(tmp_path, vocab_size: int = 300, **kw) -> tuple[transformers.GPT2LMHeadModel, str]:
    """A small GPT2LMHeadModel with every weight random (biases and LayerNorms too), saved."""
    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=4, n_positions=64, vocab_size=vocab_size,
        bos_token_id=1, eos_token_id=1, **kw)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    model.save_pretrained(tmp_path / "hf")
    return model.eval(), tmp_path / "hf"


def full_logits(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(idx, idx)[0]  # targets: every position's logits


def test_starting_from_a_saved_gpt2_gives_its_logits(tmp_path):
    ref, folder = random_hf(tmp_path)
    model, config = hf.load_hf(folder)
    assert (model.config.n_layer, model.config.n_embd, model.config.n_head) == (2, 64, 4)
    assert model.config.vocab_size == 300 and model.config.block_size == 64
    assert config.eos_token_id == 1
    assert model.lm_head.weight is model.transformer.wte.weight  # still tied after loading
    idx = torch.randint(0, 300, (3, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(idx).logits
    torch.testing.assert_close(full_logits(model, idx), expected, atol=1e-4, rtol=1e-4)
    # and the weights are ours: changing our copy leaves the transformers model alone
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
        torch.testing.assert_close(ref(idx).logits, expected)


def test_a_gpt2_folder_stands_in_for_a_run(tmp_path, capsys):
    tokens = write_text_tokens(tmp_path / "tok", list(prose_paragraphs()[:100]), vocab_size=400)
    eod = json.loads((tokens / "manifest.json").read_text())["tokenizer"]["eod_id"]
    config = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=32,
                                     vocab_size=448, bos_token_id=eod, eos_token_id=eod)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "tokenizer.model").write_bytes((tokens / "tokenizer.model").read_bytes())
    model, _, ckpt = load_run(tmp_path / "hf")
    assert ckpt["run"]["eod_id"] == eod and ckpt["model_args"]["n_embd"] == 32
    texts = generate_texts(tmp_path / "hf", prompt="The", max_new_tokens=5)
    assert texts[0].startswith("The")
    assert cli_main(["generate", str(tmp_path / "hf"), "--max-new-tokens", "3"]) == 0
    (tmp_path / "hf" / "tokenizer.model").unlink()
    with pytest.raises(UsageError, match="tokenizer.model"):
        load_run(tmp_path / "hf")


def structure(name: str) -> GPTConfig:
    """The named config's structure (width, heads, norm, bias, tying), one layer."""
    shape = TrainConfig(model=name).model_shape()
    return GPTConfig(vocab_size=256, **shape | {"n_layer": 1, "block_size": 32})


@pytest.mark.parametrize("name", [n for n in MODEL_SHAPES if n != "gpt1"])
def test_every_pre_ln_config_exports_and_comes_back_unchanged(name):
    torch.manual_seed(0)
    model = GPT(structure(name)).eval()
    with torch.no_grad():  # not the init's zero biases and unit gains: every tensor counts
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    exported = hf.to_hf(model, eod_id=1)
    idx = torch.randint(0, 256, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(exported(idx).logits, full_logits(model, idx),
                                   atol=1e-4, rtol=1e-4)
    back = hf.from_hf(exported)
    assert back.config == model.config
    original, returned = model.state_dict(), back.state_dict()
    assert original.keys() == returned.keys()
    for key, tensor in original.items():
        assert torch.equal(tensor, returned[key]), key


def test_post_ln_gpt1_cannot_be_a_gpt2_and_says_so(tmp_path):
    model = GPT(structure("gpt1"))
    with pytest.raises(UsageError, match="post-LN .* cannot be a transformers GPT2LMHeadModel"):
        hf.to_hf(model)
    with pytest.raises(UsageError, match="post-LN"):
        hf.save_hf(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_exporting_a_post_ln_run_is_refused_before_writing(tmp_path):
    tokens = write_text_tokens(tmp_path / "tok", list(prose_paragraphs()[:100]), vocab_size=400)
    cfg = TrainConfig(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=2,
                      max_tokens=128, eval_windows=2, sample_count=0, norm="post",
                      peak_flops=1e11, autocast="off")
    train(tokens, tmp_path / "run", cfg)
    with pytest.raises(UsageError, match="post-LN"):
        export_hf(tmp_path / "run", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    code = cli_main(["generate", str(tmp_path / "run"), "--export-hf", str(tmp_path / "out")])
    assert code == 2 and not (tmp_path / "out").exists()


def test_a_model_without_biases_exports_to_the_same_function():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=128, block_size=16, n_layer=2, n_head=2, n_embd=32,
                          bias=False)).eval()
    idx = torch.randint(0, 128, (2, 16))
    with torch.no_grad():
        got = hf.to_hf(model)(idx).logits
    torch.testing.assert_close(got, full_logits(model, idx), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("change, message", [
    ({"activation_function": "relu"}, "activation_function"),
    ({"n_inner": 100}, "n_inner"),
    ({"scale_attn_by_inverse_layer_idx": True}, "attention scaling"),
    ({"tie_word_embeddings": False}, "untied"),
    ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon"),
])
def test_gpt2_variants_we_do_not_compute_are_refused(tmp_path, change, message):
    _, folder = random_hf(tmp_path, **change)
    with pytest.raises(UsageError, match=message) as err:
        hf.load_hf(folder)
    assert str(folder) in str(err.value)


def test_not_a_model_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="config.json"):
        hf.load_hf(tmp_path)
    transformers.BertConfig().save_pretrained(tmp_path / "bert")
    with pytest.raises(UsageError, match="'bert' is not a GPT-2"):
        hf.load_hf(tmp_path / "bert")
    _, folder = random_hf(tmp_path)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(UsageError, match="cannot load the GPT-2 weights"):
        hf.load_hf(folder)
    with pytest.raises(UsageError, match="not a training run dir"):
        load_run(tmp_path / "nothing")


def test_without_transformers_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(UsageError, match=r"webtext\[hf\]"):
        hf.to_hf(GPT(GPTConfig(vocab_size=64, block_size=8, n_layer=1, n_head=1, n_embd=8)))
