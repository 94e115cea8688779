"""Recipes: which documents of a build a tokenized variant is made of (docs/design.md,
"Principles" 1).

In:  the selection columns of docs/*.parquet (doc_id, karma, lang, lang_score, reasons, n_chars)
     and of dedup.parquet (doc_id, keep, contaminated), a `RecipeConfig`, held-out doc ids.
Out: a `Selection`: the selected doc ids in build order (with their row positions), and for
     every other document exactly one `DropReason` (the first rule it fails, in the order
     below), so that read == selected + sum(dropped).

Rules implemented: WebText's karma floor (Radford et al. 2019: outbound links with >= 3 karma),
a language filter on the language-ID output, the quality rules of clean/ (a document fails a
rule when its code is in `reasons`), dedup's keep-one choice, decontamination against the
evaluation set, and held-out ids. clean/ and dedup/ delete nothing; only a recipe selects.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pyarrow.parquet as pq

from webtext.errors import UsageError
from webtext.layout import BuildLayout, shard_marker
from webtext.records import DedupColumn
from webtext.records import DocsColumn as D
from webtext.tokenize.config import RecipeConfig


class DropReason(StrEnum):
    """Why a document of the build is not in a recipe's selection (first failing rule)."""

    EMPTY_TEXT = "empty_text"  # no extracted text: nothing to tokenize, whatever the recipe
    REPEATED_DOC_ID = "repeated_doc_id"  # the id already appeared earlier in docs/
    LOW_KARMA = "low_karma"
    WRONG_LANG = "wrong_lang"
    LOW_LANG_SCORE = "low_lang_score"
    QUALITY_RULE = "quality_rule"  # fails a quality rule the recipe applies
    NOT_IN_DEDUP = "not_in_dedup"  # the recipe needs dedup.parquet, which lacks this id
    DUPLICATE = "duplicate"  # dedup kept another member of its cluster
    CONTAMINATED = "contaminated"  # overlaps the evaluation set
    EXCLUDED = "excluded"  # held out (e.g. an ablation's evaluation documents)


# The columns a recipe selects on (the docs and dedup contracts of webtext.records).
DOC_COLUMNS = [D.DOC_ID, D.KARMA, D.LANG, D.LANG_SCORE, D.REASONS, D.N_CHARS]
DEDUP_COLUMNS = [DedupColumn.DOC_ID, DedupColumn.KEEP, DedupColumn.CONTAMINATED]


@dataclass(slots=True)
class DocMeta:
    """The columns of one docs/ row that recipes select on."""

    doc_id: str
    karma: int | None
    lang: str | None
    lang_score: float | None
    reasons: list[str]
    n_chars: int


@dataclass(slots=True)
class DedupMeta:
    keep: bool
    contaminated: bool


@dataclass
class Selection:
    """The outcome of applying one recipe to a build."""

    doc_ids: list[str] = field(default_factory=list)
    n_chars: list[int] = field(default_factory=list)  # parallel to doc_ids
    # Position of each selected document among all rows of docs/ in build order, so the texts
    # are read back by position (and checked by id) without a set of every id in memory.
    rows: list[int] = field(default_factory=list)
    read: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def funnel(self) -> dict:
        return {"read": self.read, "selected": len(self.doc_ids),
                "dropped": {r.value: self.dropped.get(r.value, 0) for r in DropReason}}


def needs_dedup(recipe: RecipeConfig) -> bool:
    return recipe.dedup or recipe.decontaminate


def drop_reason(
    doc: DocMeta, dedup: DedupMeta | None, recipe: RecipeConfig, exclude: frozenset[str]
) -> DropReason | None:
    """The first rule of `recipe` that `doc` fails, or None if the recipe selects it."""
    if doc.n_chars <= 0:
        return DropReason.EMPTY_TEXT
    if recipe.min_karma is not None and (doc.karma is None or doc.karma < recipe.min_karma):
        return DropReason.LOW_KARMA
    if recipe.langs is not None and doc.lang not in recipe.langs:
        return DropReason.WRONG_LANG
    if recipe.min_lang_score is not None and (
        doc.lang_score is None or doc.lang_score < recipe.min_lang_score
    ):
        return DropReason.LOW_LANG_SCORE
    if doc.reasons and recipe.rules != "none":
        if recipe.rules == "all" or not set(recipe.rules).isdisjoint(doc.reasons):
            return DropReason.QUALITY_RULE
    if needs_dedup(recipe):
        if dedup is None:
            return DropReason.NOT_IN_DEDUP
        if recipe.dedup and not dedup.keep:
            return DropReason.DUPLICATE
        if recipe.decontaminate and dedup.contaminated:
            return DropReason.CONTAMINATED
    if doc.doc_id in exclude:
        return DropReason.EXCLUDED
    return None


def apply_recipe(
    docs: Iterable[DocMeta],
    dedup: Mapping[str, DedupMeta] | None,
    recipe: RecipeConfig,
    exclude: Iterable[str] = (),
) -> Selection:
    """Select documents in input order; count every other document under one reason."""
    excluded = frozenset(exclude)
    seen: set[str] = set()
    sel = Selection()
    for row, doc in enumerate(docs):
        sel.read += 1
        if doc.doc_id in seen:
            reason: DropReason | None = DropReason.REPEATED_DOC_ID
        else:
            seen.add(doc.doc_id)
            reason = drop_reason(doc, (dedup or {}).get(doc.doc_id), recipe, excluded)
        if reason is None:
            sel.doc_ids.append(doc.doc_id)
            sel.n_chars.append(doc.n_chars)
            sel.rows.append(row)
        else:
            sel.dropped[reason.value] += 1
    return sel


def ids_sha256(ids: Iterable[str]) -> str:
    """sha256 of a set of doc ids (sorted, one per line), whatever their order or repeats."""
    return hashlib.sha256("\n".join(sorted(set(ids))).encode("utf-8")).hexdigest()


def recipe_digest(
    recipe: RecipeConfig, exclude: Iterable[str], extra: Mapping | None = None
) -> str:
    """sha256 of what decides a tokenized variant: the recipe's selection rules, the held-out
    ids (by content, not by file name) and `extra` (the stage adds the tokenizer's identity
    and the output settings, so two different outputs never share a directory)."""
    payload = {
        "recipe": recipe.model_dump(mode="json", exclude={"exclude_file", "tokenizer"}),
        "exclude_sha256": ids_sha256(exclude),
        "extra": dict(extra or {}),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- readers ----------------------------------------------------------------------------------


def done_marker(shard: Path) -> Path:
    """clean/ writes `.done/<shard>.json` after a docs shard (webtext.layout.shard_marker)."""
    return shard_marker(shard)


def doc_shards(layout: BuildLayout) -> list[Path]:
    """The docs/ shards in build order; all of them must be finished (have a done marker)."""
    shards = layout.require_docs_shards()
    unfinished = [p.name for p in shards if not done_marker(p).is_file()]
    if unfinished:
        raise UsageError(f"{len(unfinished)} docs shard(s) without a done marker (first: "
                         f"{unfinished[0]}): clean has not finished; run `webtext clean` again")
    return shards


def read_doc_meta(layout: BuildLayout) -> Iterator[DocMeta]:
    for path in doc_shards(layout):
        f = pq.ParquetFile(path)
        missing = [c for c in DOC_COLUMNS if c not in f.schema_arrow.names]
        if missing:
            raise UsageError(f"{path}: missing column(s) {', '.join(missing)} (docs contract)")
        for batch in f.iter_batches(columns=DOC_COLUMNS, batch_size=65536):
            for row in batch.to_pylist():
                yield DocMeta(row[D.DOC_ID], row[D.KARMA], row[D.LANG], row[D.LANG_SCORE],
                              row[D.REASONS] or [], row[D.N_CHARS] or 0)


def read_dedup(layout: BuildLayout) -> dict[str, DedupMeta]:
    if not layout.dedup.is_file():
        raise UsageError(f"{layout.dedup} not found: this recipe needs dedup; "
                         "run `webtext dedup` on this build first")
    table = pq.read_table(layout.dedup, columns=DEDUP_COLUMNS)
    return {
        d: DedupMeta(bool(k), bool(c))
        for d, k, c in zip(*(table.column(n).to_pylist() for n in DEDUP_COLUMNS), strict=True)
    }


def read_exclude_file(path: Path | str) -> list[str]:
    """Held-out doc ids, one per line; blank lines and `#` comments are ignored."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"exclude file {path} not found")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line]


def excluded_ids(recipe: RecipeConfig, exclude_ids: Iterable[str] | None = None) -> list[str]:
    """The recipe's held-out ids: its exclude file plus the ids given through the API."""
    ids = list(exclude_ids or [])
    if recipe.exclude_file is not None:
        ids += read_exclude_file(recipe.exclude_file)
    return sorted(set(ids))


def select_docs(
    layout: BuildLayout, recipe: RecipeConfig, exclude_ids: Iterable[str] | None = None
) -> Selection:
    """Apply `recipe` to the build at `layout` (reads docs/ and, if needed, dedup.parquet)."""
    doc_shards(layout)  # a missing docs/ is reported before a missing dedup.parquet
    dedup = read_dedup(layout) if needs_dedup(recipe) else None
    return apply_recipe(read_doc_meta(layout), dedup, recipe, excluded_ids(recipe, exclude_ids))


def select(
    layout: BuildLayout, recipe: RecipeConfig, exclude_ids: Iterable[str] | None = None
) -> list[str]:
    """The doc ids `recipe` selects from the build, in build order (the flows' API)."""
    return select_docs(layout, recipe, exclude_ids).doc_ids
