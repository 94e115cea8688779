"""The statistics flow: compute a build's stats, write stats.json and report.html, publish them.

In:  a build directory.
Out: `stats.json`, `report.html` (plots embedded) in the build directory, and Prefect artifacts
     (the funnel as a table, the report as markdown) when run as a flow.
"""

from __future__ import annotations

import base64
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from webtext.flows.corpusstats import compute_stats
from webtext.flows.report import funnel_rows, html_report, plots
from webtext.io import write_bytes, write_json
from webtext.layout import BuildLayout


def write_stats(layout: BuildLayout) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Compute the stats and write stats.json and report.html (no Prefect needed)."""
    stats = compute_stats(layout)
    images = plots(stats)
    write_json(layout.stats_json, stats)
    write_bytes(layout.report_html, html_report(stats, images).encode("utf-8"))
    return stats, images


def _artifact_key(layout: BuildLayout, what: str) -> str:
    name = "".join(c if c.isalnum() else "-" for c in layout.root.name.lower()).strip("-")
    return f"{what}-{name or 'build'}"[:60]


@task(name="publish-stats")
def publish_stats(layout_root: str, stats: dict[str, Any], images: dict[str, bytes]) -> None:
    layout = BuildLayout(layout_root)
    create_table_artifact(
        key=_artifact_key(layout, "funnel"),
        table=[{"step": a, "count": b, "note": c} for a, b, c in funnel_rows(stats)],
        description=f"webtext funnel of {layout.root}",
    )
    md = ["# webtext build statistics", f"build: `{layout.root}`", ""]
    md += [f"- report: `{layout.report_html}`", f"- stats: `{layout.stats_json}`", ""]
    for name, png in images.items():
        md.append(f"### {name}\n![{name}](data:image/png;base64,{base64.b64encode(png).decode()})")
    create_markdown_artifact(key=_artifact_key(layout, "report"), markdown="\n".join(md),
                             description="webtext corpus statistics")


@flow(name="webtext-stats")
def stats_flow(build_dir: str) -> dict[str, Any]:
    layout = BuildLayout(build_dir)
    stats, images = write_stats(layout)
    publish_stats(build_dir, stats, images)
    return stats
