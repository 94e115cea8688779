"""Evaluation suites: every format parses, malformed lines name file and line, heldout draws."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.errors import UsageError
from webtext.evals.config import SuiteConfig
from webtext.evals.suites import draw_heldout, read_suite
from webtext.layout import BuildLayout
from webtext.world.evalsets import eval_paragraphs, write_evalsets
from webtext.world.text import prose_paragraphs


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("evalsets")
    write_evalsets(out, n_items=12)
    return out


def suite(kind: str, *paths: Path, **kw) -> SuiteConfig:
    return SuiteConfig(kind=kind, paths=[str(p) for p in paths], **kw)


def test_every_generated_format_parses(sets):
    ref_txt = read_suite("t", suite("text", sets / "reference.txt", item_chars=300))
    ref_jsonl = read_suite("j", suite("text", sets / "reference.jsonl"))
    ref_pq = read_suite("p", suite("text", sets / "reference.parquet"))
    assert len(ref_txt.items) > 3 and len(ref_jsonl.items) == 12 == len(ref_pq.items)
    assert "".join(i.text for i in ref_txt.items) == (sets / "reference.txt").read_text()
    lam = read_suite("l", suite("lambada", sets / "lambada.jsonl"))
    assert len(lam.items) == 12
    first = json.loads((sets / "lambada.jsonl").read_text().splitlines()[0])["text"]
    assert lam.items[0].context + lam.items[0].choices[0] == first
    assert lam.items[0].choices[0].startswith(" ") and " " not in lam.items[0].choices[0][1:]
    hs = read_suite("h", suite("hellaswag", sets / "hellaswag.jsonl"))
    assert len(hs.items) == 12 and all(len(i.choices) == 4 for i in hs.items)
    row = json.loads((sets / "hellaswag.jsonl").read_text().splitlines()[0])
    assert hs.items[0].choices[row["label"]] == " " + row["endings"][row["label"]]
    cbt_j = read_suite("c", suite("cloze", sets / "cbt.jsonl"))
    cbt_t = read_suite("c", suite("cloze", sets / "cbt.txt"))
    assert len(cbt_j.items) >= 5
    # the released 21-line format and the JSONL form hold the same questions
    assert [(i.context, i.choices, i.label) for i in cbt_j.items] == [
        (i.context, i.choices, i.label) for i in cbt_t.items]
    it = cbt_j.items[0]
    assert len(it.choices) == 10 and "XXXXX" not in it.choices[it.label]


def test_eval_text_is_never_served_by_the_world():
    served = set(prose_paragraphs())
    paras = eval_paragraphs()
    assert len(paras) > 200 and not served.intersection(paras)


def test_digest_follows_the_items(sets, tmp_path):
    a = read_suite("a", suite("hellaswag", sets / "hellaswag.jsonl"))
    assert a.digest == read_suite("b", suite("hellaswag", sets / "hellaswag.jsonl")).digest
    lines = (sets / "hellaswag.jsonl").read_text().splitlines()
    row = json.loads(lines[3])
    row["label"] = (row["label"] + 1) % 4
    (tmp_path / "h.jsonl").write_text("\n".join(lines[:3] + [json.dumps(row)] + lines[4:]))
    assert read_suite("a", suite("hellaswag", tmp_path / "h.jsonl")).digest != a.digest


GOOD = {
    "text": '{"text": "a fine line of text"}',
    "lambada": '{"text": "he opened the door and saw the cat"}',
    "cloze": json.dumps({"context": "The cat sat.", "query": "The XXXXX sat.",
                         "candidates": ["cat", "dog"], "answer": "cat"}),
    "hellaswag": json.dumps({"ctx": "He walks", "endings": ["a", "b", "c", "d"], "label": 1}),
}
BAD = [
    ("text", "{not json", "not valid JSON"),
    ("text", '["a list"]', "expected a JSON object"),
    ("text", '{"txt": "x"}', "no 'text' field"),
    ("text", '{"text": 3}', "'text' must be a str"),
    ("lambada", '{"text": "oneword"}', "needs a context and a last word"),
    ("cloze", json.dumps({"context": "c", "query": "no blank", "candidates": ["a", "b"],
                          "answer": "a"}), "XXXXX exactly once"),
    ("cloze", json.dumps({"context": "c", "query": "XXXXX", "candidates": ["a", "b"],
                          "answer": "z"}), "not among the candidates"),
    ("cloze", json.dumps({"context": "c", "query": "XXXXX", "candidates": "a|b",
                          "answer": "a"}), "'candidates' must be a list"),
    ("hellaswag", json.dumps({"ctx": "c", "endings": ["a", "b"], "label": 2}),
     "label must be an index"),
    ("hellaswag", json.dumps({"ctx": "c", "endings": ["a", "b"], "label": True}),
     "label must be an index"),
    ("hellaswag", json.dumps({"ctx": "c", "endings": ["a"], "label": 0}),
     "endings must be 2 or more"),
]


@pytest.mark.parametrize(("kind", "line", "message"), BAD)
def test_malformed_line_names_file_and_line(tmp_path, kind, line, message):
    path = tmp_path / "suite.jsonl"
    path.write_text(GOOD[kind] + "\n\n" + GOOD[kind] + "\n" + line + "\n" + GOOD[kind] + "\n")
    read_suite("ok", suite(kind, _good(tmp_path, kind)))  # the good lines alone parse
    with pytest.raises(UsageError) as e:
        read_suite("s", suite(kind, path))
    assert f"{path}:4:" in str(e.value) and message in str(e.value)
    assert "\n" not in str(e.value)


def _good(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / "good.jsonl"
    p.write_text(GOOD[kind] + "\n")
    return p


def _cbt_block(query_line: str, first: int = 1) -> str:
    lines = [f"{k} Sentence number {k} about the cat ." for k in range(first, first + 20)]
    return "\n".join(lines + [query_line]) + "\n"


@pytest.mark.parametrize(("block", "where", "message"), [
    (_cbt_block("21 The XXXXX sat .\tcat\t\tcat|dog"), 1, None),
    (_cbt_block("21 The XXXXX sat .\tcat\tcat|dog"), 21, "expected 'query<TAB>answer"),
    (_cbt_block("21 The XXXXX sat .\tcow\t\tcat|dog"), 21, "not among the candidates"),
    (_cbt_block("22 The XXXXX sat .\tcat\t\tcat|dog"), 21, "expected line number 21"),
    ("\n".join(_cbt_block("21 The XXXXX sat .\tcat\t\tcat|dog").splitlines()[1:]), 1,
     "has 20 lines, not 21"),
])
def test_released_cbt_format(tmp_path, block, where, message):
    good = _cbt_block("21 The XXXXX sat .\tcat\t\tcat|dog")
    path = tmp_path / "cbt_test.txt"
    path.write_text(good + "\n" + block)
    if message is None:
        s = read_suite("c", suite("cloze", path))
        assert len(s.items) == 2 and s.items[0].choices == ("cat sat .", "dog sat .")
        assert s.items[0].context.endswith("about the cat .\nThe ")
        return
    with pytest.raises(UsageError) as e:
        read_suite("c", suite("cloze", path))
    assert f"{path}:{22 + where}:" in str(e.value) and message in str(e.value)


def test_parquet_and_paths_errors(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "r.parquet")
    with pytest.raises(UsageError, match="no column 'text'"):
        read_suite("r", suite("text", tmp_path / "r.parquet"))
    s = read_suite("r", suite("text", tmp_path / "r.parquet", field="body"))
    assert [i.text for i in s.items] == ["x"]
    with pytest.raises(UsageError, match="matches no file"):
        read_suite("r", suite("text", tmp_path / "missing-*.jsonl"))
    (tmp_path / "r.bin").write_text("x")
    with pytest.raises(UsageError, match="cannot tell the format"):
        read_suite("r", suite("text", tmp_path / "r.bin"))


def _build(root: Path) -> BuildLayout:
    """A build with docs/ (two shards) and dedup.parquet, written by hand."""
    layout = BuildLayout(root)
    layout.docs_dir.mkdir(parents=True)
    rows = [(f"d{i:02d}", f"text of document {i}", ["gopher_short_doc"] if i % 3 else [])
            for i in range(40)]
    rows.append(("empty", "", []))
    for k in range(2):
        part = rows[k::2]
        pq.write_table(pa.table({
            "doc_id": [r[0] for r in part], "text": [r[1] for r in part],
            "n_chars": [len(r[1]) for r in part],
            "reasons": pa.array([r[2] for r in part], type=pa.list_(pa.string()))}),
            layout.docs_dir / f"{k:05d}.parquet")
    pq.write_table(pa.table({"doc_id": [r[0] for r in rows],
                             "keep": [not r[0].endswith("7") for r in rows]}), layout.dedup)
    return layout


def test_heldout_draws_seeded_from_the_deduplicated_unfiltered_pool(tmp_path):
    layout = _build(tmp_path / "build")
    a = draw_heldout(layout, 20, seed=0)
    assert a == draw_heldout(layout, 20, seed=0)  # the same for every variant
    assert a != draw_heldout(layout, 20, seed=1)
    ids = [d for d, _ in a]
    assert len(set(ids)) == 20
    assert not any(d.endswith("7") for d in ids)  # dedup dropped them
    assert "empty" not in ids  # nothing to score
    assert any(int(d[1:]) % 3 for d in ids)  # documents failing quality rules are drawn too
    assert all(t == f"text of document {int(d[1:])}" for d, t in a)
    with pytest.raises(UsageError, match="holds 36 documents, fewer than the heldout size 37"):
        draw_heldout(layout, 37)
