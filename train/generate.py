"""Use a trained run: sample text from it, or export it as a Hugging Face GPT-2 checkpoint.

In:  a run dir (contract runs/<run>/): ckpt.pt and tokenizer.model (copied in by the trainer;
     the tokens dir recorded in the checkpoint is the fallback).
Out: sampled texts (nanoGPT `sample.py`: temperature, top-k), or a `transformers` GPT-2 folder
     (`GPT2LMHeadModel.from_pretrained` reads it) with the SentencePiece model beside it.
     `transformers` is an optional dependency (`pip install webtext[hf]`), imported only here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from webtext.errors import UsageError
from webtext.train.checkpoint import CKPT_NAME, load_checkpoint, model_from_checkpoint
from webtext.train.model import GPT
from webtext.train.tokenizer import Tokenizer


def load_run(run_dir: Path) -> tuple[GPT, Tokenizer, dict]:
    """The run's model (CPU, eval mode), its tokenizer and its checkpoint dict."""
    run_dir = Path(run_dir)
    if not (run_dir / CKPT_NAME).is_file():
        raise UsageError(f"{run_dir}: no {CKPT_NAME} (not a training run dir)")
    ckpt = load_checkpoint(run_dir / CKPT_NAME)
    tok_file = run_dir / "tokenizer.model"
    if not tok_file.is_file():
        tok_file = Path(ckpt["run"]["tokens_dir"]) / "tokenizer.model"
    if not tok_file.is_file():
        raise UsageError(f"{run_dir}: no tokenizer.model in the run or its tokens dir")
    return model_from_checkpoint(ckpt), Tokenizer(tok_file), ckpt


def generate_texts(
    run_dir: Path, prompt: str = "", num_samples: int = 1, max_new_tokens: int = 100,
    temperature: float = 0.8, top_k: int | None = 200, seed: int = 0,
) -> list[str]:
    """Continuations of `prompt` (the prompt included); an empty prompt starts a document."""
    model, tokenizer, ckpt = load_run(run_dir)
    eod_id = ckpt["run"]["eod_id"]
    ids = [eod_id] + tokenizer.encode(prompt) if prompt else [eod_id]
    idx = torch.tensor([ids] * num_samples, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    out = model.generate(idx, max_new_tokens, temperature, top_k, gen)
    texts = []
    for row in out[:, 1:].tolist():
        new = row[len(ids) - 1 :]
        if eod_id in new:  # a document ends at its end-of-document id
            new = new[: new.index(eod_id)]
        texts.append(tokenizer.decode(row[: len(ids) - 1] + new))
    return texts


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under `GPT2LMHeadModel` names; HF's Conv1D stores weights transposed."""
    transposed = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                  "mlp.c_proj.weight")
    out = {}
    for name, p in model.state_dict().items():
        out[name] = p.t().contiguous() if name.endswith(transposed) else p.clone()
    if not model.config.bias:  # HF GPT-2 always has biases: zeros are the same function
        for name, p in list(out.items()):
            if name.endswith(".weight") and "wte" not in name and "wpe" not in name \
                    and name != "lm_head.weight":
                size = p.shape[-1] if name.endswith(transposed) else p.shape[0]
                out.setdefault(name[: -len("weight")] + "bias", torch.zeros(size))
    return out


def export_hf(run_dir: Path, out_dir: Path) -> Path:
    """Write the run's model as a Hugging Face `transformers` GPT-2 checkpoint."""
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        raise UsageError("exporting needs transformers: pip install 'webtext[hf]'") from None
    model, _, ckpt = load_run(run_dir)
    a = ckpt["model_args"]
    config = GPT2Config(
        vocab_size=a["vocab_size"], n_positions=a["block_size"], n_embd=a["n_embd"],
        n_layer=a["n_layer"], n_head=a["n_head"], activation_function="gelu_new",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
        bos_token_id=ckpt["run"]["eod_id"], eos_token_id=ckpt["run"]["eod_id"],
        tie_word_embeddings=True,
    )
    hf = GPT2LMHeadModel(config)
    missing, unexpected = hf.load_state_dict(hf_state_dict(model), strict=False)
    # HF keeps a causal-mask buffer ("attn.bias"/"masked_bias") in some versions; nothing else
    # may be missing.
    missing = [k for k in missing if not k.endswith(("attn.bias", "attn.masked_bias"))]
    if missing or unexpected:
        raise RuntimeError(f"export mismatch: missing {missing}, unexpected {unexpected}")
    out_dir = Path(out_dir)
    hf.save_pretrained(out_dir)
    (out_dir / "tokenizer.model").write_bytes((Path(run_dir) / "tokenizer.model").read_bytes())
    return out_dir
