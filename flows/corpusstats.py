"""Corpus statistics of one build: the funnel and what the corpus is made of.

In:  a build directory (whatever stages have finished: source_stats.json, urls.parquet,
     fetch.parquet, linkrot.json, docs/, dedup.parquet and dedup/.thresholds.json,
     tokens/*/manifest.json and their shards, configs/*.toml, ablations/*/results.json).
Out: a `dict` (written as stats.json) with
     - `header`: build name, date, webtext version, the resolved config (file and digest), the
       input dumps and the time each stage took;
     - `funnel`: submissions read -> kept -> unique URLs -> fetched -> extracted -> passing
       every rule -> after dedup, where every step lists the count of each reason,
       input = output + sum(reasons) holds at every step, and each step carries its share of
       the step before and of the start; `reasons_explained` says what each code means and
       which setting controls it (flows/pagetext.py) under each step's `explained`;
     - `rules`: per quality rule its threshold, the share of extracted documents it removes and
       how many it alone removes, and `signal_hists` the histogram of each rule's signal;
     - document lengths in words and tokens, language shares, karma, subreddits, domains with
       their kept share, link rot, dedup (rate, cluster sizes, rate by Jaccard threshold from
       the stored signatures, largest clusters), token sets by recipe with epochs at the
       configured budget, the ablations of the build, and sample documents per rule (the
       selection of `webtext inspect`).

A document that fails several rules is counted once in the funnel, under its first reason in
`REASON_ORDER` (its primary reason); `rules_failed_any` counts every rule a document fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.dedup.store import THRESHOLDS_FILE
from webtext.io import read_json
from webtext.layout import BuildLayout
from webtext.records import (
    FETCH_SCHEMA,
    PAGE_STATUSES,
    TOKENS_MANIFEST_FILE,
    TOKENS_SPLITS,
    URLS_SCHEMA,
    DedupColumn,
    DocsColumn,
    TokensColumn,
)


def _column(schema: pa.Schema, name: str) -> str:
    """A column name of a contract without a column enum, checked against its schema here so
    that a renamed column fails at import, not in the middle of a report."""
    if name not in schema.names:
        raise ImportError(f"{name!r} is not a column of the contract {schema.names}")
    return name


# urls.parquet and fetch.parquet have no column enum in webtext.records: their names are
# checked against URLS_SCHEMA and FETCH_SCHEMA instead.
URL_DOMAIN = _column(URLS_SCHEMA, "domain")
URL_KARMA = _column(URLS_SCHEMA, "karma")
URL_SUBREDDITS = _column(URLS_SCHEMA, "subreddits")
FETCH_STATUS = _column(FETCH_SCHEMA, "status")

D, DD = DocsColumn, DedupColumn
TOP_N = 15  # rows of the top-domain and subreddit tables
SAMPLES_PER_RULE = 3
SAMPLE_TEXT_CHARS = 4000  # text kept per sample document (the page shows it inline)
LARGEST_CLUSTERS = 5
HIST_BINS = 30
STAGES = ("source", "crawl", "clean", "dedup")

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
    return read_json(path) if path.exists() else None


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


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


def signal_hist(values: np.ndarray, marks: list[float]) -> dict[str, Any]:
    """A histogram of one signal over HIST_BINS bins spanning the values and the thresholds
    `marks` near them (a threshold far outside the values, such as Gopher's 100,000-word
    cap, is listed in `off_chart` instead of squeezing every value into one bin); log-spaced
    bins when the positive values cover more than two decades (word counts)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return {"edges": [], "counts": [], "log": False, "off_chart": marks}
    lo, hi = float(values.min()), float(values.max())
    log = lo > 0 and hi / lo > 100
    span = hi - lo or 1.0
    near = [m for m in marks if (lo / 10 <= m <= hi * 10 if log and m > 0
                                 else lo - span <= m <= hi + span)]
    lo, hi = min([lo, *near]), max([hi, *near])
    if hi <= lo:
        hi = lo + 1.0
    edges = (np.geomspace(lo, hi, HIST_BINS + 1) if log
             else np.linspace(lo, hi, HIST_BINS + 1))
    counts, edges = np.histogram(values, bins=edges)
    return {"edges": [round(float(e), 6) for e in edges], "counts": counts.tolist(),
            "log": bool(log), "off_chart": [m for m in marks if m not in near]}


# ---------------------------------------------------------------- header


def resolved_config(layout: BuildLayout) -> tuple[Path | None, dict[str, Any]]:
    """(file, its tables) of the build's resolved config: the latest full config a stage wrote
    beside its output (clean, crawl, source); (None, {}) when there is none. Read as TOML,
    not validated: a build made by another webtext version is described as it was made."""
    for stage in ("clean", "crawl", "source"):
        path = layout.config(stage)
        if path.is_file():
            try:
                tables = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            if "source" in tables:  # a full config, not one stage's table alone
                return path, tables
    return None, {}


def _stage_times(layout: BuildLayout) -> list[dict[str, Any]]:
    """The seconds each stage of the build took: what the stage recorded, else the time
    between its stats file and the one written before it (each is written when a stage
    ends). Token sets an ablation made later (documents held out) are not build stages."""
    files = [(s, layout.stats(s)) for s in STAGES if layout.stats(s).is_file()]
    for path in layout.root.glob("tokenize_*_stats.json"):
        name = path.stem.removeprefix("tokenize_").removesuffix("_stats")
        manifest = _read_json(layout.tokens(name) / TOKENS_MANIFEST_FILE) or {}
        if not ((manifest.get("recipe") or {}).get("exclude") or {}).get("count"):
            files.append((f"tokenize {name}", path))
    files.sort(key=lambda sp: sp[1].stat().st_mtime)
    out, previous_end = [], None
    for stage, path in files:
        end = path.stat().st_mtime
        recorded = _recorded_seconds(_read_json(path) or {})
        seconds = recorded if recorded is not None else (
            end - previous_end if previous_end is not None else None)
        out.append({"stage": stage, "seconds": None if seconds is None else round(seconds, 1),
                    "measured": recorded is not None,
                    "finished": dt.datetime.fromtimestamp(end, dt.UTC).isoformat(
                        timespec="seconds")})
        previous_end = end
    return out


def _recorded_seconds(stats: dict[str, Any]) -> float | None:
    if isinstance(stats.get("seconds"), int | float):
        return float(stats["seconds"])
    total = (stats.get("timings") or {}).get("total_s")
    return float(total) if isinstance(total, int | float) else None


def header(layout: BuildLayout) -> dict[str, Any]:
    """Build name, date, webtext version, resolved config and its digest, dumps, stage times."""
    path, config = resolved_config(layout)
    dumps = (config.get("source") or {}).get("dumps") or []
    try:
        webtext_version = version("webtext")
    except PackageNotFoundError:
        webtext_version = "unknown"
    out: dict[str, Any] = {
        "name": layout.root.name,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "webtext_version": webtext_version,
        "config_file": str(path.relative_to(layout.root)) if path else None,
        "config_digest": hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path else None,
        "dumps": [dumps] if isinstance(dumps, str) else list(dumps),
        "stages": _stage_times(layout),
    }
    source = _read_json(layout.stats("source")) or {}
    # submissions read per dump file, as the source stage recorded them
    out["dump_files"] = (source.get("files") or {}).get("records") or {}
    return out


def clean_thresholds(layout: BuildLayout) -> Any:
    """The CleanConfig the build's rules ran with: its resolved [clean] table, or the
    defaults when the build has none (or one this version cannot read)."""
    from pydantic import ValidationError

    from webtext.clean.config import CleanConfig

    _, tables = resolved_config(layout)
    if not tables:
        path = layout.config("clean")  # `webtext clean` alone writes its table only
        if path.is_file():
            tables = {"clean": tomllib.loads(path.read_text(encoding="utf-8"))}
    table = tables.get("clean") or {}
    try:
        return CleanConfig.model_validate(table.get("clean", table))
    except ValidationError:
        return CleanConfig()


# ---------------------------------------------------------------- source, URLs, crawl


def _source_section(layout: BuildLayout, out: dict[str, Any]) -> None:
    source = _read_json(layout.stats("source"))
    if source:
        out["funnel"].append(_step("submissions", source["read"], source["kept"],
                                   source["dropped"]))
        out["submissions"] = {"read": source["read"], "kept": source["kept"]}


def _urls_section(layout: BuildLayout, out: dict[str, Any]) -> None:
    if not layout.urls.exists():
        return
    urls = pq.read_table(layout.urls, columns=[URL_DOMAIN, URL_KARMA, URL_SUBREDDITS])
    out["urls"] = urls.num_rows
    if "submissions" in out:
        # several kept submissions may link to one URL: they become one row (karma merged)
        out["submissions"]["unique_urls"] = urls.num_rows
        out["submissions"]["merged"] = out["submissions"]["kept"] - urls.num_rows
    out["karma_hist"] = _hist(urls.column(URL_KARMA).to_pylist(), [3, 10, 100, 1000])
    out["top_domains"] = Counter(urls.column(URL_DOMAIN).to_pylist()).most_common(TOP_N)
    subs = Counter(s for row in urls.column(URL_SUBREDDITS).to_pylist() for s in row or [])
    out["subreddits"] = subs.most_common(TOP_N)


def _fetch_section(layout: BuildLayout, out: dict[str, Any]) -> None:
    if layout.fetch.exists():
        statuses = pq.read_table(layout.fetch, columns=[FETCH_STATUS]).column(FETCH_STATUS)
        status = Counter(statuses.to_pylist())
        out["fetch_status"] = dict(status)
        # Pages recovered from web archives go on to clean/ like fetched ones.
        n_fetched = sum(status.pop(s, 0) for s in sorted(PAGE_STATUSES))
        out["funnel"].append(_step("urls", len(statuses), n_fetched, dict(status)))
    linkrot = _read_json(layout.linkrot)
    if linkrot:
        out["linkrot"] = linkrot


# ---------------------------------------------------------------- documents


def _keep_by_doc(layout: BuildLayout) -> tuple[dict[str, bool], dict[str, str | None]] | None:
    if not layout.dedup.exists():
        return None
    dd = pq.read_table(layout.dedup)
    ids = dd.column(DD.DOC_ID).to_pylist()
    kinds = (dd.column(DD.DUP_KIND).to_pylist() if DD.DUP_KIND in dd.schema.names
             else [None] * dd.num_rows)
    return (dict(zip(ids, dd.column(DD.KEEP).to_pylist(), strict=True)),
            dict(zip(ids, kinds, strict=True)))


def _docs_section(layout: BuildLayout, out: dict[str, Any]) -> pa.Table | None:
    """Funnel steps of documents (extraction, rules, dedup), languages, lengths, domains."""
    docs = _docs_table(layout, [D.DOC_ID, D.URL, D.DOMAIN, D.N_WORDS, D.LANG, D.REASONS])
    if docs is None:
        return None
    reasons = docs.column(D.REASONS).to_pylist()
    primary = [min(r, key=_reason_rank) if r else None for r in reasons]
    extraction = Counter(p for p in primary if p and is_extraction_failure(p))
    n_extracted = docs.num_rows - sum(extraction.values())
    out["funnel"].append(_step("fetched pages", docs.num_rows, n_extracted, dict(extraction)))
    rule_fail = Counter(p for p in primary if p and not is_extraction_failure(p))
    passing = [i for i, p in enumerate(primary) if p is None]
    out["funnel"].append(_step("extracted docs", n_extracted, len(passing), dict(rule_fail)))
    out["rules_failed_any"] = dict(Counter(c for r in reasons for c in set(r)))
    extracted = [i for i, p in enumerate(primary) if p is None or not is_extraction_failure(p)]
    langs = docs.column(D.LANG).to_pylist()
    words = docs.column(D.N_WORDS).to_pylist()
    # a document without a detected language is counted as "unknown" (a JSON key)
    out["languages"] = dict(Counter(langs[i] or "unknown" for i in extracted))
    out["language_shares"] = {k: _share(v, len(extracted))
                              for k, v in sorted(out["languages"].items(), key=lambda kv: -kv[1])}
    out["doc_words_hist"] = _hist([words[i] for i in extracted], [50, 100, 300, 1000, 3000])
    out["doc_words"] = signal_hist(np.array([words[i] for i in extracted], dtype=float), [])
    out["docs"] = {"rows": docs.num_rows, "extracted": n_extracted, "passing": len(passing)}
    kept = _dedup_step(layout, docs, passing, out)
    _domain_section(docs, kept, out)
    return docs


def _dedup_step(layout: BuildLayout, docs: pa.Table, passing: list[int],
                out: dict[str, Any]) -> set[int]:
    """The dedup funnel step over the passing documents; the rows kept in the end."""
    found = _keep_by_doc(layout)
    if found is None:
        return set(passing)
    keep, kinds = found
    ids = docs.column(D.DOC_ID).to_pylist()
    dup_reasons: Counter = Counter()
    kept = set()
    for i in passing:
        if keep.get(ids[i], True):
            kept.add(i)
        else:
            dup_reasons[f"duplicate_{kinds.get(ids[i]) or 'near'}"] += 1
    out["funnel"].append(_step("passing docs", len(passing), len(kept), dict(dup_reasons)))
    out["docs"]["kept"] = len(kept)
    return kept


def _domain_section(docs: pa.Table, kept: set[int], out: dict[str, Any]) -> None:
    """Top domains by URLs, with their documents and the share of those kept in the end."""
    domains = docs.column(D.DOMAIN).to_pylist()
    n_docs = Counter(domains)
    n_kept = Counter(domains[i] for i in kept)
    out["domains"] = [{"domain": d, "urls": n, "docs": n_docs.get(d, 0), "kept": n_kept.get(d, 0),
                       "kept_share": _share(n_kept.get(d, 0), n_docs.get(d, 0))}
                      for d, n in out.get("top_domains") or n_docs.most_common(TOP_N)]


# ---------------------------------------------------------------- quality rules


def _rules_section(layout: BuildLayout, docs: pa.Table, out: dict[str, Any]) -> None:
    """Per rule: threshold and setting, share of extracted documents it removes, how many it
    alone removes; per signal: its histogram with the thresholds of the rules that read it."""
    from webtext.clean.quality import RULES
    from webtext.flows.pagetext import explain

    config = clean_thresholds(layout)
    reasons = docs.column(D.REASONS).to_pylist()
    extracted = [r for r in reasons if not any(is_extraction_failure(c) for c in r)]
    n_extracted = len(extracted)
    any_fail = Counter(c for r in extracted for c in set(r))
    alone = Counter(r[0] for r in extracted if len(set(r)) == 1)
    signals = sorted({rule.signal for rule in RULES})
    table = _docs_table(layout, [D.REASONS, *signals])
    rules, hists = [], {}
    for rule in RULES:
        enabled = rule.enabled is None or bool(getattr(config, rule.enabled))
        rules.append({
            "reason": rule.reason.value, "signal": rule.signal, "op": rule.op,
            "threshold": rule.threshold(config), "enabled": enabled,
            "setting": f"clean.{rule.limit if isinstance(rule.limit, str) else rule.enabled}",
            "removes": any_fail.get(rule.reason.value, 0),
            "removes_share": _share(any_fail.get(rule.reason.value, 0), n_extracted),
            "alone": alone.get(rule.reason.value, 0),
            "text": explain("extracted docs", rule.reason.value, config)["text"]})
    has_text = [not any(is_extraction_failure(c) for c in r)
                for r in table.column(D.REASONS).to_pylist()]
    mask = pa.array(has_text)
    for signal in signals:
        if signal not in table.schema.names:
            continue
        values = table.column(signal).filter(mask).to_numpy(zero_copy_only=False)
        values = np.asarray([v for v in values if v is not None], dtype=float)
        marks = sorted({float(r["threshold"]) for r in rules
                        if r["signal"] == signal and r["enabled"]})
        hists[signal] = signal_hist(values, marks) | {"docs": int(len(values))}
    out["rules"] = rules
    out["signal_hists"] = hists
    out["rules_base"] = n_extracted


def _samples_section(layout: BuildLayout, out: dict[str, Any]) -> None:
    """A few documents per code that documents carry, chosen as `webtext inspect` chooses
    them, with the signal values the rule reads."""
    from webtext.clean.inspect import columns_for, sample
    from webtext.clean.reasons import Reason

    samples: dict[str, list[dict[str, Any]]] = {}
    for code in sorted(out.get("rules_failed_any") or {}):
        if code not in {r.value for r in Reason}:
            continue
        rows = sample(layout.docs_dir, Reason(code), SAMPLES_PER_RULE)
        shown = [D.N_WORDS, *columns_for(Reason(code))]
        samples[code] = [{
            "doc_id": row[D.DOC_ID], "url": row[D.URL], "title": row.get(D.TITLE) or "",
            "values": {k: row.get(k) for k in shown if k in row},
            "reasons": row[D.REASONS], "text": (row[D.TEXT] or "")[:SAMPLE_TEXT_CHARS],
            "text_chars": len(row[D.TEXT] or "")} for row in rows]
    if samples:
        out["samples"] = samples


# ---------------------------------------------------------------- dedup


def _dedup_section(layout: BuildLayout, docs: pa.Table | None, out: dict[str, Any]) -> None:
    """Duplicate rate, cluster sizes, rate by threshold, largest clusters with their URLs."""
    if not layout.dedup.exists():
        return
    dd = pq.read_table(layout.dedup)
    sizes_by_cluster = pc.value_counts(dd.column(DD.CLUSTER_ID).cast(pa.string()))
    sizes = Counter(sizes_by_cluster.field("counts").to_pylist())
    out["cluster_sizes"] = {str(k): v for k, v in sorted(sizes.items())}
    if DD.CONTAMINATED in dd.schema.names:
        out["contaminated"] = int(pc.sum(dd.column(DD.CONTAMINATED).cast(pa.int64())).as_py()
                                  or 0)
    n_dups = dd.num_rows - int(pc.sum(dd.column(DD.KEEP).cast(pa.int64())).as_py() or 0)
    kinds = Counter(k for k in dd.column(DD.DUP_KIND).to_pylist() if k)
    dedup_stats = _read_json(layout.stats("dedup")) or {}
    curve = _read_json(layout.dedup_dir / THRESHOLDS_FILE)
    out["dedup"] = {
        "docs": dd.num_rows, "duplicates": n_dups, "dup_rate": _share(n_dups, dd.num_rows),
        "by_kind": dict(kinds), "threshold": (dedup_stats.get("lsh") or {}).get("threshold"),
        "threshold_curve": curve if curve is not None else dedup_stats.get("threshold_report"),
        "largest_clusters": _largest_clusters(dd, sizes_by_cluster, docs)}


def _largest_clusters(dd: pa.Table, sizes: pa.StructArray, docs: pa.Table | None
                      ) -> list[dict[str, Any]]:
    url_of = (dict(zip(docs.column(D.DOC_ID).to_pylist(), docs.column(D.URL).to_pylist(),
                       strict=True)) if docs is not None else {})
    ranked = sorted(((c, n) for c, n in zip(sizes.field("values").to_pylist(),
                                             sizes.field("counts").to_pylist(), strict=True)
                     if n > 1), key=lambda cn: (-cn[1], cn[0]))[:LARGEST_CLUSTERS]
    ids = dd.column(DD.DOC_ID).to_pylist()
    clusters = dd.column(DD.CLUSTER_ID).cast(pa.string()).to_pylist()
    keep = dd.column(DD.KEEP).to_pylist()
    out = []
    for cluster, n in ranked:
        members = [{"doc_id": d, "url": url_of.get(d), "keep": bool(k)}
                   for d, c, k in zip(ids, clusters, keep, strict=True) if c == cluster]
        out.append({"cluster_id": cluster, "size": n,
                    "members": sorted(members, key=lambda m: (not m["keep"], m["doc_id"]))})
    return out


# ---------------------------------------------------------------- tokens and ablations


def _tokens_section(layout: BuildLayout, out: dict[str, Any]) -> None:
    """Token sets named by recipe: tokens, documents, bytes per token, tokens per document,
    and epochs of their train split at the configured budget (train.max_tokens)."""
    from webtext.train.config import TrainConfig

    _, config = resolved_config(layout)
    budget = (config.get("train") or {}).get("max_tokens") or TrainConfig().max_tokens
    tokens = {}
    for manifest in sorted(layout.tokens_root.glob(f"*/{TOKENS_MANIFEST_FILE}")):
        m = _read_json(manifest) or {}
        splits = m.get("splits", {})
        n_tok = sum(s.get("tokens", 0) for s in splits.values())
        n_bytes = sum(s.get("bytes", 0) for s in splits.values())
        train_tokens = (splits.get("train") or {}).get("tokens", 0)
        recipe = m.get("recipe") or {}
        held_out = ((recipe.get("exclude") or {}).get("count") or 0)
        tokens[manifest.parent.name] = {
            "recipe": recipe.get("name") or manifest.parent.name.rsplit("-", 1)[0],
            "recipe_config": recipe.get("config") or {}, "held_out": held_out,
            # a build's own token set holds nothing out; an ablation's variants hold its
            # evaluation documents out, and its evaluation set has no train split
            "role": ("build" if not held_out else "ablation evaluation" if not train_tokens
                     else "ablation variant"),
            "docs": sum(s.get("docs", 0) for s in splits.values()),
            "tokens": n_tok, "train_tokens": train_tokens, "bytes": n_bytes,
            "bytes_per_token": round(n_bytes / n_tok, 3) if n_tok else None,
            "vocab_size": (m.get("tokenizer") or {}).get("vocab_size"),
            "budget": budget,
            "epochs_at_budget": round(budget / train_tokens, 2) if budget and train_tokens
            else None,
            "doc_tokens": _doc_tokens(manifest.parent)}
    if tokens:
        out["tokens"] = tokens


def _doc_tokens(tokens_dir: Path) -> dict[str, Any]:
    lengths = [pq.read_table(p, columns=[TokensColumn.N_TOKENS]).column(TokensColumn.N_TOKENS)
               .to_numpy() for split in TOKENS_SPLITS
               for p in sorted(tokens_dir.glob(f"{split}-*.parquet"))]
    values = np.concatenate(lengths).astype(float) if lengths else np.array([])
    return signal_hist(values, [])


def _ablations_section(layout: BuildLayout, out: dict[str, Any]) -> None:
    found = []
    for results in sorted((layout.root / "ablations").glob("*/results.json")):
        r = _read_json(results) or {}
        found.append({"name": results.parent.name,
                      "page": str((results.parent / "report.html").relative_to(layout.root)),
                      "verdict": r.get("verdict"), "variants": sorted(r.get("variants") or {})})
    if found:
        out["ablations"] = found


# ---------------------------------------------------------------- all of it


def compute_stats(layout: BuildLayout) -> dict[str, Any]:
    """Everything `webtext stats` shows, from the files of a build (see module docstring)."""
    from webtext.flows.pagetext import explain_funnel

    out: dict[str, Any] = {"build": str(layout.root), "header": header(layout), "funnel": []}
    _source_section(layout, out)
    _urls_section(layout, out)
    _fetch_section(layout, out)
    docs = _docs_section(layout, out)
    if docs is not None:
        _rules_section(layout, docs, out)
        _samples_section(layout, out)
    _dedup_section(layout, docs, out)
    if layout.tokens_root.is_dir():
        _tokens_section(layout, out)
    _ablations_section(layout, out)
    start = out["funnel"][0]["in"] if out["funnel"] else 0
    for step in out["funnel"]:
        step["share_of_previous"] = _share(step["out"], step["in"])
        step["share_of_start"] = _share(step["out"], start)
    explain_funnel(out["funnel"], clean_thresholds(layout))
    out["adds_up"] = all(s["adds_up"] for s in out["funnel"])
    return out
