"""Corpus statistics of one build: the funnel and what the corpus is made of.

In:  a build directory (whatever stages have finished: source_stats.json, urls.parquet,
     fetch.parquet, docs/, dedup.parquet, tokens/*/manifest.json).
Out: a `dict` (written as stats.json) with the funnel — submissions read -> kept -> unique URLs
     -> fetched -> extracted -> passing every rule -> after dedup -> tokens — where every step
     lists the count of each reason, and input = output + sum(reasons) holds at every step;
     plus top domains, karma distribution, document lengths, language mix, duplicate cluster
     sizes, link rot, token counts and bytes per token.

A document that fails several rules is counted once in the funnel, under its first reason in
`REASON_ORDER` (its primary reason); `rules_failed_any` counts every rule a document fails.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.layout import BuildLayout
from webtext.records import PAGE_STATUSES

# Extraction failures first, then language, then the quality rules: a document's primary
# reason is the earliest of its reasons in this order (unknown codes sort last, by name).
EXTRACTION_PREFIXES = ("extract_", "not_text", "decode_", "empty")
LANGUAGE_PREFIXES = ("lang",)


def _reason_rank(code: str) -> tuple[int, str]:
    if code.startswith(EXTRACTION_PREFIXES):
        return (0, code)
    if code.startswith(LANGUAGE_PREFIXES):
        return (1, code)
    return (2, code)


def is_extraction_failure(code: str) -> bool:
    return _reason_rank(code)[0] == 0


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _docs_table(layout: BuildLayout, columns: list[str]) -> pa.Table | None:
    files = layout.docs_shards()
    if not files:
        return None
    tables = []
    for f in files:
        schema = pq.read_schema(f)
        tables.append(pq.read_table(f, columns=[c for c in columns if c in schema.names]))
    return pa.concat_tables(tables, promote_options="default")


def _step(name: str, n_in: int, n_out: int, reasons: dict[str, int]) -> dict[str, Any]:
    reasons = {k: int(v) for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
               if v}
    return {"step": name, "in": int(n_in), "out": int(n_out), "reasons": reasons,
            "adds_up": int(n_in) == int(n_out) + sum(reasons.values())}


def _hist(values: list[float], edges: list[float]) -> list[dict[str, Any]]:
    counts = [0] * (len(edges) + 1)
    for v in values:
        i = 0
        while i < len(edges) and v >= edges[i]:
            i += 1
        counts[i] += 1
    inner = [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:], strict=False)]
    labels = [f"< {edges[0]:g}", *inner, f">= {edges[-1]:g}"]
    return [{"bin": lab, "count": c} for lab, c in zip(labels, counts, strict=True)]


def compute_stats(layout: BuildLayout) -> dict[str, Any]:
    """Everything `webtext stats` shows, from the files of a build (see module docstring)."""
    out: dict[str, Any] = {"build": str(layout.root), "funnel": []}
    funnel = out["funnel"]
    source = _read_json(layout.stats("source"))
    if source:
        funnel.append(_step("submissions", source["read"], source["kept"], source["dropped"]))
        out["submissions"] = {"read": source["read"], "kept": source["kept"]}
    urls = pq.read_table(layout.urls) if layout.urls.exists() else None
    if urls is not None:
        out["urls"] = urls.num_rows
        karma = urls.column("karma").to_pylist()
        out["karma_hist"] = _hist(karma, [3, 10, 100, 1000])
        out["top_domains"] = Counter(urls.column("domain").to_pylist()).most_common(15)
    fetch = pq.read_table(layout.fetch) if layout.fetch.exists() else None
    if fetch is not None:
        status = Counter(fetch.column("status").to_pylist())
        # Pages recovered from web archives go on to clean/ like fetched ones.
        n_fetched = sum(status.pop(s, 0) for s in sorted(PAGE_STATUSES))
        funnel.append(_step("urls", fetch.num_rows, n_fetched, dict(status)))
        out["fetch_status"] = dict(Counter(fetch.column("status").to_pylist()))
    linkrot = _read_json(layout.linkrot)
    if linkrot:
        out["linkrot"] = linkrot
    docs = _docs_table(layout, ["doc_id", "domain", "karma", "n_chars", "n_words", "lang",
                                "reasons"])
    if docs is not None:
        reasons = docs.column("reasons").to_pylist()
        primary = [min(r, key=_reason_rank) if r else None for r in reasons]
        extraction = Counter(p for p in primary if p and is_extraction_failure(p))
        n_extracted = docs.num_rows - sum(extraction.values())
        funnel.append(_step("fetched pages", docs.num_rows, n_extracted, dict(extraction)))
        rule_fail = Counter(p for p in primary if p and not is_extraction_failure(p))
        passing = [i for i, p in enumerate(primary) if p is None]
        funnel.append(_step("extracted docs", n_extracted, len(passing), dict(rule_fail)))
        out["rules_failed_any"] = dict(Counter(c for r in reasons for c in set(r)))
        extracted_mask = [p is None or not is_extraction_failure(p) for p in primary]
        langs = docs.column("lang").to_pylist()
        words = docs.column("n_words").to_pylist()
        extracted_rows = [i for i, ok in enumerate(extracted_mask) if ok]
        out["languages"] = dict(Counter(langs[i] for i in extracted_rows))
        out["doc_words_hist"] = _hist([words[i] for i in extracted_rows],
                                      [50, 100, 300, 1000, 3000])
        out["docs"] = {"rows": docs.num_rows, "extracted": n_extracted, "passing": len(passing)}
        if layout.dedup.exists():
            dd = pq.read_table(layout.dedup)
            dd_ids = dd.column("doc_id").to_pylist()
            keep = dict(zip(dd_ids, dd.column("keep").to_pylist(), strict=True))
            dup_kind = (dd.column("dup_kind").to_pylist() if "dup_kind" in dd.schema.names
                        else [None] * dd.num_rows)
            kinds = dict(zip(dd_ids, dup_kind, strict=True))
            ids = docs.column("doc_id").to_pylist()
            dup_reasons: Counter = Counter()
            kept = 0
            for i in passing:
                if keep.get(ids[i], True):
                    kept += 1
                else:
                    dup_reasons[f"duplicate_{kinds.get(ids[i]) or 'near'}"] += 1
            funnel.append(_step("passing docs", len(passing), kept, dict(dup_reasons)))
            sizes = Counter(pc.value_counts(dd.column("cluster_id").cast(pa.string()))
                            .field("counts").to_pylist())
            out["cluster_sizes"] = {str(k): v for k, v in sorted(sizes.items())}
            if "contaminated" in dd.schema.names:
                out["contaminated"] = int(pc.sum(dd.column("contaminated").cast(pa.int64()))
                                          .as_py() or 0)
    tokens = {}
    if layout.tokens_root.is_dir():
        for manifest in sorted(layout.tokens_root.glob("*/manifest.json")):
            m = _read_json(manifest)
            splits = m.get("splits", {})
            n_tok = sum(s.get("tokens", 0) for s in splits.values())
            n_bytes = sum(s.get("bytes", 0) for s in splits.values())
            tokens[manifest.parent.name] = {
                "docs": sum(s.get("docs", 0) for s in splits.values()),
                "tokens": n_tok, "bytes": n_bytes,
                "bytes_per_token": round(n_bytes / n_tok, 3) if n_tok else None,
                "vocab_size": m.get("tokenizer", {}).get("vocab_size"),
            }
    if tokens:
        out["tokens"] = tokens
    out["adds_up"] = all(s["adds_up"] for s in funnel)
    return out
