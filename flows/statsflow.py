"""The statistics flow: compute a build's stats, write stats.json and the pages, publish them.

In:  a build directory, and optionally another build to compare it with (`against`).
Out: `stats.json` and `report.html` (the build page, plots inline) in the build directory,
     `ablations/<name>/report.html` for every ablation with a results.json (linked both
     ways), and, when run as a flow, Prefect artifacts carrying the terminal's tables (funnel,
     rules, domains, token sets, changes) as table artifacts and the headline as markdown.
     `snapshot_stats(build_dir, previous)` is the same for a scheduled snapshot, compared with
     the snapshot before it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from webtext.errors import UsageError
from webtext.flows.corpusstats import compute_stats, resolved_config
from webtext.flows.diff import diff_stats
from webtext.flows.page import ablation_page, build_page
from webtext.flows.pageplots import ablation_plots, build_plots
from webtext.flows.report import artifact_tables
from webtext.io import read_json, write_bytes, write_json
from webtext.layout import BuildLayout


def stats_of(other: Path) -> dict[str, Any]:
    """The stats of another build: its stats.json when there is one, else computed now (and
    not written: that build is only read)."""
    layout = BuildLayout(other)
    if layout.stats_json.is_file():
        return read_json(layout.stats_json)
    if not (layout.stats("source").exists() or layout.urls.exists()):
        raise UsageError(f"--against {layout.root}: not a build directory "
                         "(no source_stats.json or urls.parquet)")
    return compute_stats(layout)


def write_ablation_pages(layout: BuildLayout) -> list[Path]:
    """ablations/<name>/report.html for every ablation of the build with a results.json."""
    pages = []
    for results_file in sorted((layout.root / "ablations").glob("*/results.json")):
        results = read_json(results_file)
        html = ablation_page(results_file.parent.name, results, ablation_plots(results))
        out = results_file.parent / "report.html"
        write_bytes(out, html.encode("utf-8"))
        pages.append(out)
    return pages


def write_stats(layout: BuildLayout, against: Path | None = None
                ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Compute the stats (and the changes against another build) and write stats.json, the
    build page and the ablation pages (no Prefect needed)."""
    before = stats_of(against) if against is not None else None
    stats = compute_stats(layout)
    if before is not None:
        stats["diff"] = diff_stats(stats, before, str(against))
    images = build_plots(stats)
    config_file, _ = resolved_config(layout)
    config_text = config_file.read_text(encoding="utf-8") if config_file else None
    write_json(layout.stats_json, stats)
    write_ablation_pages(layout)
    write_bytes(layout.report_html, build_page(stats, images, config_text).encode("utf-8"))
    return stats, images


def snapshot_stats(build_dir: Path, previous: list[Path]) -> dict[str, Any]:
    """Stats and page of a scheduled snapshot, compared with the latest earlier snapshot."""
    stats, _ = write_stats(BuildLayout(build_dir), previous[-1] if previous else None)
    return stats


def _artifact_key(layout: BuildLayout, what: str) -> str:
    name = "".join(c if c.isalnum() else "-" for c in layout.root.name.lower()).strip("-")
    return f"{what}-{name or 'build'}"[:60]


HEADLINE_PLOTS = ("funnel", "doc-words", "domains", "dedup-thresholds")


@task(name="publish-stats")
def publish_stats(layout_root: str, stats: dict[str, Any], images: dict[str, bytes]) -> None:
    """The terminal's tables as table artifacts, the headline and main plots as markdown."""
    layout = BuildLayout(layout_root)
    for name, (title, rows) in artifact_tables(stats).items():
        if rows:
            create_table_artifact(key=_artifact_key(layout, name), table=rows,
                                  description=f"webtext {title} of {layout.root}")
    md = ["# webtext build statistics", f"build: `{layout.root}`", ""]
    md += [f"- page: `{layout.report_html}`", f"- stats: `{layout.stats_json}`", ""]
    for name in HEADLINE_PLOTS:
        if name in images:
            data = base64.b64encode(images[name]).decode()
            md.append(f"### {name}\n![{name}](data:image/png;base64,{data})")
    create_markdown_artifact(key=_artifact_key(layout, "report"), markdown="\n".join(md),
                             description="webtext corpus statistics")


@flow(name="webtext-stats")
def stats_flow(build_dir: str, against: str | None = None) -> dict[str, Any]:
    layout = BuildLayout(build_dir)
    stats, images = write_stats(layout, Path(against) if against else None)
    publish_stats(build_dir, stats, images)
    return stats
