"""Benchmark: tokens/s of the whole tokenize stage against SentencePiece's own batch encode.

Generates a build of documents in a temporary directory (text of the Python standard library's
sources and docs, repeated with seeded variations), trains a tokenizer once, then, in the same
run and on the same documents, times alternately:
  - stage:    the stage's `run` reusing that tokenizer (select the recipe, read docs/*.parquet,
              encode, write zstd Parquet shards, checksums, manifest, stats);
  - baseline: `SentencePieceProcessor.encode(texts, num_threads=N)` on the same texts already
              in memory (no reading, no writing).
Prints tokens/s of each and their ratio (the issue's target: stage >= 0.8x baseline).

Usage: python benchmarks/tokenize_throughput.py [--mb 10] [--repeats 3] [--vocab 8192]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sentencepiece as spm

from webtext.config import load_config
from webtext.io import read_json
from webtext.layout import BuildLayout
from webtext.records import doc_id
from webtext.tokenize.recipes import done_marker, select_docs
from webtext.tokenize.stage import get_recipe, read_texts
from webtext.tokenize.stage import run as tokenize_run


def source_texts() -> list[str]:
    """Documents cut from the standard library's .py files (code, docstrings, comments)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for path in sorted(root.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        # ~8 KB documents, cut at line ends
        lines, cur, size = text.split("\n"), [], 0
        for line in lines:
            cur.append(line)
            size += len(line) + 1
            if size > 8000:
                texts.append("\n".join(cur))
                cur, size = [], 0
        if cur:
            texts.append("\n".join(cur))
    return texts


def vary(text: str, rng: random.Random) -> str:
    """A variation of a document: some words swapped case, some lines reordered."""
    lines = text.split("\n")
    for _ in range(max(1, len(lines) // 20)):
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    words = "\n".join(lines).split(" ")
    for _ in range(max(1, len(words) // 30)):
        k = rng.randrange(len(words))
        words[k] = words[k].upper() if rng.random() < 0.5 else words[k][::-1]
    return " ".join(words)


def make_build(root: Path, target_mb: float) -> int:
    rng = random.Random(0)
    base = source_texts()
    rows, total, copy = [], 0, 0
    while total < target_mb * 1e6:
        for i, t in enumerate(base):
            text = t if copy == 0 else vary(t, rng)
            url = f"https://stdlib{copy}.test/{i}"
            rows.append({"doc_id": doc_id(url), "url": url, "domain": f"stdlib{copy}.test",
                         "karma": 5, "karma_sum": 5, "title": str(i), "text": text,
                         "n_chars": len(text), "n_words": len(text.split()), "lang": "en",
                         "lang_score": 1.0, "reasons": []})
            total += len(text.encode("utf-8"))
            if total >= target_mb * 1e6:
                break
        copy += 1
    layout = BuildLayout(root)
    layout.docs_dir.mkdir(parents=True)
    per = 2000
    for k in range(0, len(rows), per):
        path = layout.docs_dir / f"{k // per:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows[k:k + per]), path)
        done_marker(path).write_text("{}")  # as clean/ marks a finished shard
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=10.0, help="MB of UTF-8 text (default 10)")
    ap.add_argument("--repeats", type=int, default=3, help="timed pairs (default 3)")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2, help="encode threads for both (default 2)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="webtext-tokbench-"))
    try:
        n_bytes = make_build(tmp / "build", args.mb)
        layout = BuildLayout(tmp / "build")
        config = load_config(None, [f"tokenize.vocab_size={args.vocab}",
                                    f"tokenize.encode_threads={args.threads}",
                                    "tokenize.train_sample_chars=5000000"])
        t0 = time.perf_counter()
        trained = Path(tokenize_run(layout, config.tokenize, recipe="raw")["dir"])
        t_train_stage = time.perf_counter() - t0
        model_path = tmp / "tokenizer.model"
        shutil.copy(trained / "tokenizer.model", model_path)

        # The same texts in memory for the baseline (read outside the timing).
        selection = select_docs(layout, get_recipe(config.recipes, "raw"))
        texts = [t for _, batch, _ in read_texts(
            layout, list(zip(selection.rows, selection.doc_ids, strict=True))) for t in batch]
        sp = spm.SentencePieceProcessor(model_file=str(model_path))

        # Interleaved pairs, so that the load of the shared machine hits both alike; wall time
        # and CPU time (all threads of this process) of each.
        pairs = []
        for _ in range(args.repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            ids = sp.encode(texts, num_threads=args.threads)
            base = (time.perf_counter() - w0, time.process_time() - c0)
            base_tokens = sum(map(len, ids)) + len(ids)  # + one end-of-document id per doc
            del ids
            for p in layout.tokens_root.glob("raw-*"):
                if p != trained:
                    shutil.rmtree(p)
            w0, c0 = time.perf_counter(), time.process_time()
            out = Path(tokenize_run(layout, config.tokenize, recipe="raw",
                                    tokenizer_path=model_path)["dir"])
            stage = (time.perf_counter() - w0, time.process_time() - c0)
            m = read_json(out / "manifest.json")
            stage_tokens = m["splits"]["train"]["tokens"] + m["splits"]["val"]["tokens"]
            pairs.append((base, stage))

        assert stage_tokens == base_tokens, (stage_tokens, base_tokens)
        print(f"documents: {len(texts)}, text: {n_bytes / 1e6:.1f} MB, vocab {args.vocab}, "
              f"encode threads {args.threads}, tokens {stage_tokens}")
        print(f"first run (trains the tokenizer on 5M chars, then encodes): {t_train_stage:.1f} s")
        print("pair  baseline s (Mtok/s)   stage s (Mtok/s)   stage/baseline  (CPU-time ratio)")
        ratios, cpu_ratios = [], []
        for i, ((bw, bc), (sw, sc)) in enumerate(pairs):
            ratios.append(bw / sw)
            cpu_ratios.append(bc / sc)
            print(f"{i:4d}  {bw:8.2f} ({base_tokens / bw / 1e6:.3f})     {sw:8.2f} "
                  f"({stage_tokens / sw / 1e6:.3f})     {bw / sw:.2f}x          ({bc / sc:.2f}x)")
        best_b = min(b[0] for b, _ in pairs)
        best_s = min(s[0] for _, s in pairs)
        print(f"stage / baseline tokens/s: median of pairs {statistics.median(ratios):.2f}x, "
              f"best vs best {best_b / best_s:.2f}x, CPU-time median "
              f"{statistics.median(cpu_ratios):.2f}x; target >= 0.8x")
        print(f"stage best: {stage_tokens / best_s / 1e6:.3f} M tokens/s, "
              f"{n_bytes / best_s / 1e6:.2f} MB/s of text; shards "
              f"{sum(p.stat().st_size for p in out.glob('*.parquet')) / 1e6:.1f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
