"""Small tokens dirs that follow the contract (tokens/<name>/), for tests and benchmarks.

In:  token lists per split (with their UTF-8 byte counts), or plain texts to tokenize.
Out: a tokens dir: tokenizer.model, train-*/val-*.parquet (doc_id, tokens, n_tokens, n_bytes)
     and manifest.json written last, as docs/design.md ("Data contracts") describes, so the
     trainer can be tested without the tokenize stage.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from webtext.io import write_json, write_parquet
from webtext.train.tokenizer import Tokenizer, train_tokenizer

Doc = tuple[list[int], int]  # (tokens ending with eod_id, UTF-8 bytes of the text)


def write_tokens(
    out_dir: Path,
    splits: dict[str, list[Doc]],
    vocab_size: int,
    eod_id: int,
    docs_per_shard: int = 64,
    tokenizer_model: Path | None = None,
    rows_per_group: int = 16,
) -> Path:
    """Write shards and the manifest for documents already tokenized."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dtype = "uint16" if vocab_size <= 65536 else "uint32"
    tok_sha = ""
    if tokenizer_model is not None:
        if Path(tokenizer_model) != out_dir / "tokenizer.model":
            (out_dir / "tokenizer.model").write_bytes(Path(tokenizer_model).read_bytes())
        tok_sha = hashlib.sha256((out_dir / "tokenizer.model").read_bytes()).hexdigest()
    shards, totals = [], {}
    for split, docs in splits.items():
        totals[split] = {"docs": len(docs), "tokens": sum(len(t) for t, _ in docs),
                         "bytes": sum(b for _, b in docs)}
        for k, i in enumerate(range(0, len(docs), docs_per_shard)):
            part = docs[i : i + docs_per_shard]
            table = pa.table({
                "doc_id": [f"{split}{i + j:08d}" for j in range(len(part))],
                "tokens": pa.array([t for t, _ in part], type=pa.list_(getattr(pa, dtype)())),
                "n_tokens": pa.array([len(t) for t, _ in part], type=pa.int64()),
                "n_bytes": pa.array([b for _, b in part], type=pa.int64()),
            })
            name = f"{split}-{k:05d}.parquet"
            write_parquet(out_dir / name, table, row_group_size=rows_per_group)
            shards.append({
                "file": name, "split": split, "docs": len(part),
                "tokens": sum(len(t) for t, _ in part), "bytes": sum(b for _, b in part),
                "sha256": hashlib.sha256((out_dir / name).read_bytes()).hexdigest(),
            })
    write_json(out_dir / "manifest.json", {
        "format": "webtext-tokens/1",
        "recipe": {"name": "fixture", "digest": "0" * 16, "config": {}},
        "tokenizer": {"file": "tokenizer.model", "sha256": tok_sha, "vocab_size": vocab_size,
                      "eod_id": eod_id, "model_type": "bpe"},
        "dtype": dtype,
        "splits": totals,
        "shards": shards,
        "config": {},
    })
    return out_dir


def write_text_tokens(
    out_dir: Path, texts: list[str], vocab_size: int = 512, val_every: int = 10,
    docs_per_shard: int = 64, tokenizer_model: Path | None = None,
) -> Path:
    """Train (or reuse) a tokenizer, tokenize texts, put every `val_every`-th one in val."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = tokenizer_model or train_tokenizer(texts, out_dir / "tokenizer.model", vocab_size)
    tok = Tokenizer(model)
    eod_id = tok.eod_id
    splits: dict[str, list[Doc]] = {"train": [], "val": []}
    for i, text in enumerate(texts):
        doc = (tok.encode(text) + [eod_id], len(text.encode("utf-8")))
        splits["val" if i % val_every == 0 else "train"].append(doc)
    return write_tokens(out_dir, splits, tok.vocab_size, eod_id, docs_per_shard, model)
