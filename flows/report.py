"""The statistics as tables: rich tables for the terminal, the same rows for Prefect artifacts.

In:  the dict of `webtext.flows.corpusstats.compute_stats` (with `diff` when compared with
     another build), or an ablation's results.json.
Out: `stat_tables(stats)` -> {name: (title, headers, rows)}, the headline numbers of the
     build page; `terminal_tables(stats)` -> rich Tables of them that never wrap a row at 80
     columns (cells are cut with an ellipsis instead); `artifact_tables(stats)` -> the same
     rows as lists of dicts for Prefect table artifacts; `linkrot_recovery_rows/table` -> link
     rot with archive recovery. (The ablation's terminal tables are flows/ablate.py's.)
"""

from __future__ import annotations

from typing import Any

Rows = list[list[str]]
MAX_FIRST_COLUMN = 32  # widest first column (codes, domains) before an ellipsis cuts it


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def count(value: Any) -> str:
    return "–" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def by_count(counts: dict[str, Any]) -> list[tuple[str, Any]]:
    """Largest first, then by name (stats.json is written with sorted keys)."""
    return sorted(counts.items(), key=lambda kv: (-(kv[1] or 0), kv[0]))


def funnel_rows(stats: dict[str, Any]) -> Rows:
    """(step or reason, in, continues, % of step, % of start) rows: each step, its reasons
    (with their share of the step's input), and where kept submissions become URLs."""
    rows = []
    for step in stats.get("funnel") or []:
        rows.append([step["step"] + ("" if step["adds_up"] else " (MISMATCH)"),
                     count(step["in"]), count(step["out"]),
                     pct(step.get("share_of_previous")), pct(step.get("share_of_start"))])
        for reason, n in by_count(step["reasons"]):
            rows.append([f"  - {reason}", count(n), "", pct(n / step["in"]), ""])
        sub = stats.get("submissions") or {}
        if step["step"] == "submissions" and sub.get("merged"):
            rows.append(["  -> unique URLs", count(sub["unique_urls"]), "", "",
                         f"{sub['merged']} merged"])
    return rows


def headline_rows(stats: dict[str, Any]) -> Rows:
    docs, dedup = stats.get("docs") or {}, stats.get("dedup") or {}
    rows = [["submissions read", count((stats.get("submissions") or {}).get("read"))],
            ["unique URLs", count(stats.get("urls"))],
            ["documents extracted", count(docs.get("extracted"))],
            ["passing every rule", count(docs.get("passing"))],
            ["kept after dedup", count(docs.get("kept"))],
            ["duplicate rate", pct(dedup.get("dup_rate"))],
            ["URLs alive (link rot)", pct((stats.get("linkrot") or {}).get("fetched_share"))]]
    langs = by_count(stats.get("language_shares") or {})[:3]
    if langs:
        rows.append(["languages", ", ".join(f"{k} {pct(v)}" for k, v in langs)])
    return [r for r in rows if r[1] not in ("–", "")]


def rule_rows(stats: dict[str, Any]) -> Rows:
    rules = sorted((r for r in stats.get("rules") or [] if r["removes"]),
                   key=lambda r: (-r["removes"], r["reason"]))
    return [[r["reason"], count(r["removes"]), pct(r["removes_share"]), count(r["alone"]),
             f"{r['op']} {r['threshold']:g}"] for r in rules]


def domain_rows(stats: dict[str, Any]) -> Rows:
    return [[d["domain"], count(d["urls"]), count(d["docs"]), count(d["kept"]),
             pct(d["kept_share"])] for d in (stats.get("domains") or [])[:10]]


def token_rows(stats: dict[str, Any]) -> Rows:
    return [[f"{t['recipe']} ({name.rsplit('-', 1)[-1]})", t.get("role", ""),
             count(t["docs"]), count(t["tokens"]), count(t["bytes_per_token"]),
             count(t.get("epochs_at_budget"))]
            # the build's own token sets first, then an ablation's
            for name, t in sorted((stats.get("tokens") or {}).items(),
                                  key=lambda nt: nt[1].get("role") != "build")]


def diff_rows(stats: dict[str, Any]) -> Rows:
    diff = stats.get("diff") or {}
    rows = [[f"{section}: {r['what']}", count(r["now"]), count(r["before"]),
             "" if not r["change"] else f"{r['change']:+,}" if isinstance(r["change"], int)
             else f"{r['change']:+.4g}"]
            for section, rows in (diff.get("sections") or {}).items() for r in rows
            if r["now"] != r["before"]]  # the page shows the unchanged rows too
    return rows or ([["(nothing changed)", "", "", ""]] if diff else [])


def linkrot_recovery_rows(stats: dict[str, Any]) -> list[tuple[str, ...]]:
    """(group, urls, alive, Common Crawl, Wayback, lost) rows of the link-rot recovery table:
    every URL, then by submission year, then by domain (only domains with a dead URL)."""
    recovery = (stats.get("linkrot") or {}).get("recovery")
    if not recovery:
        return []

    def row(name: str, r: dict[str, Any]) -> tuple[str, ...]:
        cells = [f"{r[k]} ({r[k + '_share']:.0%})" for k in
                 ("alive", "archived_cc", "archived_ia", "lost")]
        return (name, str(r["urls"]), *cells)

    rows = [row("all URLs", recovery["all"])]
    rows += [row(f"year {y}", r) for y, r in recovery["by_year"].items()]
    rows += [row(d, r) for d, r in recovery["by_domain"].items() if r["alive"] < r["urls"]]
    return rows


LINKROT_HEADERS = ["URLs of", "urls", "alive", "Common Crawl", "Wayback", "lost"]


def stat_tables(stats: dict[str, Any]) -> dict[str, tuple[str, list[str], Rows]]:
    """Every table of the terminal and the artifacts: name -> (title, headers, rows)."""
    return {
        "headline": ("headline", ["what", "value"], headline_rows(stats)),
        "funnel": ("funnel (in = continues + reasons)",
                   ["step", "in", "continues", "% step", "% start"], funnel_rows(stats)),
        "rules": ("quality rules (share of extracted docs)",
                  ["rule", "removes", "%", "alone", "threshold"], rule_rows(stats)),
        "domains": ("top domains", ["domain", "URLs", "docs", "kept", "kept %"],
                    domain_rows(stats)),
        "tokens": ("token sets (epochs at train.max_tokens)",
                   ["recipe (digest)", "role", "docs", "tokens", "B/tok", "epochs"],
                   token_rows(stats)),
        "linkrot": ("link rot: alive, from web archives, or lost", LINKROT_HEADERS,
                    [list(r) for r in linkrot_recovery_rows(stats)]),
        "changes": (f"changes against {(stats.get('diff') or {}).get('against_name')}",
                    ["what", "now", "before", "change"], diff_rows(stats)),
    }


def rich_table(title: str, headers: list[str], rows: Rows) -> Any:
    """A rich Table whose rows never wrap: cells too long for the width end in an ellipsis."""
    from rich.table import Table

    if len(title) > 78:  # a title wraps like a row: cut it instead
        title = title[:77] + "…"
    t = Table(title=title, title_justify="left")
    for i, name in enumerate(headers):
        t.add_column(name, justify="left" if i == 0 else "right", no_wrap=True,
                     overflow="ellipsis", max_width=MAX_FIRST_COLUMN if i == 0 else None)
    for r in rows:
        t.add_row(*r)
    return t


def terminal_tables(stats: dict[str, Any], names: tuple[str, ...] | None = None) -> list[Any]:
    """The tables with rows, in order (only `names` when given)."""
    return [rich_table(title, headers, rows)
            for name, (title, headers, rows) in stat_tables(stats).items()
            if rows and (names is None or name in names)]


def artifact_tables(stats: dict[str, Any]) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """The terminal's tables as Prefect table artifacts: name -> (title, rows as dicts)."""
    return {name: (title, [dict(zip(headers, r, strict=True)) for r in rows])
            for name, (title, headers, rows) in stat_tables(stats).items()}


def linkrot_recovery_table(stats: dict[str, Any]) -> Any:
    """The link-rot table with recovery, as a rich Table (None without link-rot stats)."""
    rows = linkrot_recovery_rows(stats)
    if not rows:
        return None
    return rich_table("link rot: alive, recovered from web archives, or lost", LINKROT_HEADERS,
                      [list(r) for r in rows])
