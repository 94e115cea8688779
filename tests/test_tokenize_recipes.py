"""Recipes select documents; every other document is counted under exactly one reason."""

from __future__ import annotations

import pytest
from tokenize_fixtures import doc_row, write_dedup, write_docs

from webtext.errors import UsageError
from webtext.layout import BuildLayout, shard_marker
from webtext.tokenize.config import RecipeConfig, default_recipes
from webtext.tokenize.recipes import (
    DedupMeta,
    DocMeta,
    DropReason,
    apply_recipe,
    recipe_digest,
    select,
    select_docs,
)


def meta(doc_id="d", karma=5, lang="en", lang_score=0.9, reasons=(), n_chars=100):
    return DocMeta(doc_id, karma, lang, lang_score, list(reasons), n_chars)


KEEP = DedupMeta(keep=True, contaminated=False)
FULL = RecipeConfig(min_karma=3, langs=["en"], min_lang_score=0.5, rules="all", dedup=True,
                    decontaminate=True)

# One case per reason: (document, its dedup row, recipe, held-out ids).
CASES = {
    DropReason.EMPTY_TEXT: (meta(n_chars=0), KEEP, RecipeConfig(), ()),
    DropReason.LOW_KARMA: (meta(karma=2), KEEP, FULL, ()),
    DropReason.WRONG_LANG: (meta(lang="de"), KEEP, FULL, ()),
    DropReason.LOW_LANG_SCORE: (meta(lang_score=0.4), KEEP, FULL, ()),
    DropReason.QUALITY_RULE: (meta(reasons=["gopher_short_doc"]), KEEP, FULL, ()),
    DropReason.NOT_IN_DEDUP: (meta(), None, FULL, ()),
    DropReason.DUPLICATE: (meta(), DedupMeta(keep=False, contaminated=False), FULL, ()),
    DropReason.CONTAMINATED: (meta(), DedupMeta(keep=True, contaminated=True), FULL, ()),
    DropReason.EXCLUDED: (meta(doc_id="held"), KEEP, FULL, ("held",)),
}


@pytest.mark.parametrize("reason", [r for r in DropReason if r in CASES])
def test_each_reason(reason):
    doc, dedup, recipe, exclude = CASES[reason]
    sel = apply_recipe([doc], {doc.doc_id: dedup} if dedup else {}, recipe, exclude)
    assert sel.doc_ids == [] and sel.dropped == {reason.value: 1}
    # the same document passes once the rule is lifted
    lifted = apply_recipe([meta(doc_id=doc.doc_id)], {doc.doc_id: KEEP}, recipe, ())
    assert lifted.doc_ids == [doc.doc_id]


def test_repeated_doc_id_is_counted_once_selected():
    sel = apply_recipe([meta("a"), meta("a"), meta("b")], None, RecipeConfig())
    assert sel.doc_ids == ["a", "b"] and sel.dropped == {"repeated_doc_id": 1}


def test_every_reason_has_a_case():
    assert set(CASES) | {DropReason.REPEATED_DOC_ID} == set(DropReason)


def test_rules_list_drops_only_listed_codes():
    docs = [meta("a", reasons=["gopher_short_doc"]), meta("b", reasons=["c4_curly_bracket"]),
            meta("c")]
    sel = apply_recipe(docs, None, RecipeConfig(rules=["gopher_short_doc"]))
    assert sel.doc_ids == ["b", "c"]
    assert apply_recipe(docs, None, RecipeConfig(rules="none")).doc_ids == ["a", "b", "c"]
    assert apply_recipe(docs, None, RecipeConfig(rules="all")).doc_ids == ["c"]


def mixed_build(root):
    layout = BuildLayout(root)
    rows = [
        doc_row("https://a.test/1", "kept text one"),
        doc_row("https://a.test/2", "low karma", karma=1),
        doc_row("https://b.test/3", "Deutscher Text", lang="de"),
        doc_row("https://b.test/4", "short", reasons=["gopher_short_doc"]),
        doc_row("https://c.test/5", ""),
        doc_row("https://c.test/6", "a duplicate"),
        doc_row("https://c.test/7", "kept text two"),
        doc_row("https://c.test/8", "benchmark leak"),
    ]
    write_docs(layout, [rows[:3], rows[3:]])
    dedup = [dict(doc_id=r["doc_id"]) for r in rows]
    dedup[5].update(keep=False, dup_of=rows[0]["doc_id"], dup_kind="near")
    dedup[7].update(contaminated=True)
    write_dedup(layout, dedup)
    return layout, rows


def test_select_reads_the_build_and_the_funnel_adds_up(tmp_path):
    layout, rows = mixed_build(tmp_path)
    web = default_recipes()["webtext"]
    sel = select_docs(layout, web)
    assert sel.doc_ids == [rows[0]["doc_id"], rows[6]["doc_id"]]
    assert sel.read == len(rows) == len(sel.doc_ids) + sum(sel.dropped.values())
    assert sel.rows == [0, 6]  # positions across both shards, in build order
    assert select(layout, web, exclude_ids=[rows[6]["doc_id"]]) == [rows[0]["doc_id"]]
    raw = select(layout, default_recipes()["raw"])
    assert raw == [r["doc_id"] for r in rows if r["text"]]


def test_exclude_file_and_api_ids_are_both_held_out(tmp_path):
    layout, rows = mixed_build(tmp_path)
    ex = tmp_path / "heldout.txt"
    ex.write_text(f"# evaluation docs\n{rows[0]['doc_id']}\n\n")
    recipe = RecipeConfig(exclude_file=str(ex))
    got = select(layout, recipe, exclude_ids=[rows[1]["doc_id"]])
    assert rows[0]["doc_id"] not in got and rows[1]["doc_id"] not in got
    assert rows[2]["doc_id"] in got


def test_missing_inputs_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="docs"):
        select(BuildLayout(tmp_path), RecipeConfig())
    layout, _ = mixed_build(tmp_path)
    marker = shard_marker(layout.docs_dir / "00001.parquet")
    marker.rename(tmp_path / "marker")
    with pytest.raises(UsageError, match="done marker"):  # clean has not finished 00001
        select(layout, RecipeConfig())
    (tmp_path / "marker").rename(marker)
    layout.dedup.unlink()
    assert select(layout, default_recipes()["raw"])  # raw needs no dedup.parquet
    with pytest.raises(UsageError, match="dedup"):
        select(layout, default_recipes()["dedup_only"])


def test_digest_names_what_decides_the_output():
    web, raw = default_recipes()["webtext"], default_recipes()["raw"]
    assert recipe_digest(web, []) == recipe_digest(web.model_copy(), [])
    assert recipe_digest(web, []) != recipe_digest(raw, [])
    assert recipe_digest(web, ["x"]) != recipe_digest(web, [])
    assert recipe_digest(web, ["x", "y"]) == recipe_digest(web, ["y", "x", "x"])
    assert recipe_digest(web, [], {"vocab": 1}) != recipe_digest(web, [], {"vocab": 2})
    # where held-out ids or a tokenizer come from does not matter, only what they are
    assert recipe_digest(web.model_copy(update={"exclude_file": "a.txt"}), []) == \
        recipe_digest(web, [])
