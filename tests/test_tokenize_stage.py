"""The tokenize stage end to end on small generated builds: the tokens/<name>/ contract, readers
other than ours, byte-identical re-runs, resume after a real kill, tokenizer reuse, the CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenize_fixtures import corpus_build, doc_row, tokenize_to_dir, write_docs

from webtext.cli import main as cli_main
from webtext.config import load_config
from webtext.errors import UsageError
from webtext.io import read_json
from webtext.layout import BuildLayout
from webtext.tokenize.shards import SplitWriter, shard_schema, token_dtype, verify_tokens_dir
from webtext.tokenize.spm import Tokenizer
from webtext.tokenize.stage import STATE_FILE

SETTINGS = [
    "tokenize.vocab_size=400",
    "tokenize.val_permille=150",
    "tokenize.shard_tokens=8000",
    "tokenize.row_group_tokens=2000",
    "tokenize.encode_batch_chars=20000",
]


def small_config(*extra: str):
    return load_config(None, SETTINGS + list(extra))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    layout, rows = corpus_build(root)
    out = tokenize_to_dir(layout, small_config(), "raw")
    return layout, rows, out


def read_split(out: Path, split: str) -> pa.Table:
    files = sorted(out.glob(f"{split}-*.parquet"))
    return pa.concat_tables(pq.read_table(f) for f in files)


def expected_split(doc_id: str, val_permille: int) -> str:
    # docs/design.md, "Data contracts": hash of doc_id mod 1000 < val_permille (the hash:
    # blake2b, 8 bytes)
    h = int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")
    return "val" if h % 1000 < val_permille else "train"


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_output_follows_the_tokens_contract(built):
    layout, rows, out = built
    m = read_json(out / "manifest.json")
    assert m["format"] == "webtext-tokens/1"
    assert m["recipe"]["name"] == "raw" and out.name == f"raw-{m['recipe']['digest'][:8]}"
    tok_bytes = (out / "tokenizer.model").read_bytes()
    assert m["tokenizer"]["sha256"] == hashlib.sha256(tok_bytes).hexdigest()
    tok = Tokenizer(tok_bytes)
    assert (m["tokenizer"]["vocab_size"], m["tokenizer"]["eod_id"]) == (400, tok.eod_id)
    assert m["tokenizer"]["model_type"] == "bpe" and m["dtype"] == "uint16"
    assert m["config"]["vocab_size"] == 400 and m["recipe"]["config"]["dedup"] is False
    assert not (out / STATE_FILE).exists()

    text_of = {r["doc_id"]: r["text"] for r in rows}
    order = [r["doc_id"] for r in rows]
    seen = []
    for split in ("train", "val"):
        table = read_split(out, split)
        assert table.schema.field("tokens").type == pa.list_(pa.uint16())
        assert table.schema.field("n_tokens").type == pa.int64()
        assert table.schema.field("n_bytes").type == pa.int64()
        ids = table.column("doc_id").to_pylist()
        assert ids == sorted(ids, key=order.index)  # build order within a split
        for doc_id, tokens, n_tokens, n_bytes in zip(
            ids, table.column("tokens").to_pylist(), table.column("n_tokens").to_pylist(),
            table.column("n_bytes").to_pylist(), strict=True,
        ):
            assert expected_split(doc_id, 150) == split
            assert tokens[-1] == tok.eod_id and tok.eod_id not in tokens[:-1]
            assert n_tokens == len(tokens)
            assert n_bytes == len(text_of[doc_id].encode("utf-8"))
            assert tok.decode(tokens[:-1]) == text_of[doc_id]
        assert m["splits"][split] == {"docs": table.num_rows,
                                      "tokens": sum(table.column("n_tokens").to_pylist()),
                                      "bytes": sum(table.column("n_bytes").to_pylist())}
        seen += ids
    assert sorted(seen) == sorted(order)  # every document exactly once
    assert m["splits"]["val"]["docs"] > 0 and len(m["shards"]) > 2


def test_shards_are_zstd_with_row_groups_checksums_and_metadata(built):
    _, _, out = built
    m = read_json(out / "manifest.json")
    assert verify_tokens_dir(out) == []
    for s in m["shards"]:
        f = pq.ParquetFile(out / s["file"])
        assert f.metadata.row_group(0).column(1).compression == "ZSTD"
        meta = f.schema_arrow.metadata
        assert meta[b"webtext.eod_id"] == str(m["tokenizer"]["eod_id"]).encode()
        assert meta[b"webtext.tokenizer_sha256"] == m["tokenizer"]["sha256"].encode()
        assert f.metadata.num_rows == s["docs"]
        # a shard closes once it holds shard_tokens; every one but the last of a split is full
    by_split = {sp: [s for s in m["shards"] if s["split"] == sp] for sp in ("train", "val")}
    for shards in by_split.values():
        assert all(s["tokens"] >= 8000 for s in shards[:-1])
    assert any(pq.ParquetFile(out / s["file"]).num_row_groups > 1 for s in m["shards"])


def test_duckdb_reads_the_shards(built):
    _, _, out = built
    m = read_json(out / "manifest.json")
    con = duckdb.connect()
    docs, tokens, nbytes, max_id, eod_last = con.execute(
        "SELECT count(*), sum(n_tokens), sum(n_bytes), max(list_max(tokens)), "
        "bool_and(tokens[-1] = ?) FROM read_parquet(?)",
        [m["tokenizer"]["eod_id"], str(out / "train-*.parquet")],
    ).fetchone()
    assert (docs, tokens, nbytes) == (m["splits"]["train"]["docs"],
                                      m["splits"]["train"]["tokens"],
                                      m["splits"]["train"]["bytes"])
    assert max_id < m["tokenizer"]["vocab_size"] and eod_last


def test_tokenizer_statistics_go_to_the_build_stats(built):
    layout, _, out = built
    m = read_json(out / "manifest.json")
    stats = read_json(layout.stats(f"tokenize_{out.name}"))
    t = stats["tokenizer"]
    total_docs = m["splits"]["train"]["docs"] + m["splits"]["val"]["docs"]
    total_tokens = m["splits"]["train"]["tokens"] + m["splits"]["val"]["tokens"]
    assert t["docs"] == total_docs and t["text_tokens"] == total_tokens - total_docs
    assert t["bytes_per_token"] == round(t["bytes"] / t["text_tokens"], 4)
    # the hard texts (rare CJK, control characters) need byte pieces; ordinary text does not
    assert 0 < t["byte_fallback_tokens"] < 0.05 * t["text_tokens"]
    assert 0 < t["vocab_used"] <= t["vocab_size"] == 400
    assert stats["selection"]["read"] == stats["selection"]["selected"] == total_docs
    assert m["stats"] == t


def test_same_input_and_config_give_identical_bytes(built, tmp_path):
    layout, _, out = built
    copy = BuildLayout(tmp_path / "copy")
    shutil.copytree(layout.docs_dir, copy.docs_dir)
    shutil.copy(layout.dedup, copy.dedup)
    out2 = tokenize_to_dir(copy, small_config(), "raw")
    assert out2.name == out.name
    assert snapshot(out2) == snapshot(out)
    # threads and batch sizes do not change the bytes either (nor the output's name)
    shutil.rmtree(out2)
    out3 = tokenize_to_dir(copy, small_config("tokenize.encode_threads=1",
                                              "tokenize.encode_batch_chars=1000"), "raw")
    assert out3.name == out.name
    assert {k: v for k, v in snapshot(out3).items() if k != "manifest.json"} == \
        {k: v for k, v in snapshot(out).items() if k != "manifest.json"}


def test_rerun_of_a_complete_output_rewrites_nothing(built):
    layout, _, out = built
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert tokenize_to_dir(layout, small_config(), "raw") == out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_changed_documents_rebuild_the_output(tmp_path):
    layout, rows = corpus_build(tmp_path, n_docs=40, n_shards=1)
    out = tokenize_to_dir(layout, small_config(), "raw")
    first = read_json(out / "manifest.json")
    write_docs(layout, [rows[:-3]])  # a later clean run wrote fewer documents
    assert tokenize_to_dir(layout, small_config(), "raw") == out
    second = read_json(out / "manifest.json")
    assert second["selection"]["selected"] == first["selection"]["selected"] - 3
    assert verify_tokens_dir(out) == []


def test_a_recipe_can_reuse_another_variants_tokenizer(built):
    layout, _, out = built
    shared = tokenize_to_dir(layout, small_config(), "webtext",
                            tokenizer_path=out / "tokenizer.model")
    assert shared != out
    m_raw, m_web = read_json(out / "manifest.json"), read_json(shared / "manifest.json")
    assert m_web["tokenizer"]["sha256"] == m_raw["tokenizer"]["sha256"]
    assert m_web["tokenizer"]["trained"] is False and m_raw["tokenizer"]["trained"] is True
    assert m_web["recipe"]["digest"] != m_raw["recipe"]["digest"]
    raw_tokens = dict(zip(*(read_split(out, "train").column(c).to_pylist()
                            for c in ("doc_id", "tokens")), strict=True))
    web = read_split(shared, "train")
    for d, t in zip(web.column("doc_id").to_pylist(), web.column("tokens").to_pylist(),
                    strict=True):
        assert raw_tokens[d] == t


def test_vocabulary_above_uint16_uses_uint32(tmp_path):
    assert token_dtype(65536) == "uint16" and token_dtype(65537) == "uint32"
    entries = []
    schema = shard_schema("uint32", {})
    w = SplitWriter(tmp_path, "train", 0, schema, 70000, 10_000, 1000, 3,
                    lambda e, h: entries.append((e, h)))
    w.add("a", [69999, 65536, 1], 7)
    w.add("b", [5, 1], 2)
    w.close()
    table = pq.read_table(tmp_path / "train-00000.parquet")
    assert table.schema.field("tokens").type == pa.list_(pa.uint32())
    assert table.column("tokens").to_pylist() == [[69999, 65536, 1], [5, 1]]
    (entry, hist), = entries
    assert (entry.docs, entry.tokens, entry.bytes) == (2, 5, 9) and hist[1] == 2


def test_missing_inputs_are_usage_errors(tmp_path):
    layout = BuildLayout(tmp_path)
    with pytest.raises(UsageError, match="docs"):
        tokenize_to_dir(layout, small_config(), "raw")
    write_docs(layout, [[doc_row("https://a.test/1", "some text here")]])
    with pytest.raises(UsageError, match="dedup"):
        tokenize_to_dir(layout, small_config(), "webtext")
    with pytest.raises(UsageError, match="unknown recipe"):
        tokenize_to_dir(layout, small_config(), "nope")
    with pytest.raises(UsageError, match="not found"):
        tokenize_to_dir(layout, small_config(), "raw", tokenizer_path=tmp_path / "x.model")
    write_docs(layout, [[doc_row("https://a.test/1", "")]])
    with pytest.raises(UsageError, match="selects no document"):
        tokenize_to_dir(layout, small_config(), "raw")


# A child process that tokenizes, then stops for good in the middle of a shard: after the first
# shard is recorded and a row group of the next one is on disk under its temporary name.
CHILD = """
import sys
from webtext.config import load_config
from webtext.layout import BuildLayout
from webtext.tokenize.stage import run
shards = []
def progress(p):
    if p.phase == "shard":
        shards.append(p.detail)
    tokens_root = BuildLayout(sys.argv[1]).tokens_root
    if p.phase == "encode" and shards and any(tokens_root.glob("*/.tmp-train-*")):
        print("READY", flush=True)
        sys.stdin.readline()  # wait here until the parent kills us
run(BuildLayout(sys.argv[1]), load_config(None, sys.argv[2:]).tokenize, progress, recipe="raw")
print("FINISHED", flush=True)
"""


def test_killed_mid_shard_then_rerun_completes_with_verified_checksums(built, tmp_path):
    layout, _, reference = built
    victim = BuildLayout(tmp_path / "victim")
    shutil.copytree(layout.docs_dir, victim.docs_dir)
    shutil.copy(layout.dedup, victim.dedup)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(victim.root), *SETTINGS,
         "tokenize.encode_batch_chars=500"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    out = victim.tokens(reference.name)
    state = read_json(out / STATE_FILE)
    done = state["splits"]["train"]["shards"]
    assert done and not (out / "manifest.json").exists()
    assert list(out.glob(".tmp-train-*"))  # the shard being written when killed
    # A listed shard damaged after the kill must be redone, not trusted.
    damaged = out / done[0]["file"]
    damaged.write_bytes(damaged.read_bytes()[:100])

    assert tokenize_to_dir(victim, small_config(), "raw") == out
    assert verify_tokens_dir(out) == []
    assert not list(out.glob(".tmp-*")) and not (out / STATE_FILE).exists()
    assert snapshot(out) == snapshot(reference)  # as if never interrupted


def test_verify_notices_a_corrupted_or_extra_shard(built, tmp_path):
    _, _, out = built
    copy = tmp_path / out.name
    shutil.copytree(out, copy)
    first = sorted(copy.glob("train-*.parquet"))[0]
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF
    first.write_bytes(bytes(data))
    shutil.copy(sorted(copy.glob("val-*.parquet"))[0], copy / "val-09999.parquet")
    problems = verify_tokens_dir(copy)
    assert any(first.name in p and "sha256" in p for p in problems)
    assert any("val-09999.parquet" in p for p in problems)


def test_cli_tokenizes_a_build(built, tmp_path, capsys):
    layout, _, _ = built
    build = BuildLayout(tmp_path / "b")
    shutil.copytree(layout.docs_dir, build.docs_dir)
    shutil.copy(layout.dedup, build.dedup)
    sets = [a for s in SETTINGS for a in ("--set", s)]
    assert cli_main(["tokenize", str(build.root), "--recipe", "dedup_only", *sets]) == 0
    out = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert out.parent == build.tokens_root and out.name.startswith("dedup_only-")
    assert verify_tokens_dir(out) == [] and build.config("tokenize").is_file()
    assert cli_main(["tokenize", str(tmp_path / "nothing"), *sets]) == 2
    tokens = np.concatenate(read_split(out, "train").column("tokens").combine_chunks()
                            .values.to_numpy().reshape(1, -1))
    assert tokens.max() < 400
