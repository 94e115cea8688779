"""The clean stage on the fixture world: exact counts per reason, derived from page kinds.

A build is made from World(0)'s pages as the mini-web serves them (2 WARC shards) and cleaned
with 2 worker processes. Expectations come from the world's intentions, never from running
the code under test: real articles pass every rule, except C4's curly-bracket rule on the
ones whose true text has a "{" (C4 drops any page with one; the standard library's prose
sometimes shows a dict); spam fails a repetition rule; short pages fail the word count;
foreign pages fail the language rule; the PNG served as text/html is not_text.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from unittest.mock import ANY

import pyarrow.parquet as pq
import pytest

from webtext.clean.config import CleanConfig
from webtext.clean.fixture import token_prf, world_responses, write_build
from webtext.clean.page import Extracted
from webtext.clean.stage import clean_shard, plan
from webtext.clean.stage import run as clean_run
from webtext.cli import main
from webtext.layout import shard_marker
from webtext.records import DOCS_SCHEMA, doc_id
from webtext.world.html import BOILERPLATE_MARKERS
from webtext.world.spec import CHARSET_SENTENCE, World

CLEAN_KINDS = {"article", "syndicated", "charset_header", "charset_meta", "low_karma",
               "robots", "flaky_503", "redirect_chain"}
REPETITION = {"gopher_dup_line_frac", "gopher_dup_para_frac", "gopher_dup_line_char_frac",
              "gopher_dup_para_char_frac", "gopher_top_2gram", "gopher_top_3gram",
              "gopher_top_4gram", "gopher_dup_5gram", "gopher_dup_6gram", "gopher_dup_7gram",
              "gopher_dup_8gram", "gopher_dup_9gram", "gopher_dup_10gram"}


def read_docs(docs_dir: Path) -> list[dict]:
    return [row for path in sorted(docs_dir.glob("*.parquet"))
            for row in pq.read_table(path).to_pylist()]


def digests(docs_dir: Path) -> dict[str, str]:
    return {p.relative_to(docs_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(docs_dir.rglob("*")) if p.is_file()}


def never_called(*args: object) -> Extracted | None:
    raise AssertionError("a finished shard was cleaned again")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    world = World(0)
    responses = world_responses(world)
    layout = write_build(tmp_path_factory.mktemp("build"), responses, n_shards=2)
    stats = clean_run(layout, CleanConfig(), workers=2)
    pages = {p.url: p for p in world.pages}
    rows = {row["url"]: row for row in read_docs(layout.docs_dir)}
    return layout, stats, pages, rows, responses


def test_every_fetched_page_is_one_document(built):
    layout, stats, pages, rows, responses = built
    assert sorted(rows) == sorted(r.url for r in responses)
    assert stats["complete"] and stats["docs"] == stats["fetched"] == len(responses)
    assert {row["doc_id"] for row in rows.values()} == {doc_id(url) for url in rows}
    for path in layout.docs_dir.glob("*.parquet"):
        assert pq.read_schema(path).equals(DOCS_SCHEMA)
        assert shard_marker(path).is_file()
    karma = pq.read_table(layout.urls).to_pylist()
    assert all(rows[u["url"]]["karma"] == u["karma"] for u in karma)


def test_exact_counts_per_reason(built):
    _, stats, pages, rows, _ = built
    kinds = Counter(pages[url].kind for url in rows)
    curly = {url for url in rows if pages[url].kind in CLEAN_KINDS and "{" in pages[url].body}
    for url, row in rows.items():
        page = pages[url]
        if page.kind in CLEAN_KINDS:
            assert row["reasons"] == (["c4_curly_bracket"] if url in curly else []), url
        elif page.kind == "spam":
            assert REPETITION & set(row["reasons"]), url
        elif page.kind == "short":
            assert "gopher_short_doc" in row["reasons"], url
        elif page.kind == "foreign":
            assert row["lang"] == page.lang and "lang_not_allowed" in row["reasons"], url
        elif page.kind == "lying_type":
            assert row["reasons"] == ["not_text"] and row["text"] == "", url
        else:
            raise AssertionError(f"unexpected kind {page.kind}")
    counts = Counter(code for row in rows.values() for code in row["reasons"])
    assert counts["gopher_short_doc"] == kinds["short"]
    assert counts["lang_not_allowed"] == kinds["foreign"]
    assert counts["not_text"] == kinds["lying_type"] == 1
    assert counts["c4_curly_bracket"] == len(curly)
    # Repetition rules fire on spam, and on nothing else but the two-line "page moved"
    # stubs, whose 6 words repeat "page moved" (their own reason is the word count).
    repetitive = {url for url, row in rows.items() if REPETITION & set(row["reasons"])}
    assert {url for url in repetitive if pages[url].kind != "short"} == {
        url for url in rows if pages[url].kind == "spam"}
    assert sum(1 for row in rows.values() if not row["reasons"]) == (
        sum(kinds[k] for k in CLEAN_KINDS) - len(curly))
    assert stats["reasons"] == dict(counts)  # the stats add up the rows


def test_extraction_recovers_the_article_body(built):
    _, _, pages, rows, _ = built
    overlap = predicted = true = 0
    for url, row in rows.items():
        page = pages[url]
        assert not any(marker in row["text"] for marker in BOILERPLATE_MARKERS), url
        if page.kind in CLEAN_KINDS:
            o, p, t = token_prf(row["text"], page.body)
            assert 2 * o / (p + t) >= 0.9, url
            overlap, predicted, true = overlap + o, predicted + p, true + t
        if page.kind.startswith("charset"):
            assert CHARSET_SENTENCE in row["text"], url
    precision, recall = overlap / predicted, overlap / true
    assert 2 * precision * recall / (precision + recall) >= 0.9


def test_rerun_skips_finished_shards_and_rebuilds_the_same_bytes(built):
    layout, stats, _, _, _ = built
    before = digests(layout.docs_dir)
    again = clean_run(layout, CleanConfig(), workers=2, extract=never_called)
    assert digests(layout.docs_dir) == before and again["docs"] == stats["docs"]
    (layout.docs_dir / "00001.parquet").unlink()
    shard_marker(layout.docs_dir / "00001.parquet").unlink()
    clean_run(layout, CleanConfig(), workers=1)
    assert digests(layout.docs_dir) == before
    # The per-shard entry point of the flows: a finished shard is not cleaned again.
    marker = clean_shard(layout, CleanConfig(), "00000", extract=never_called)
    assert marker["docs"] == len(pq.read_table(layout.docs_dir / "00000.parquet"))
    shard_marker(layout.docs_dir / "00000.parquet").unlink()
    assert clean_shard(layout, CleanConfig(), "00000") == {**marker, "cpu_seconds": ANY}
    assert digests(layout.docs_dir) == before


def test_other_thresholds_make_shards_unfinished(built):
    layout = built[0]
    assert plan(layout, CleanConfig()) == []
    assert len(plan(layout, CleanConfig(gopher_min_words=100))) == 2
    assert plan(layout, CleanConfig(workers=7)) == []  # the worker count changes nothing


def test_cli_inspect_and_clean(built, capsys):
    layout, _, pages, rows, _ = built
    short = sorted(url for url in rows if pages[url].kind == "short")
    assert main(["inspect", str(layout.root), "--reason", "gopher_short_doc", "--n", "50"]) == 0
    out = capsys.readouterr().out
    assert "fails when n_words < 50" in out and all(url in out for url in short)
    assert main(["inspect", str(layout.root)]) == 0
    assert "lang_not_allowed" in capsys.readouterr().out
    assert main(["inspect", str(layout.root), "--reason", "no_such_rule"]) == 2
    assert main(["clean", str(layout.root)]) == 0  # finished: nothing to do
    assert f"{len(rows)} documents from {len(rows)} fetched pages" in capsys.readouterr().out
    assert (layout.root / "configs" / "clean.toml").is_file()
    assert main(["clean", str(layout.root / "missing")]) == 2
