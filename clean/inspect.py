"""Look at what a rule rejects before trusting it: counts per reason, and sample documents.

In:  a build's docs/*.parquet, and its dedup.parquet for the duplicate codes.
Out: `reason_counts()` -> documents per reason code; `sample()` -> a few documents failing one
     code, with the signal values the rule reads and its threshold; `format_sample()` -> text
     for the terminal. The sample is the documents with the smallest hash of doc_id, so it is
     spread over the build and the same on every call.
     `lookup_code()` -> what a code the reports print is: a clean reason, a dedup code
     (`duplicate_<dup_kind>` as the stats funnel prints it, or `contaminated`), or a code of
     URLs or submissions, which no document carries (a UsageError saying so).
     `dedup_counts()`, `sample_dedup()` and `format_dedup()` do for the dedup codes what the
     functions above do for the reasons, with dedup.parquet joined on doc_id.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.clean.config import CleanConfig
from webtext.clean.quality import RULE_BY_REASON
from webtext.clean.reasons import Reason
from webtext.errors import UsageError
from webtext.layout import shard_marker

# What to show for codes that are not threshold rules.
_EXTRA_COLUMNS: dict[Reason, tuple[str, ...]] = {
    Reason.WARC_ERROR: ("error",),
    Reason.EMPTY_BODY: (),
    Reason.TOO_LARGE: (),
    Reason.NOT_TEXT: (),
    Reason.EXTRACT_TIMEOUT: ("error",),
    Reason.EXTRACT_ERROR: ("error", "encoding"),
    Reason.EXTRACT_EMPTY: ("encoding", "charset_source"),
    Reason.DECODE_ERROR: ("encoding", "charset_source", "decode_errors"),
    Reason.LANG_NOT_ALLOWED: ("lang", "lang_score"),
    Reason.LANG_LOW_SCORE: ("lang", "lang_score"),
    Reason.C4_TOO_FEW_SENTENCES: ("c4_kept_lines", "c4_no_punct_lines", "c4_short_lines"),
}
_BASE_COLUMNS = ["doc_id", "url", "title", "text", "n_words", "reasons"]


def shard_files(docs_dir: Path) -> list[Path]:
    """Finished shards only (those with a done marker)."""
    return [p for p in sorted(Path(docs_dir).glob("*.parquet"))
            if shard_marker(p).is_file()]


def reason_counts(docs_dir: Path) -> tuple[int, Counter[str]]:
    """(documents, documents per reason code) over the finished shards."""
    total, counts = 0, Counter()
    for path in shard_files(docs_dir):
        reasons = pq.read_table(path, columns=["reasons"]).column("reasons").to_pylist()
        total += len(reasons)
        for codes in reasons:
            counts.update(codes)
    return total, counts


def columns_for(reason: Reason) -> list[str]:
    rule = RULE_BY_REASON.get(reason)
    extra = list(_EXTRA_COLUMNS.get(reason, ()))
    if rule is not None and rule.signal not in extra and rule.signal != "n_words":
        extra.insert(0, rule.signal)
    return extra


def _sample_rows(docs_dir: Path, match: Callable[[str, list[str]], bool], n: int,
                 columns: list[str]) -> list[dict[str, Any]]:
    """Up to n rows for which match(doc_id, reasons) holds, smallest hash of doc_id first."""
    picked: list[tuple[str, Path, int]] = []
    for path in shard_files(docs_dir):
        table = pq.read_table(path, columns=["doc_id", "reasons"])
        for row, (doc, codes) in enumerate(zip(table.column("doc_id").to_pylist(),
                                               table.column("reasons").to_pylist(),
                                               strict=True)):
            if match(doc, codes):
                key = hashlib.blake2b(doc.encode(), digest_size=8).hexdigest()
                picked.append((key, path, row))
    picked.sort()
    out = []
    for _, path, row in picked[:n]:
        # a shard written before a signal column was added shows the others
        names = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[c for c in columns if c in names])
        out.append(table.slice(row, 1).to_pylist()[0])
    return out


def sample(docs_dir: Path, reason: Reason, n: int) -> list[dict[str, Any]]:
    """Up to n documents failing `reason`, with the columns that explain it."""
    return _sample_rows(docs_dir, lambda doc, codes: reason in codes, n,
                        _BASE_COLUMNS + columns_for(reason))


def format_sample(rows: list[dict[str, Any]], reason: Reason, config: CleanConfig,
                  excerpt_chars: int = 300) -> str:
    rule = RULE_BY_REASON.get(reason)
    lines = []
    if rule is not None:
        lines.append(f"rule {reason}: fails when {rule.signal} {rule.op} "
                     f"{rule.threshold(config)}"
                     + (f" (config: clean.{rule.limit})" if isinstance(rule.limit, str) else ""))
    for row in rows:
        lines.append("")
        lines += _heading(row)
        values = {k: v for k, v in row.items() if k not in _BASE_COLUMNS}
        values["n_words"] = row["n_words"]
        lines.append("  " + "  ".join(_value(k, v) for k, v in values.items()))
        lines.append(f"  reasons: {', '.join(row['reasons'])}")
        lines += _excerpt(row, excerpt_chars)
    return "\n".join(lines)


def _heading(row: dict[str, Any]) -> list[str]:
    """A sampled document's URL, id and title."""
    title = [f"  title: {row['title']}"] if row["title"] else []
    return [f"{row['url']}  (doc_id {row['doc_id']})", *title]


def _value(key: str, value: Any) -> str:
    return f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"


def _excerpt(row: dict[str, Any], excerpt_chars: int) -> list[str]:
    """The first `excerpt_chars` characters of its text, whitespace collapsed."""
    text = " ".join(row["text"].split())
    if not text:
        return []
    more = "..." if len(text) > excerpt_chars else ""
    return [f"  text: {text[:excerpt_chars]}{more}"]


# ------------------------------------------------------------------ codes of other stages
# The stats funnel (flows/corpusstats.py) names a document that dedup does not keep
# "duplicate_<dup_kind>"; dedup_stats.json says "dup_<dup_kind>". Both are accepted.
DUPLICATE_PREFIX = "duplicate_"
CONTAMINATED = "contaminated"  # dedup.parquet's flag: overlaps the evaluation set


def _dup_kinds() -> list[str]:
    from webtext.dedup.clusters import DupKind

    return [kind.value for kind in DupKind]


def dedup_codes() -> list[str]:
    """The document codes that dedup.parquet holds, as the reports print them."""
    return [DUPLICATE_PREFIX + kind for kind in _dup_kinds()] + [CONTAMINATED]


def lookup_code(code: str) -> Reason | str:
    """A clean `Reason`, or a dedup code (canonical spelling); a UsageError for anything
    else: a crawl status or a source rule (codes of URLs and submissions, which never became
    documents, so inspect has nothing to show), or an unknown code, with the valid ones."""
    from webtext.records import FetchStatus, SourceDrop

    if code in {r.value for r in Reason}:
        return Reason(code)
    for prefix in (DUPLICATE_PREFIX, "dup_"):
        if code.startswith(prefix) and code.removeprefix(prefix) in _dup_kinds():
            return DUPLICATE_PREFIX + code.removeprefix(prefix)
    if code == CONTAMINATED:
        return code
    if code in {status.value for status in FetchStatus}:
        raise UsageError(f"{code!r} is a crawl status of URLs (fetch.parquet, column status), "
                         "not a document code: only fetched pages become documents")
    if code in {drop.value for drop in SourceDrop}:
        raise UsageError(f"{code!r} is a source rule for Reddit submissions "
                         "(source_stats.json), not a document code")
    raise UsageError(f"unknown reason code {code!r}; document codes: "
                     + ", ".join([*(r.value for r in Reason), *dedup_codes()]))


_DEDUP_COLUMNS = ("cluster_id", "dup_of", "jaccard_est", "dup_kind", "contaminated")


def _read_dedup(dedup_path: Path, columns: list[str]) -> Any:
    missing = set(columns) - set(pq.read_schema(dedup_path).names)
    if missing:
        raise UsageError(f"{dedup_path} has no {', '.join(sorted(missing))} column (an older "
                         "webtext wrote it): run `webtext dedup` on this build again")
    return pq.read_table(dedup_path, columns=columns)


def _dedup_rows(dedup_path: Path, code: str) -> dict[str, dict[str, Any]]:
    """doc_id -> its dedup.parquet columns, for the documents with `code`."""
    if not Path(dedup_path).is_file():
        raise UsageError(f"{code} comes from {dedup_path}, which is not there: run "
                         "`webtext dedup` on this build first")
    table = _read_dedup(dedup_path, ["doc_id", *_DEDUP_COLUMNS])
    if code == CONTAMINATED:
        mask = pc.fill_null(table.column(CONTAMINATED), False)
    else:
        mask = pc.fill_null(pc.equal(table.column("dup_kind"),
                                     code.removeprefix(DUPLICATE_PREFIX)), False)
    return {row["doc_id"]: row for row in table.filter(mask).to_pylist()}


def dedup_counts(dedup_path: Path) -> dict[str, int]:
    """Documents per dedup code (every code, zeros included); {} without dedup.parquet."""
    if not Path(dedup_path).is_file():
        return {}
    table = _read_dedup(dedup_path, ["dup_kind", CONTAMINATED])
    kinds = Counter(table.column("dup_kind").to_pylist())
    counts = {DUPLICATE_PREFIX + kind: kinds[kind] for kind in _dup_kinds()}
    counts[CONTAMINATED] = int(pc.sum(table.column(CONTAMINATED).cast("int64")).as_py() or 0)
    return counts


def sample_dedup(docs_dir: Path, dedup_path: Path, code: str, n: int) -> list[dict[str, Any]]:
    """Up to n documents with a dedup code, each with its dedup.parquet columns and, under
    "dup_of_url", the URL of the document it duplicates (to compare the two)."""
    dedup = _dedup_rows(dedup_path, code)
    rows = _sample_rows(docs_dir, lambda doc, codes: doc in dedup, n, _BASE_COLUMNS)
    wanted = {dedup[row["doc_id"]]["dup_of"] for row in rows} - {None}
    urls: dict[str, str] = {}
    for path in shard_files(docs_dir) if wanted else []:
        table = pq.read_table(path, columns=["doc_id", "url"])
        for doc, url in zip(table.column("doc_id").to_pylist(), table.column("url").to_pylist(),
                            strict=True):
            if doc in wanted:
                urls[doc] = url
    for row in rows:
        extra = dedup[row["doc_id"]]
        row.update({k: extra[k] for k in _DEDUP_COLUMNS})
        row["dup_of_url"] = urls.get(extra["dup_of"])
    return rows


def format_dedup(rows: list[dict[str, Any]], code: str, excerpt_chars: int = 300) -> str:
    lines = [f"{code}: from dedup.parquet (joined on doc_id)"]
    for row in rows:
        lines.append("")
        lines += _heading(row)
        lines.append("  " + "  ".join(_value(k, row[k]) for k in _DEDUP_COLUMNS
                                      if row[k] is not None))
        if row["dup_of_url"]:
            lines.append(f"  duplicates: {row['dup_of_url']}")
        lines.append(f"  reasons: {', '.join(row['reasons']) or '(passes every rule)'}")
        lines += _excerpt(row, excerpt_chars)
    return "\n".join(lines)
