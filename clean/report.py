"""Look at what a rule rejects before trusting it: counts per reason, and sample documents.

In:  a build's docs/*.parquet.
Out: `reason_counts()` -> documents per reason code; `sample()` -> a few documents failing one
     code, with the signal values the rule reads and its threshold; `format_sample()` -> text
     for the terminal. The sample is the documents with the smallest hash of doc_id, so it is
     spread over the build and the same on every call.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from webtext.clean.config import CleanConfig
from webtext.clean.quality import RULE_BY_REASON
from webtext.clean.reasons import Reason

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
            if p.with_suffix(".done.json").is_file()]


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


def sample(docs_dir: Path, reason: Reason, n: int) -> list[dict[str, Any]]:
    """Up to n documents failing `reason`, with the columns that explain it."""
    columns = _BASE_COLUMNS + columns_for(reason)
    picked: list[tuple[str, Path, int]] = []
    for path in shard_files(docs_dir):
        table = pq.read_table(path, columns=["doc_id", "reasons"])
        for row, (doc, codes) in enumerate(zip(table.column("doc_id").to_pylist(),
                                               table.column("reasons").to_pylist(),
                                               strict=True)):
            if reason in codes:
                key = hashlib.blake2b(doc.encode(), digest_size=8).hexdigest()
                picked.append((key, path, row))
    picked.sort()
    out = []
    for _, path, row in picked[:n]:
        table = pq.read_table(path, columns=columns)
        out.append(table.slice(row, 1).to_pylist()[0])
    return out


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
        lines.append(f"{row['url']}  (doc_id {row['doc_id']})")
        if row["title"]:
            lines.append(f"  title: {row['title']}")
        values = {k: v for k, v in row.items() if k not in _BASE_COLUMNS}
        values["n_words"] = row["n_words"]
        lines.append("  " + "  ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()))
        lines.append(f"  reasons: {', '.join(row['reasons'])}")
        text = " ".join(row["text"].split())
        if text:
            more = "..." if len(text) > excerpt_chars else ""
            lines.append(f"  text: {text[:excerpt_chars]}{more}")
    return "\n".join(lines)
