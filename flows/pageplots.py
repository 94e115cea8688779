"""The plots of the build page and the ablation page: static matplotlib PNGs, every axis
labelled in words with its unit, every plot titled.

In:  the dict of `webtext.flows.corpusstats.compute_stats`, or an ablation's results.json.
Out: `build_plots(stats)` / `ablation_plots(results)` -> {name: PNG bytes}, embedded in the
     page as data: URLs (no file beside it, no request). Names are stable: the page puts a
     plot under the section that shows its numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from webtext.flows.pagetext import signal_words

BLUE, GREY, RED = "#4c72b0", "#a0a0a0", "#c44e52"


@contextmanager
def _figure(out: dict[str, bytes], name: str, size: tuple[float, float] = (6.4, 3.0)
            ) -> Iterator[Any]:
    """A figure and its axes, saved as PNG under `name` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        out[name] = buf.getvalue()
    finally:
        plt.close(fig)


def _hbar(ax: Any, labels: list[str], values: list[float], xlabel: str, title: str) -> None:
    ax.barh(range(len(values)), values, color=BLUE)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)


def _hist(ax: Any, hist: dict[str, Any], xlabel: str, title: str) -> None:
    edges, counts = hist["edges"], hist["counts"]
    widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=BLUE, edgecolor="white")
    if hist.get("log"):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("documents")
    ax.set_title(title)


def funnel_plot(stats: dict[str, Any], out: dict[str, bytes]) -> None:
    funnel = stats.get("funnel") or []
    if not funnel:
        return
    labels = [f"{s['step']} (in)" for s in funnel] + ["in the end"]
    values = [s["in"] for s in funnel] + [funnel[-1]["out"]]
    with _figure(out, "funnel", (6.4, 2.8)) as ax:
        _hbar(ax, labels, values, "count (submissions, URLs, pages or documents)",
              "What enters each step of the funnel")


def rule_plots(stats: dict[str, Any], out: dict[str, bytes]) -> None:
    """One histogram per signal, with a line at the threshold of each rule that reads it."""
    rules = stats.get("rules") or []
    for signal, hist in (stats.get("signal_hists") or {}).items():
        on_it = [r for r in rules if r["signal"] == signal and r["enabled"]]
        if not hist["edges"] or not on_it:
            continue
        with _figure(out, f"signal-{signal}", (5.2, 2.6)) as ax:
            _hist(ax, hist, f"{signal_words(signal)} [{signal}]",
                  f"{signal}: {hist['docs']} extracted documents")
            for i, r in enumerate(on_it):
                if r["threshold"] in hist.get("off_chart", []):
                    continue
                ax.axvline(r["threshold"], color=RED, linestyle="--" if i else "-")
                ax.annotate(f"{r['reason']} {r['op']} {r['threshold']:g}",
                            (r["threshold"], 1), xycoords=("data", "axes fraction"),
                            fontsize=7, color=RED, rotation=90, va="top", ha="right")


def length_plots(stats: dict[str, Any], out: dict[str, bytes]) -> None:
    if (stats.get("doc_words") or {}).get("edges"):
        with _figure(out, "doc-words") as ax:
            scale = ", log scale" if stats["doc_words"].get("log") else ""
            _hist(ax, stats["doc_words"], f"document length (words{scale})",
                  "Length of extracted documents in words")
    for name, t in (stats.get("tokens") or {}).items():
        if t.get("role") == "build" and (t.get("doc_tokens") or {}).get("edges"):
            with _figure(out, f"doc-tokens-{name}") as ax:
                _hist(ax, t["doc_tokens"], "document length (tokens)",
                      f"Length of documents in tokens: {t['recipe']} ({name})")


def mix_plots(stats: dict[str, Any], out: dict[str, bytes]) -> None:
    """Languages, karma, subreddits, domains."""
    if stats.get("language_shares"):
        items = list(stats["language_shares"].items())
        with _figure(out, "languages", (5.2, 2.4)) as ax:
            _hbar(ax, [str(k) for k, _ in items], [100 * (v or 0) for _, v in items],
                  "share of extracted documents (%)", "Language mix")
    if stats.get("karma_hist"):
        bins = stats["karma_hist"]
        with _figure(out, "karma", (5.2, 2.4)) as ax:
            ax.bar(range(len(bins)), [b["count"] for b in bins], color=BLUE)
            ax.set_xticks(range(len(bins)), [b["bin"] for b in bins])
            ax.set_xlabel("karma of the URL (highest submission score, points)")
            ax.set_ylabel("URLs")
            ax.set_title("Karma of the kept URLs")
    if stats.get("subreddits"):
        subs = stats["subreddits"]
        with _figure(out, "subreddits", (5.2, 3.2)) as ax:
            _hbar(ax, [f"r/{s}" for s, _ in subs], [n for _, n in subs],
                  "URLs submitted there", "Subreddits the URLs come from")
    if stats.get("domains"):
        doms = stats["domains"]
        with _figure(out, "domains", (6.0, 3.4)) as ax:
            ys = range(len(doms))
            ax.barh(ys, [d["urls"] for d in doms], color=GREY, label="URLs")
            ax.barh(ys, [d["kept"] for d in doms], color=BLUE, label="documents kept")
            ax.set_yticks(ys, [d["domain"] for d in doms], fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel("count (URLs, documents)")
            ax.set_title("Top domains: URLs and the documents kept in the end")
            ax.legend(fontsize=8)


def linkrot_plot(stats: dict[str, Any], out: dict[str, bytes]) -> None:
    recovery = (stats.get("linkrot") or {}).get("recovery") or {}
    years = recovery.get("by_year") or {}
    if not years:
        return
    with _figure(out, "linkrot-years", (5.6, 2.8)) as ax:
        bottom = [0.0] * len(years)
        for key, label, color in (("alive_share", "alive", BLUE),
                                  ("archived_cc_share", "Common Crawl", "#55a868"),
                                  ("archived_ia_share", "Wayback", "#dd8452"),
                                  ("lost_share", "lost", RED)):
            vals = [100 * r.get(key, 0) for r in years.values()]
            ax.bar(list(years), vals, bottom=bottom, color=color, label=label)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_xlabel("year of the first Reddit submission")
        ax.set_ylabel("share of URLs (%)")
        ax.set_title("Link rot by submission year")
        ax.legend(fontsize=7, loc="lower left")


def dedup_plots(stats: dict[str, Any], out: dict[str, bytes]) -> None:
    if stats.get("cluster_sizes"):
        items = list(stats["cluster_sizes"].items())
        with _figure(out, "cluster-sizes", (5.2, 2.4)) as ax:
            ax.bar([str(k) for k, _ in items], [v for _, v in items], color=BLUE)
            ax.set_yscale("log")
            ax.set_xlabel("cluster size (documents)")
            ax.set_ylabel("clusters (log scale)")
            ax.set_title("Duplicate cluster sizes")
    dedup = stats.get("dedup") or {}
    curve = dedup.get("threshold_curve") or []
    if curve:
        with _figure(out, "dedup-thresholds", (5.2, 2.6)) as ax:
            ax.plot([c["threshold"] for c in curve], [100 * c["dup_rate"] for c in curve],
                    marker="o", color=BLUE)
            if dedup.get("threshold") is not None:
                ax.axvline(dedup["threshold"], color=RED, linestyle="--",
                           label=f"configured threshold {dedup['threshold']:g}")
                ax.legend(fontsize=8)
            ax.set_xlabel("Jaccard similarity threshold (MinHash estimate)")
            ax.set_ylabel("duplicate rate (%)")
            ax.set_title("Duplicate rate by threshold (stored signatures)")


def build_plots(stats: dict[str, Any]) -> dict[str, bytes]:
    """Every plot of the build page, by name."""
    out: dict[str, bytes] = {}
    funnel_plot(stats, out)
    rule_plots(stats, out)
    length_plots(stats, out)
    mix_plots(stats, out)
    linkrot_plot(stats, out)
    dedup_plots(stats, out)
    return out


def ablation_plots(results: dict[str, Any]) -> dict[str, bytes]:
    """The loss curves of every variant and seed (results.json `curves`)."""
    out: dict[str, bytes] = {}
    curves = results.get("curves") or {}
    if not any(pts for by_seed in curves.values() for pts in by_seed.values()):
        return out
    with _figure(out, "loss-curves", (6.4, 3.4)) as ax:
        for i, (variant, by_seed) in enumerate(curves.items()):
            for j, (seed, pts) in enumerate(sorted(by_seed.items())):
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(xs, ys, color=f"C{i}", alpha=0.9 if j == 0 else 0.5,
                            label=f"{variant} (seed {seed})")
        ax.set_xlabel("tokens seen")
        ax.set_ylabel("validation loss (nats/token)")
        ax.set_title("Same model, same budget, different data")
        ax.legend(fontsize=8)
    return out
