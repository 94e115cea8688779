"""The one place where the flows call the stages: plain functions, no Prefect.

Each function takes a `BuildLayout` and the resolved config, skips work that is already done
(the stages keep completion markers), and returns a small stats dict; `resume_lines` says what
a re-run skipped or redid, for the flow's log. The Prefect tasks in `build.py` and `ablate.py`
wrap these, so they can also be called directly.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from webtext.config import WebtextConfig, to_toml
from webtext.io import read_json
from webtext.layout import BuildLayout, package_versions, resume_note


def config_from_toml(text: str) -> WebtextConfig:
    return WebtextConfig.model_validate(tomllib.loads(text))


def _same_config(path: Path, section: Any) -> bool:
    """Did the finished stage run with this section of the config?"""
    if not path.exists():
        return False
    done = tomllib.loads(path.read_text(encoding="utf-8"))
    return done == tomllib.loads(to_toml(section))


def source(layout: BuildLayout, config: WebtextConfig) -> dict[str, Any]:
    from webtext.crawl.source_cli import run_source_stage

    marker = layout.root / "configs" / "source.section.toml"
    if layout.urls.exists() and layout.stats("source").exists() and _same_config(
            marker, config.source):
        return {"skipped": True, **read_json(layout.stats("source"))}
    stats = run_source_stage(layout, config, config.source.dumps)
    from webtext.io import write_bytes

    write_bytes(marker, to_toml(config.source).encode())
    return stats


def crawl_plan(layout: BuildLayout, config: WebtextConfig) -> int:
    """Cut urls.parquet into crawl shards (once per build); the number of shards."""
    from webtext.crawl.stage import plan_shards

    return plan_shards(layout, config.crawl.shards)


def crawl_shard(layout: BuildLayout, config: WebtextConfig, shard: int,
                archives: list[Path] | None = None) -> dict[str, Any]:
    """Crawl one shard in its own subprocess; a finished shard returns at once."""
    from webtext.crawl.stage import crawl_shard as run

    return run(layout, config.crawl, shard, archives=archives or None)


def crawl_finish(layout: BuildLayout, config: WebtextConfig) -> dict[str, Any]:
    """fetch.parquet, linkrot.json and the crawl stats from the finished shards."""
    from webtext.config import write_resolved
    from webtext.crawl.shardstore import done_marker
    from webtext.crawl.stage import finalize

    markers = list(layout.crawl_dir.glob("*/" + done_marker(layout, 0).name))
    if layout.fetch.exists() and layout.stats("crawl").exists() and markers and all(
            m.stat().st_mtime_ns <= layout.fetch.stat().st_mtime_ns for m in markers):
        return {"skipped": True, **read_json(layout.stats("crawl"))}
    stats = finalize(layout, config.crawl)
    write_resolved(config, layout.config("crawl"))
    return stats


def clean_jobs(layout: BuildLayout, config: WebtextConfig) -> list[str]:
    """Names of the docs/ shards still to clean (finished ones are left out)."""
    return clean_plan(layout, config)[0]


def clean_plan(layout: BuildLayout, config: WebtextConfig) -> tuple[list[str], dict[str, Any]]:
    """`clean_jobs` and the stage's `resume` (finished shards skipped, shards redone and why)."""
    from webtext.clean.stage import plan_resume

    jobs, resume = plan_resume(layout, config.clean)
    return [job.name for job in jobs], resume


_REDO = {
    "clean": ("shard", "delete {dir} or change the config/version to redo them"),
    "dedup": ("signature shard", "delete {dir} or change the config/version to redo them"),
}


def resume_lines(stage: str, layout: BuildLayout, resume: dict[str, Any] | None) -> list[str]:
    """What a stage skipped or redid on this run, in words (empty when it did all the work)."""
    unit, redo = _REDO[stage]
    folder = {"clean": layout.docs_dir, "dedup": layout.dedup_dir}[stage]
    return [f"{stage}: {line}" for line in resume_note(resume or {}, unit,
                                                       redo.format(dir=folder))]


def clean_shard(layout: BuildLayout, config: WebtextConfig, name: str) -> dict[str, Any]:
    import multiprocessing

    from webtext.clean.stage import clean_shard as run
    from webtext.errors import UsageError

    if multiprocessing.current_process().daemon:
        raise UsageError(
            "the clean stage runs extraction in a watched child process, which a daemonic "
            "process cannot start: start Dask workers with `--no-nanny`, or set "
            "`distributed.worker.daemon: false` in the Dask config")

    return run(layout, config.clean, name)


def clean_finish(layout: BuildLayout, config: WebtextConfig) -> dict[str, Any]:
    from webtext.clean.stage import write_stats
    from webtext.config import write_resolved

    stats = write_stats(layout, config.clean)
    write_resolved(config, layout.config("clean"))
    return stats


def _newer_than_inputs(output: Path, inputs: list[Path]) -> bool:
    return output.exists() and all(
        p.stat().st_mtime_ns <= output.stat().st_mtime_ns for p in inputs)


def dedup(layout: BuildLayout, config: WebtextConfig, previous: list[Path]) -> dict[str, Any]:
    """Dedup the build; skipped when dedup.parquet is newer than every docs shard and the
    dedup config and the earlier builds are those it was made with."""
    from webtext.dedup.stage import OUTPUT_PACKAGES, dedup_build
    from webtext.io import write_json

    marker = layout.root / "configs" / "dedup.inputs.json"
    inputs = {"dedup": config.dedup.model_dump(mode="json"),
              "previous": sorted(str(Path(p).resolve()) for p in previous),
              "versions": package_versions(OUTPUT_PACKAGES)}
    docs = layout.docs_shards() + sorted(layout.docs_markers.glob("*.json"))
    if (_newer_than_inputs(layout.dedup, docs) and marker.exists()
            and read_json(marker) == inputs and layout.stats("dedup").exists()):
        stats = read_json(layout.stats("dedup"))
        return {**stats, "skipped": True,
                "resume": {"skipped": stats.get("docs_shards", 0), "redone": {}}}
    stats = dedup_build(layout, config, previous=list(previous))
    write_json(marker, inputs)
    return stats


def tokenize(layout: BuildLayout, config: WebtextConfig, recipe: str) -> Path:
    from webtext.tokenize.stage import tokenize_build

    return tokenize_build(layout, config, recipe)
