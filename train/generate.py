"""Use a trained model: sample text from it, or export it as a Hugging Face GPT-2 checkpoint.

In:  a run dir (contract runs/<run>/): ckpt.pt and tokenizer.model (copied in by the trainer;
     the tokens dir recorded in the checkpoint is the fallback); or, in its place, a local
     `transformers` GPT-2 folder with a tokenizer.model beside its weights (what `export_hf`
     writes) or its own byte-level BPE files (a released GPT-2 saved beforehand), so
     published or exported weights are used exactly like a run.
Out: sampled texts (nanoGPT `sample.py`: temperature, top-k), or a `transformers` GPT-2 folder
     (`GPT2LMHeadModel.from_pretrained` reads it) with the SentencePiece model beside it.
     The conversion itself lives in train/hf.py, the one module that imports transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from webtext.errors import UsageError
from webtext.train import hf
from webtext.train.checkpoint import CKPT_NAME, load_checkpoint, model_from_checkpoint
from webtext.train.model import GPT
from webtext.train.tokenizer import Tokenizer


def load_run(run_dir: Path) -> tuple[GPT, Any, dict]:
    """The run's model (CPU, eval mode), its tokenizer and its checkpoint dict.

    A `transformers` GPT-2 folder (config.json, no ckpt.pt) stands in for a run dir: its
    "checkpoint" then holds only `model_args` and `run.eod_id` (the config's eos_token_id).
    """
    run_dir = Path(run_dir)
    if not (run_dir / CKPT_NAME).is_file() and (run_dir / "config.json").is_file():
        return _load_hf_folder(run_dir)
    if not (run_dir / CKPT_NAME).is_file():
        raise UsageError(f"{run_dir}: no {CKPT_NAME} (not a training run dir) and no "
                         "config.json (not a transformers model folder)")
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


def _load_hf_folder(hf_dir: Path) -> tuple[GPT, Any, dict]:
    """A transformers GPT-2 folder: our export (weights + tokenizer.model, SentencePiece) or a
    released GPT-2 saved beforehand (weights + its byte-level BPE: vocab.json and merges.txt,
    or tokenizer.json)."""
    tok_file = hf_dir / "tokenizer.model"
    bpe = not tok_file.is_file() and hf.has_bpe_tokenizer(hf_dir)
    if not tok_file.is_file() and not bpe:
        raise UsageError(f"{hf_dir}: no tokenizer beside the weights: neither tokenizer.model "
                         "(SentencePiece) nor vocab.json + merges.txt / tokenizer.json "
                         "(GPT-2's byte-level BPE)")
    model, config = hf.load_hf(hf_dir)
    eod_id = config.eos_token_id
    if eod_id is None:
        raise UsageError(f"{hf_dir}: config.json has no eos_token_id (the end-of-document id)")
    model_args = {k: getattr(model.config, k) for k in (
        "vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "norm")}
    tokenizer = hf.BPETokenizer(hf_dir, eod_id) if bpe else Tokenizer(tok_file)
    return model, tokenizer, {"model_args": model_args, "run": {"eod_id": eod_id}}


def export_hf(run_dir: Path, out_dir: Path) -> Path:
    """Write the run's model as a Hugging Face `transformers` GPT-2 checkpoint."""
    model, _, ckpt = load_run(run_dir)
    out_dir = hf.save_hf(model, out_dir, eod_id=ckpt["run"]["eod_id"])
    (out_dir / "tokenizer.model").write_bytes((Path(run_dir) / "tokenizer.model").read_bytes())
    return out_dir
