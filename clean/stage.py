"""The clean stage over a build: WARC shards in, docs/*.parquet out, with per-reason counts.

In:  a build's fetch.parquet (webtext.records.FETCH_SCHEMA), urls.parquet (URLS_SCHEMA) and
     the WARC files they point to.
Out: docs/<shard>.parquet + docs/.done/<shard>.json per WARC file (clean/docs.py), and
     clean_stats.json: the counts per reason and language, added up over the shards, and
     `resume` (finished shards skipped, and shards redone with the reason).
     Every row of fetch.parquet with status "fetched" becomes exactly one document; the stats
     check it (`fetched == docs`).

The stage (docs/design.md, "Stages"):
  run(layout, config, progress)       -> every unfinished shard, then the stats dict
and its shard-level API, which the build flow fans out as Prefect tasks (no Prefect here):
  plan_resume(layout, config)         -> the shard jobs, finished ones left out, and `resume`
  clean_shard(layout, config, name)   -> one shard on one worker process (a finished shard
                                         returns its marker at once)
  write_stats(layout, config)         -> clean_stats.json from the done markers
A finished shard is skipped on a re-run if its marker was written with the same rules (the
config digest in the marker) and the same versions of webtext and of the libraries that decide
the text (OUTPUT_PACKAGES); otherwise it is cleaned again, and the stats say why.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pyarrow.parquet as pq

from webtext.clean.config import CleanConfig
from webtext.clean.docs import PageRef, has_legacy_marker, read_marker
from webtext.clean.page import ExtractFn
from webtext.clean.shard import ShardJob
from webtext.errors import UsageError
from webtext.io import clean_stale_tmp, write_json
from webtext.layout import BuildLayout, package_versions, version_change
from webtext.records import PAGE_STATUSES
from webtext.stage import Progress, ProgressFn, report

NO_WARC_SHARD = "no-warc"  # fetched pages without a WARC record, each gets warc_error
# The packages whose code decides a docs row: webtext itself (rules, decoding), trafilatura and
# htmldate (main text, title, date), py3langid (its bundled language model), charset-normalizer
# (the decoding fallback). A shard written under other versions is cleaned again.
OUTPUT_PACKAGES = ("webtext", "trafilatura", "htmldate", "py3langid", "charset-normalizer")


def output_versions() -> dict[str, str]:
    return package_versions(OUTPUT_PACKAGES)


def stale_reason(out: Path, marker: dict[str, Any] | None, digest: str,
                 versions: dict[str, str]) -> str | None:
    """Why a finished shard must be cleaned again (None: it is still valid, or not finished)."""
    if marker is None:
        return ("marker from an older webtext (<shard>.done.json beside the shard)"
                if has_legacy_marker(out) else None)
    if marker.get("config") != digest:
        return "cleaned with other clean rules (config changed)"
    return version_change(marker.get("versions"), versions)


def config_digest(config: CleanConfig) -> str:
    """Digest of everything that changes the output (not the number of workers)."""
    data = config.model_dump(mode="json", exclude={"workers"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def shard_name(warc_file: str | None) -> str:
    """docs/ name of a WARC file: warc/00000.warc.gz -> 00000 (sub-folders joined by '__')."""
    if not warc_file:
        return NO_WARC_SHARD
    path = PurePosixPath(warc_file)
    if path.parts and path.parts[0] == "warc":
        path = PurePosixPath(*path.parts[1:])
    name = "__".join(path.parts)
    for suffix in (".gz", ".warc"):
        name = name.removesuffix(suffix)
    return name


def read_pages(layout: BuildLayout) -> dict[str | None, list[PageRef]]:
    """Fetched pages grouped by WARC file, in offset order, with their URL's karma."""
    if not layout.fetch.is_file():
        raise UsageError(f"{layout.fetch} not found: run `webtext crawl` first")
    fetch = pq.read_table(layout.fetch, columns=[
        "url", "final_url", "status", "content_type", "fetched_at", "warc_file", "warc_offset",
    ]).to_pylist()
    karma: dict[str, tuple[str | None, int | None, int | None]] = {}
    if layout.urls.is_file():
        urls = pq.read_table(layout.urls, columns=["url", "domain", "karma", "karma_sum"])
        for row in urls.to_pylist():
            karma[row["url"]] = (row["domain"], row["karma"], row["karma_sum"])
    groups: dict[str | None, list[PageRef]] = {}
    for row in fetch:
        if row["status"] not in PAGE_STATUSES:  # fetched live, or recovered from an archive
            continue
        domain, k, k_sum = karma.get(row["url"], (None, None, None))
        groups.setdefault(row["warc_file"], []).append(PageRef(
            url=row["url"], final_url=row["final_url"],
            domain=domain or urlsplit(row["url"]).hostname, karma=k, karma_sum=k_sum,
            content_type=row["content_type"], fetched_at=row["fetched_at"],
            warc_file=row["warc_file"], warc_offset=row["warc_offset"],
        ))
    for refs in groups.values():
        refs.sort(key=lambda r: (r.warc_offset is None, r.warc_offset or 0, r.url))
    return groups


def plan_resume(layout: BuildLayout, config: CleanConfig, include_finished: bool = False
                ) -> tuple[list[ShardJob], dict[str, Any]]:
    """One job per WARC file, finished shards still valid left out (unless `include_finished`),
    and `resume`: {"skipped": finished shards left out, "redone": {reason: shards}}."""
    digest = config_digest(config)
    versions = output_versions()
    jobs = []
    skipped = 0
    redone: Counter[str] = Counter()
    for warc_file, refs in sorted(read_pages(layout).items(), key=lambda kv: kv[0] or ""):
        name = shard_name(warc_file)
        out = layout.docs_dir / f"{name}.parquet"
        marker = read_marker(out)
        stale = stale_reason(out, marker, digest, versions)
        if marker is not None and stale is None and not include_finished:
            skipped += 1
            continue
        if stale is not None:
            redone[stale] += 1
        jobs.append(ShardJob(
            name=name, warc_path=str(layout.root / warc_file) if warc_file else None,
            out_path=str(out), refs=refs,
            marker={"warc_file": warc_file, "config": digest, "versions": versions},
        ))
    if len({job.name for job in jobs}) != len(jobs):
        raise UsageError("two WARC files map to one docs/ shard name; rename one of them")
    return jobs, {"skipped": skipped, "redone": dict(redone.most_common())}


def plan(layout: BuildLayout, config: CleanConfig,
         include_finished: bool = False) -> list[ShardJob]:
    """One job per WARC file; finished shards (same config digest and versions) are left out."""
    return plan_resume(layout, config, include_finished)[0]


def write_stats(layout: BuildLayout, config: CleanConfig,
                last_run: dict[str, Any] | None = None,
                resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add up the done markers of every shard into clean_stats.json.

    `last_run` (timings of the run that just finished) and `resume` (what it skipped or redid,
    from `plan_resume`) are recorded beside the counts.
    """
    pages = read_pages(layout)
    fetched = sum(len(refs) for refs in pages.values())
    reasons: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    shards = []
    for warc_file in sorted(pages, key=lambda w: w or ""):
        marker = read_marker(layout.docs_dir / f"{shard_name(warc_file)}.parquet")
        if marker is None:
            continue
        shards.append(marker["shard"])
        reasons.update(marker["reasons"])
        langs.update(marker["langs"])
        for key in ("docs", "passed", "with_text"):
            totals[key] += marker[key]
    stats = {
        "fetched": fetched,
        "docs": totals["docs"],
        "passed": totals["passed"],
        "with_text": totals["with_text"],
        "complete": totals["docs"] == fetched,  # every fetched page is one document
        "shards": shards,
        "reasons": dict(reasons.most_common()),
        "langs": dict(langs.most_common()),
        "config": config_digest(config),
        "last_run": last_run,
        "resume": resume,
    }
    write_json(layout.stats("clean"), stats)
    return stats


def clean_shard(layout: BuildLayout, config: CleanConfig, name: str, force: bool = False,
                extract: ExtractFn | None = None) -> dict[str, Any]:
    """Clean one shard (by docs/ name) on one worker process; returns its done marker.

    A shard already finished with the same rules is not cleaned again unless `force`.
    """
    import multiprocessing

    from webtext.clean.workers import run_jobs

    if multiprocessing.current_process().daemon:
        raise UsageError(
            "the clean stage runs extraction in a watched child process, which a daemonic "
            "process cannot start: start Dask workers with `--no-nanny`, or set "
            "`distributed.worker.daemon: false` in the Dask config")
    jobs = [job for job in plan(layout, config, include_finished=True) if job.name == name]
    if not jobs:
        raise UsageError(f"no WARC shard named {name!r} in {layout.fetch}")
    out = layout.docs_dir / f"{name}.parquet"
    marker = read_marker(out)
    if not force and marker is not None and stale_reason(
            out, marker, config_digest(config), output_versions()) is None:
        return marker
    return run_jobs(jobs, config, workers=1, extract=extract)[0]


def run(layout: BuildLayout, config: CleanConfig, progress: ProgressFn | None = None, *,
        workers: int | None = None, extract: ExtractFn | None = None) -> dict[str, Any]:
    """Clean every unfinished shard of the build, then write and return the stats.

    `progress` gets a "clean" event with the pages done so far out of those to do;
    `workers` (default `config.workers`) and `extract` (the extractor; tests pass a scripted
    one) do not change the output.
    """
    from webtext.clean.workers import run_jobs

    clean_stale_tmp(layout.docs_dir)
    clean_stale_tmp(layout.docs_markers)
    jobs, resume = plan_resume(layout, config)
    total = sum(len(job.refs) for job in jobs)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        report(progress, Progress("clean", done, total))

    report(progress, Progress("clean", 0, total))
    start = time.perf_counter()
    results = run_jobs(jobs, config, workers=workers or config.workers, extract=extract,
                       on_progress=advance)
    run = {
        "shards": len(jobs),
        "pages": total,
        "workers": workers or config.workers,
        "wall_seconds": round(time.perf_counter() - start, 3),
        "worker_cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 3),
    }
    return write_stats(layout, config, last_run=run, resume=resume)
