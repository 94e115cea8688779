"""The build flow: source -> crawl -> clean -> dedup -> tokenize, as Prefect tasks per shard.

In:  a resolved `WebtextConfig` (passed to tasks as TOML text, so it pickles and shows in the
     UI) and a build directory.
Out: the build's files (see `webtext.layout`) and a small summary dict.

The tasks wrap the stage functions directly ("remove the decorators and the code still
works"): each stage's `run(layout, its config table, progress)`, or for the shard-parallel
stages their shard-level functions (crawl: `plan_shards`, `crawl_shard`, `finalize`; clean:
`plan_resume`, `clean_shard`, `write_stats`). Tasks pass paths and small stats, never lists of
documents. Every stage owns its completion markers and skips what it has finished, so a re-run
of a finished build does no work and an interrupted one resumes. Only the network-facing crawl
tasks retry. Shard work runs in worker processes by default, or on a Dask cluster when given
its address.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from webtext.config import WebtextConfig, config_from_toml, to_toml, write_resolved
from webtext.layout import BuildLayout, resume_note


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run (plain function use)
        return logging.getLogger("webtext.flows")


@task(name="source")
def source_task(build_dir: str, config_toml: str) -> dict[str, Any]:
    from webtext.crawl import source

    config, layout = config_from_toml(config_toml), BuildLayout(build_dir)
    stats = source.run(layout, config.source)
    if not stats.get("skipped"):
        write_resolved(config, layout.config("source"))
    return stats


@task(name="crawl-plan")
def crawl_plan_task(build_dir: str, config_toml: str) -> int:
    """Cut urls.parquet into crawl shards (once per build); the number of shards."""
    from webtext.crawl.stage import plan_shards

    return plan_shards(BuildLayout(build_dir), config_from_toml(config_toml).crawl.shards)


# The only network-facing task, so the only one that retries (a shard resumes where it was).
@task(name="crawl-shard", retries=2, retry_delay_seconds=5)
def crawl_shard_task(build_dir: str, config_toml: str, shard: int,
                     archives: list[str]) -> dict[str, Any]:
    """Crawl one shard in its own subprocess; a finished shard returns at once."""
    from webtext.crawl.stage import crawl_shard

    return crawl_shard(BuildLayout(build_dir), config_from_toml(config_toml).crawl, shard,
                       archives=[Path(a) for a in archives] or None)


@task(name="crawl-finish")
def crawl_finish_task(build_dir: str, config_toml: str) -> dict[str, Any]:
    """fetch.parquet, linkrot.json and the crawl stats from the finished shards."""
    from webtext.crawl.stage import finalize

    config, layout = config_from_toml(config_toml), BuildLayout(build_dir)
    stats = finalize(layout, config.crawl)
    if not stats.get("skipped"):
        write_resolved(config, layout.config("crawl"))
    return stats


@task(name="clean-shard")
def clean_shard_task(build_dir: str, config_toml: str, shard: str) -> dict[str, Any]:
    from webtext.clean.stage import clean_shard

    return clean_shard(BuildLayout(build_dir), config_from_toml(config_toml).clean, shard)


@task(name="clean-finish")
def clean_finish_task(build_dir: str, config_toml: str) -> dict[str, Any]:
    from webtext.clean.stage import write_stats

    config, layout = config_from_toml(config_toml), BuildLayout(build_dir)
    stats = write_stats(layout, config.clean)
    write_resolved(config, layout.config("clean"))
    return stats


@task(name="dedup")
def dedup_task(build_dir: str, config_toml: str, previous: list[str]) -> dict[str, Any]:
    from webtext.dedup import stage

    return stage.run(BuildLayout(build_dir), config_from_toml(config_toml).dedup,
                     previous=[Path(p) for p in previous])


@task(name="tokenize")
def tokenize_task(build_dir: str, config_toml: str, recipe: str) -> str:
    """The tokens dir of one recipe."""
    from webtext.tokenize import stage

    config = config_from_toml(config_toml)
    return stage.run(BuildLayout(build_dir), config.tokenize, recipe=recipe,
                     recipes=config.recipes)["dir"]


# What a re-run finds done, per stage: the unit counted and how to redo it.
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


@flow(name="webtext-build", log_prints=True)
def build_flow(build_dir: str, config_toml: str, previous: list[str] | None = None,
               archives: list[str] | None = None) -> dict[str, Any]:
    """Run (or resume) every stage of one build.

    `previous`: earlier snapshots' build dirs (dedup marks duplicates of their documents);
    `archives`: WARC files whose pages are taken instead of fetching those URLs again.
    """
    from webtext.clean.stage import plan_resume
    from webtext.crawl.stage import archive_errors, archive_warning

    log = _logger()
    config = config_from_toml(config_toml)
    layout = BuildLayout(build_dir)
    summary: dict[str, Any] = {"build_dir": build_dir}
    summary["source"] = source_task(build_dir, config_toml)
    log.info("source: %s", _short(summary["source"]))
    n_shards = crawl_plan_task(build_dir, config_toml)
    crawl = [crawl_shard_task.submit(build_dir, config_toml, i, list(archives or []))
             for i in range(n_shards)]
    summary["crawl_shards"] = [f.result() for f in crawl]
    summary["crawl"] = crawl_finish_task(build_dir, config_toml)
    log.info("crawl: %s", _short(summary["crawl"]))
    warning = archive_warning(archive_errors(summary["crawl_shards"]))
    if warning:
        log.warning("crawl: %s", warning)
    jobs, resume = plan_resume(layout, config.clean)
    cleaned = [clean_shard_task.submit(build_dir, config_toml, job.name) for job in jobs]
    summary["clean_shards"] = [f.result() for f in cleaned]
    summary["clean"] = clean_finish_task(build_dir, config_toml) | {"resume": resume}
    log.info("clean: %s", _short(summary["clean"]))
    for line in resume_lines("clean", layout, resume):
        log.info(line)
    summary["dedup"] = dedup_task(build_dir, config_toml, list(previous or []))
    log.info("dedup: %s", _short(summary["dedup"]))
    for line in resume_lines("dedup", layout, summary["dedup"].get("resume")):
        log.info(line)
    summary["tokens"] = {
        recipe: tokenize_task(build_dir, config_toml, recipe) for recipe in config.build.recipes
    }
    return summary


def _short(stats: Any) -> str:
    if not isinstance(stats, dict):
        return str(stats)
    keys = [k for k, v in stats.items() if isinstance(v, (int, float, str, bool))][:8]
    return ", ".join(f"{k}={stats[k]}" for k in keys)


def run_build(config: WebtextConfig, build_dir: Path, dask_address: str | None = None,
              previous: list[Path] | None = None, archives: list[Path] | None = None
              ) -> dict[str, Any]:
    """Run the build flow with the configured task runner (worker processes, or Dask)."""
    from webtext.flows.runners import task_runner

    runner = task_runner(config, dask_address)
    flow_ = build_flow.with_options(task_runner=runner)
    return flow_(str(build_dir), to_toml(config), [str(p) for p in previous or []],
                 [str(a) for a in archives or []])
