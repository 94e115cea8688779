"""Hugging Face `transformers` GPT-2 <-> our GPT, both ways, without loss.

In:  a `GPT` (pre-LN) to export; or a local `GPT2LMHeadModel` folder (`save_pretrained` output,
     e.g. a released GPT-2 downloaded beforehand, or our own export) to start from.
Out: a `GPT2LMHeadModel` / its folder; or a `GPT` with the same weights and the same logits.

The two models are the same function under different names: HF's `Conv1D` stores the four
matmul weights of a block transposed (in x out), everything else maps one to one. Nothing is
ever downloaded here (`local_files_only`), so a run never depends on the network. A post-LN
model (`norm="post"`, gpt1) has no `GPT2LMHeadModel` form: GPT-2's blocks are pre-LN with a
final LayerNorm, so exporting one is refused rather than approximated.

The only module that imports transformers (docs/design.md, "Conventions"); it is an optional
dependency (`pip install 'webtext[hf]'`), imported when a function here is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from webtext.errors import UsageError
from webtext.train.model import GPT, GPTConfig

# Weights of HF's Conv1D layers, stored (in_features, out_features): the transpose of ours.
_TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
               "mlp.c_proj.weight")
# Causal-mask buffers some transformers versions keep in the state dict: not weights.
_BUFFERS = (".attn.bias", ".attn.masked_bias")  # the dot: "c_attn.bias" is a weight
# HF's names for GPT-2's tanh-approximated GELU (model.py's nn.GELU(approximate="tanh")).
_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh")


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise UsageError(
            "converting to or from transformers needs it: pip install 'webtext[hf]'") from None
    return transformers


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under `GPT2LMHeadModel` names; zero biases where the model has none."""
    if model.config.norm != "pre":
        raise UsageError(
            f"a post-LN model (norm={model.config.norm!r}, as gpt1) cannot be a transformers "
            "GPT2LMHeadModel, whose blocks are pre-LN with a final LayerNorm; only pre-LN "
            "(GPT-2) models export")
    out = {}
    for name, p in model.state_dict().items():
        out[name] = p.t().contiguous() if name.endswith(_TRANSPOSED) else p.clone()
    if not model.config.bias:  # HF GPT-2 always has biases: zeros are the same function
        for name, p in list(out.items()):
            if name.endswith(".weight") and "wte" not in name and "wpe" not in name \
                    and name != "lm_head.weight":
                size = p.shape[-1] if name.endswith(_TRANSPOSED) else p.shape[0]
                out.setdefault(name[: -len("weight")] + "bias", torch.zeros(size, dtype=p.dtype))
    return out


def hf_config(config: GPTConfig, eod_id: int | None = None) -> Any:
    """The `GPT2Config` of a model of this shape (dropout as ours, GPT-2's tanh GELU)."""
    transformers = _transformers()
    return transformers.GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
        n_layer=config.n_layer, n_head=config.n_head, activation_function="gelu_new",
        resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
        layer_norm_epsilon=1e-5,  # nn.LayerNorm's default, which model.py uses
        bos_token_id=eod_id, eos_token_id=eod_id, tie_word_embeddings=True,
    )


def to_hf(model: GPT, eod_id: int | None = None) -> Any:
    """A `GPT2LMHeadModel` (eval mode, CPU) computing the same logits as `model`."""
    state = hf_state_dict(model)  # refuses post-LN before transformers builds anything
    hf = _transformers().GPT2LMHeadModel(hf_config(model.config, eod_id))
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(_BUFFERS)]
    if missing or unexpected:
        raise RuntimeError(f"export mismatch: missing {missing}, unexpected {unexpected}")
    return hf.eval()


def save_hf(model: GPT, out_dir: Path, eod_id: int | None = None) -> Path:
    """Write `model` as a `transformers` GPT-2 folder (`GPT2LMHeadModel.from_pretrained`)."""
    out_dir = Path(out_dir)
    to_hf(model, eod_id).save_pretrained(out_dir)
    return out_dir


def _check_hf_config(c: Any, where: str) -> None:
    """Refuse a GPT-2 variant our model does not compute (naming the setting and the folder)."""
    model_type = getattr(c, "model_type", None)
    if model_type != "gpt2":  # other architectures lack the settings checked below
        raise UsageError(f"{where}: model_type {model_type!r} is not a GPT-2 ('gpt2')")
    wrong = []
    if c.activation_function not in _TANH_GELU:
        wrong.append(f"activation_function {c.activation_function!r} (want 'gelu_new')")
    if c.n_inner not in (None, 4 * c.n_embd):
        wrong.append(f"n_inner {c.n_inner} (want 4 * n_embd)")
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx:
        wrong.append("attention scaling other than 1/sqrt(head dim)")
    if getattr(c, "add_cross_attention", False):
        wrong.append("cross-attention")
    if not getattr(c, "tie_word_embeddings", True):
        wrong.append("untied input/output embeddings")
    if c.layer_norm_epsilon != 1e-5:
        wrong.append(f"layer_norm_epsilon {c.layer_norm_epsilon} (want 1e-5)")
    if wrong:
        raise UsageError(f"{where}: not a GPT-2 this trainer can start from: {', '.join(wrong)}")


def from_hf(hf: Any, where: str = "the transformers model") -> GPT:
    """Our `GPT` (CPU, eval mode) with the weights of a `GPT2LMHeadModel`."""
    c = hf.config
    _check_hf_config(c, where)
    config = GPTConfig(
        vocab_size=c.vocab_size, block_size=c.n_positions, n_layer=c.n_layer, n_head=c.n_head,
        n_embd=c.n_embd, dropout=c.resid_pdrop, bias=True, norm="pre")
    state = {}
    for name, p in hf.state_dict().items():
        if name.endswith(_BUFFERS):
            continue
        p = p.detach().to("cpu", torch.float32)
        state[name] = p.t().contiguous() if name.endswith(_TRANSPOSED) else p.clone()
    state.setdefault("lm_head.weight", state["transformer.wte.weight"])  # tied: one tensor
    with torch.device("meta"):  # the weights come from `state`: skip the random init
        model = GPT(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.lm_head.weight = model.transformer.wte.weight  # `assign` replaced the tied tensor
    return model.eval()


def load_hf(hf_dir: Path) -> tuple[GPT, Any]:
    """Our `GPT` from a local `GPT2LMHeadModel` folder, and the folder's `GPT2Config`.

    The folder must already be on disk: nothing is downloaded (a released GPT-2 is fetched
    once, outside any run, e.g. `huggingface-cli download gpt2 --local-dir DIR`).
    """
    hf_dir = Path(hf_dir)
    if not (hf_dir / "config.json").is_file():
        raise UsageError(f"{hf_dir}: no config.json (not a transformers model folder)")
    transformers = _transformers()
    config = transformers.AutoConfig.from_pretrained(hf_dir, local_files_only=True)
    _check_hf_config(config, str(hf_dir))
    try:
        hf = transformers.GPT2LMHeadModel.from_pretrained(hf_dir, local_files_only=True)
    except (OSError, ValueError) as e:  # e.g. no weights file beside config.json
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{hf_dir}: cannot load the GPT-2 weights: {first}") from None
    return from_hf(hf, str(hf_dir)), config


# The files of a transformers GPT-2 tokenizer (byte-level BPE), the released models' own.
BPE_FILES = (("vocab.json", "merges.txt"), ("tokenizer.json",))


def has_bpe_tokenizer(hf_dir: Path) -> bool:
    return any(all((Path(hf_dir) / f).is_file() for f in files) for files in BPE_FILES)


class BPETokenizer:
    """A transformers GPT-2 folder's byte-level BPE behind the trainer's tokenizer calls
    (`encode`, `decode`, `eod_id`, `vocab_size`), so that a released GPT-2 is scored on the
    suites as it was trained: its own tokens, `<|endoftext|>` before each text. Read from the
    folder only (`local_files_only`)."""

    def __init__(self, hf_dir: Path, eod_id: int) -> None:
        transformers = _transformers()
        self._tok = transformers.AutoTokenizer.from_pretrained(
            str(hf_dir), local_files_only=True, use_fast=True)
        self._eod_id = eod_id

    @property
    def vocab_size(self) -> int:
        return len(self._tok)

    @property
    def eod_id(self) -> int:
        return self._eod_id

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False))

    def decode(self, ids: Any) -> str:
        ids = [int(i) for i in ids if 0 <= int(i) < self.vocab_size]
        return self._tok.decode(ids, clean_up_tokenization_spaces=False)

