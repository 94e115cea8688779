"""Render build statistics: rich tables for the terminal, report.html with embedded plots.

In:  the dict of `webtext.flows.corpusstats.compute_stats`.
Out: rich renderables, PNG plots (bytes), and a self-contained HTML report.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any


def funnel_rows(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(step, count, note) rows: each step's input, its reasons, and what goes on."""
    rows = []
    for step in stats["funnel"]:
        rows.append((step["step"], f"{step['in']:,}", "" if step["adds_up"] else "MISMATCH"))
        for reason, n in step["reasons"].items():
            rows.append((f"  - {reason}", f"{n:,}", ""))
        rows.append(("  = continues", f"{step['out']:,}", ""))
    for name, t in (stats.get("tokens") or {}).items():
        rows.append((f"tokens ({name})", f"{t['tokens']:,}",
                     f"{t['docs']:,} docs, {t['bytes_per_token']} bytes/token"))
    return rows


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


def linkrot_recovery_table(stats: dict[str, Any]) -> Any:
    """The link-rot table with recovery, as a rich Table (None without link-rot stats)."""
    from rich.table import Table

    rows = linkrot_recovery_rows(stats)
    if not rows:
        return None
    t = Table(title="link rot: alive, recovered from web archives, or lost")
    for name in ("URLs of", "urls", "alive", "Common Crawl", "Wayback", "lost"):
        t.add_column(name, justify="left" if name == "URLs of" else "right")
    for r in rows:
        t.add_row(*r)
    return t


def terminal_tables(stats: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    funnel = Table(title="funnel (every step: in = continues + reasons)")
    funnel.add_column("step")
    funnel.add_column("count", justify="right")
    funnel.add_column("note")
    for row in funnel_rows(stats):
        funnel.add_row(*row)
    tables = [funnel]
    if stats.get("top_domains"):
        t = Table(title="top domains (urls)")
        t.add_column("domain")
        t.add_column("urls", justify="right")
        for d, n in stats["top_domains"][:10]:
            t.add_row(d, str(n))
        tables.append(t)
    if stats.get("languages"):
        t = Table(title="language mix (extracted docs)")
        t.add_column("lang")
        t.add_column("docs", justify="right")
        for lang, n in sorted(stats["languages"].items(), key=lambda kv: -kv[1]):
            t.add_row(str(lang), str(n))
        tables.append(t)
    if stats.get("cluster_sizes"):
        t = Table(title="duplicate cluster sizes")
        t.add_column("size")
        t.add_column("clusters", justify="right")
        for size, n in stats["cluster_sizes"].items():
            t.add_row(size, str(n))
        tables.append(t)
    recovery = linkrot_recovery_table(stats)
    if recovery is not None:
        tables.append(recovery)
    return tables


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def plots(stats: dict[str, Any]) -> dict[str, bytes]:
    """Named PNG plots of the distributions in `stats`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}

    def bars(name: str, title: str, labels: list[str], values: list[float]) -> None:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(range(len(values)), values, color="#4c72b0")
        ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
        out[name] = _png(fig)

    funnel = stats.get("funnel") or []
    if funnel:
        bars("funnel", "funnel", [s["step"] for s in funnel] + ["final"],
             [s["in"] for s in funnel] + [funnel[-1]["out"]])
    for key, title in (("karma_hist", "karma of kept URLs"),
                       ("doc_words_hist", "document length (words)")):
        if stats.get(key):
            bars(key, title, [b["bin"] for b in stats[key]], [b["count"] for b in stats[key]])
    if stats.get("languages"):
        langs = sorted(stats["languages"].items(), key=lambda kv: -kv[1])
        bars("languages", "language mix", [str(k) for k, _ in langs], [v for _, v in langs])
    if stats.get("cluster_sizes"):
        items = list(stats["cluster_sizes"].items())
        bars("cluster_sizes", "duplicate cluster sizes", [k for k, _ in items],
             [v for _, v in items])
    if stats.get("fetch_status"):
        items = sorted(stats["fetch_status"].items(), key=lambda kv: -kv[1])
        bars("fetch_status", "fetch outcomes (link rot)", [k for k, _ in items],
             [v for _, v in items])
    return out


def html_report(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(a)}</td><td style='text-align:right'>{esc(b)}</td><td>{esc(c)}</td></tr>"
        for a, b, c in funnel_rows(stats)
    )
    imgs = "".join(
        f"<figure><img alt='{esc(name)}' src='data:image/png;base64,"
        f"{base64.b64encode(png).decode()}'><figcaption>{esc(name)}</figcaption></figure>"
        for name, png in images.items()
    )
    domains = "".join(f"<tr><td>{esc(d)}</td><td>{n}</td></tr>"
                      for d, n in stats.get("top_domains") or [])
    linkrot = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>"
                      for r in linkrot_recovery_rows(stats))
    rules = "".join(f"<tr><td>{esc(r)}</td><td>{n}</td></tr>" for r, n in
                    sorted((stats.get("rules_failed_any") or {}).items(), key=lambda kv: -kv[1]))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>webtext build report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px}}
figure{{display:inline-block;margin:8px}}</style></head><body>
<h1>webtext build report</h1><p>{esc(stats.get('build', ''))}</p>
<h2>Funnel</h2><p>At every step, input = continues + the sum of its reasons
({'all steps add up' if stats.get('adds_up') else 'SOME STEPS DO NOT ADD UP'}).</p>
<table><tr><th>step</th><th>count</th><th>note</th></tr>{rows}</table>
<h2>Every rule a document fails</h2><table><tr><th>rule</th><th>docs</th></tr>{rules}</table>
<h2>Link rot and recovery</h2><table><tr><th>URLs of</th><th>urls</th><th>alive</th>
<th>Common Crawl</th><th>Wayback</th><th>lost</th></tr>{linkrot}</table>
<h2>Top domains</h2><table><tr><th>domain</th><th>urls</th></tr>{domains}</table>
<h2>Plots</h2>{imgs}
</body></html>
"""
