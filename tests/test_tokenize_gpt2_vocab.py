"""GPT-2's vocabulary size end to end: the tokenize stage trains a byte-fallback BPE of exactly
50,257 pieces and writes uint16 shards, whose upper half (ids >= 32,768) reads back intact."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenize_fixtures import doc_row, tokenize_to_dir, write_dedup, write_docs

from webtext.config import load_config
from webtext.errors import UsageError
from webtext.io import read_json
from webtext.layout import BuildLayout
from webtext.tokenize.shards import SplitWriter, shard_schema, token_dtype
from webtext.tokenize.spm import Tokenizer
from webtext.world.text import prose_paragraphs

GPT2_VOCAB = 50_257


def compound_prose(passes: int, seed: int = 0) -> list[str]:
    """The world's prose with half its words fused to another of its words ("fileobject").

    SentencePiece's BPE never merges across a space, so the pieces a text supports are bounded
    by its distinct words: the 200k characters of prose alone support about 13,000 pieces.
    Compounds (as German writes them) multiply the distinct words, so that a few hundred
    thousand characters support GPT-2's 50,257 and the test stays fast.
    """
    paragraphs = list(prose_paragraphs())
    words = sorted({w.lower() for p in paragraphs for w in re.findall(r"[A-Za-z]{3,}", p)})
    rng = random.Random(seed)
    docs = []
    for _ in range(passes):
        for para in paragraphs:
            docs.append(" ".join(w + rng.choice(words) if rng.random() < 0.5 else w
                                 for w in para.split()))
    return docs


def build(root, texts: list[str]) -> BuildLayout:
    layout = BuildLayout(root)
    rows = [doc_row(f"https://site{i % 11}.test/p/{i}", t) for i, t in enumerate(texts)]
    write_docs(layout, [rows[: len(rows) // 2], rows[len(rows) // 2 :]])
    write_dedup(layout, rows)
    return layout


def test_the_stage_trains_gpt2_sized_byte_fallback_bpe_into_uint16_shards(tmp_path):
    texts = compound_prose(passes=2)
    layout = build(tmp_path, texts)
    config = load_config(None, [f"tokenize.vocab_size={GPT2_VOCAB}", "tokenize.val_permille=50"])
    out = tokenize_to_dir(layout, config, "raw")

    manifest = read_json(out / "manifest.json")
    tok = Tokenizer((out / "tokenizer.model").read_bytes())
    assert tok.vocab_size == manifest["tokenizer"]["vocab_size"] == GPT2_VOCAB  # exactly
    assert tok.model_type == manifest["tokenizer"]["model_type"] == "bpe"
    assert len(tok.byte_ids) == 256  # byte fallback: any text, no <unk>
    unseen = "Grüße 🙂 — 漢字 \x07"
    assert tok.decode(tok.encode([unseen])[0]) == unseen
    assert manifest["dtype"] == "uint16"

    text_of = {doc_row(f"https://site{i % 11}.test/p/{i}", t)["doc_id"]: t
               for i, t in enumerate(texts)}
    high = 0
    for shard in sorted(out.glob("*.parquet")):
        table = pq.read_table(shard)
        assert table.schema.field("tokens").type == pa.list_(pa.uint16())
        for doc_id, ids in zip(table.column("doc_id").to_pylist(),
                               table.column("tokens").to_pylist(), strict=True):
            assert max(ids) < GPT2_VOCAB
            high += sum(i >= 32_768 for i in ids)
            assert tok.decode(ids) == text_of[doc_id]  # the upper half of uint16 reads back
    assert high > 0  # ids a signed int16 would have turned negative occur, and survived


def test_too_little_text_for_the_vocabulary_is_a_clear_error(tmp_path):
    layout = build(tmp_path, list(prose_paragraphs()[:50]))
    config = load_config(None, [f"tokenize.vocab_size={GPT2_VOCAB}"])
    with pytest.raises(UsageError, match=r"tokenizer training failed: .*vocab_size"):
        tokenize_to_dir(layout, config, "raw")


@pytest.mark.parametrize("vocab_size, dtype", [
    (GPT2_VOCAB, "uint16"), (65_535, "uint16"), (65_536, "uint16"), (65_537, "uint32"),
])
def test_shards_switch_to_uint32_exactly_above_65536_ids(tmp_path, vocab_size, dtype):
    assert token_dtype(vocab_size) == dtype
    top = vocab_size - 1  # the largest id this vocabulary has
    w = SplitWriter(tmp_path, "train", 0, shard_schema(dtype, {}), vocab_size, 10_000, 1000, 3,
                    lambda entry, hist: None)
    w.add("a", [top, 0, top - 1], 9)
    w.close()
    table = pq.read_table(tmp_path / "train-00000.parquet")
    assert table.column("tokens").to_pylist() == [[top, 0, top - 1]]
    assert np.iinfo(dtype).max >= top
