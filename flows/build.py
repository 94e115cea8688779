"""The build flow: source -> crawl -> clean -> dedup -> tokenize, as Prefect tasks per shard.

In:  a resolved `WebtextConfig` (passed to tasks as TOML text, so it pickles and shows in the
     UI) and a build directory.
Out: the build's files (see `webtext.layout`) and a small summary dict.

The tasks are thin wrappers over the stage functions ("remove the decorators and the code still
works"): each one passes paths and small stats, never lists of documents. Every stage skips the
shards it has finished, so a re-run of a finished build does no work and an interrupted one
resumes. Only the network-facing crawl tasks retry. Shard work runs in worker processes by
default, or on a Dask cluster when given its address.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from webtext.config import WebtextConfig, to_toml
from webtext.flows import stages
from webtext.layout import BuildLayout


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run (plain function use)
        return logging.getLogger("webtext.flows")


@task(name="source")
def source_task(build_dir: str, config_toml: str) -> dict[str, Any]:
    return stages.source(BuildLayout(build_dir), stages.config_from_toml(config_toml))


@task(name="crawl-plan")
def crawl_plan_task(build_dir: str, config_toml: str) -> int:
    return stages.crawl_plan(BuildLayout(build_dir), stages.config_from_toml(config_toml))


# The only network-facing task, so the only one that retries (a shard resumes where it was).
@task(name="crawl-shard", retries=2, retry_delay_seconds=5)
def crawl_shard_task(build_dir: str, config_toml: str, shard: int,
                     archives: list[str]) -> dict[str, Any]:
    return stages.crawl_shard(BuildLayout(build_dir), stages.config_from_toml(config_toml),
                              shard, [Path(a) for a in archives])


@task(name="crawl-finish")
def crawl_finish_task(build_dir: str, config_toml: str) -> dict[str, Any]:
    return stages.crawl_finish(BuildLayout(build_dir), stages.config_from_toml(config_toml))


@task(name="clean-shard")
def clean_shard_task(build_dir: str, config_toml: str, shard: str) -> dict[str, Any]:
    return stages.clean_shard(BuildLayout(build_dir), stages.config_from_toml(config_toml),
                              shard)


@task(name="clean-finish")
def clean_finish_task(build_dir: str, config_toml: str) -> dict[str, Any]:
    return stages.clean_finish(BuildLayout(build_dir), stages.config_from_toml(config_toml))


@task(name="dedup")
def dedup_task(build_dir: str, config_toml: str, previous: list[str]) -> dict[str, Any]:
    return stages.dedup(BuildLayout(build_dir), stages.config_from_toml(config_toml),
                        [Path(p) for p in previous])


@task(name="tokenize")
def tokenize_task(build_dir: str, config_toml: str, recipe: str) -> str:
    return str(stages.tokenize(BuildLayout(build_dir), stages.config_from_toml(config_toml),
                               recipe))


@flow(name="webtext-build", log_prints=True)
def build_flow(build_dir: str, config_toml: str, previous: list[str] | None = None,
               archives: list[str] | None = None) -> dict[str, Any]:
    """Run (or resume) every stage of one build.

    `previous`: earlier snapshots' build dirs (dedup marks duplicates of their documents);
    `archives`: WARC files whose pages are taken instead of fetching those URLs again.
    """
    log = _logger()
    config = stages.config_from_toml(config_toml)
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
    jobs, resume = stages.clean_plan(layout, config)
    cleaned = [clean_shard_task.submit(build_dir, config_toml, name) for name in jobs]
    summary["clean_shards"] = [f.result() for f in cleaned]
    summary["clean"] = clean_finish_task(build_dir, config_toml) | {"resume": resume}
    log.info("clean: %s", _short(summary["clean"]))
    for line in stages.resume_lines("clean", layout, resume):
        log.info(line)
    summary["dedup"] = dedup_task(build_dir, config_toml, list(previous or []))
    log.info("dedup: %s", _short(summary["dedup"]))
    for line in stages.resume_lines("dedup", layout, summary["dedup"].get("resume")):
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
