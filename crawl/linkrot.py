"""The link-rot report: what became of the URLs, by domain, by submission year and by status.

In:  one (status, domain, first_created_utc) triple per URL (fetch.parquet joined with
     urls.parquet).
Out: a JSON-ready dict, written to linkrot.json: counts per status, per year and status, per
     domain and status, and the share of URLs still alive (`fetched`) per year and per domain.
     The older the Reddit submission, the more of its links have rotted; this report measures
     that on the build's own URLs.

Every `FetchStatus` is counted under its own name, so a URL the crawler may not ask for counts
apart from a dead one: `robots_denied` (robots.txt disallows it) and `robots_unreachable` (its
host's robots.txt answered 5xx or could not be reached, RFC 9309 section 2.3.1.4: complete
disallow). Neither was fetched, so both lower `fetched_share` (the share known to be alive).

`recovery` (link-rot recovery, crawl/recover.py): for all URLs, by submission year and by
domain, how many were alive (`fetched`), recovered from Common Crawl (`archived_cc`) or the
Wayback Machine (`archived_ia`), or lost (every other status), and those shares.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from webtext.records import FetchStatus


def year_of(created_utc: int | None) -> str:
    if not created_utc:
        return "unknown"
    return str(datetime.fromtimestamp(int(created_utc), UTC).year)


def _block(counts: dict[str, Counter[str]]) -> dict[str, dict[str, Any]]:
    out = {}
    for key in sorted(counts):
        c = counts[key]
        total = sum(c.values())
        out[key] = {
            "urls": total,
            "fetched_share": round(c[FetchStatus.FETCHED.value] / total, 4) if total else 0.0,
            "status": dict(sorted(c.items())),
        }
    return out


RECOVERY_COLUMNS = {"alive": FetchStatus.FETCHED.value,
                    "archived_cc": FetchStatus.ARCHIVED_CC.value,
                    "archived_ia": FetchStatus.ARCHIVED_IA.value}


def _recovery_row(c: Counter[str]) -> dict[str, Any]:
    total = sum(c.values())
    row: dict[str, Any] = {"urls": total}
    for name, status in RECOVERY_COLUMNS.items():
        row[name] = c[status]
    row["lost"] = total - sum(row[name] for name in RECOVERY_COLUMNS)
    for name in (*RECOVERY_COLUMNS, "lost"):
        row[f"{name}_share"] = round(row[name] / total, 4) if total else 0.0
    return row


def recovery_report(by_status: Counter[str], by_year: dict[str, Counter[str]],
                    by_domain: dict[str, Counter[str]]) -> dict[str, Any]:
    """Alive, recovered from each archive, or lost: overall, by year and by domain."""
    return {"all": _recovery_row(by_status),
            "by_year": {k: _recovery_row(by_year[k]) for k in sorted(by_year)},
            "by_domain": {k: _recovery_row(by_domain[k]) for k in sorted(by_domain)}}


def linkrot_report(rows: Iterable[tuple[str, str, int | None]]) -> dict[str, Any]:
    """Counts of fetch outcomes by status, by submission year and by domain."""
    by_status: Counter[str] = Counter()
    by_year: dict[str, Counter[str]] = defaultdict(Counter)
    by_domain: dict[str, Counter[str]] = defaultdict(Counter)
    for status, domain, created in rows:
        by_status[status] += 1
        by_year[year_of(created)][status] += 1
        by_domain[domain][status] += 1
    total = sum(by_status.values())
    return {
        "urls": total,
        "by_status": dict(sorted(by_status.items())),
        "fetched_share": round(by_status[FetchStatus.FETCHED.value] / total, 4) if total else 0.0,
        "by_year": _block(by_year),
        "by_domain": _block(by_domain),
        "recovery": recovery_report(by_status, by_year, by_domain),
    }
