"""The crawl stage: urls.parquet in; WARC files, fetch.parquet, linkrot.json and stats out.

In:  BUILD/urls.parquet (url, domain, first_created_utc, ...), a `CrawlConfig`, optionally
     WARC files to take pages from (archive mode).
Out: BUILD/warc/<shard>-<part>.warc.gz, BUILD/fetch.parquet (FETCH_SCHEMA, exactly one row per
     URL of urls.parquet, in its order), BUILD/linkrot.json, BUILD/crawl_stats.json and
     BUILD/configs/crawl.toml. Per-shard state lives in BUILD/crawl/<shard>/.

Flow: `plan_shards` cuts the URL list into shards by domain (plan.py) once per build;
`crawl_shard` runs one shard in a subprocess (runner.py) and streams its progress;
`crawl_build` runs every unfinished shard, a few processes at a time, then `finalize` joins the
shards' status logs into fetch.parquet. Re-running resumes: finished shards are skipped, and an
interrupted shard continues from its last committed URL (shardstore.py). The functions are
plain (no Prefect), so a flow can run one task per shard and `finalize` at the end.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w

from webtext.crawl.config import CrawlConfig
from webtext.crawl.linkrot import linkrot_report
from webtext.crawl.plan import split
from webtext.crawl.shardstore import done_marker, read_status, shard_dir, shard_name
from webtext.errors import UsageError
from webtext.io import file_sha256, read_json, write_bytes, write_json, write_parquet
from webtext.layout import BuildLayout
from webtext.records import FETCH_SCHEMA, FetchedPage, records_to_table
from webtext.stage import Progress as StageProgress
from webtext.stage import ProgressFn, report

Progress = Callable[[dict[str, Any]], None]
SHUTDOWN_GRACE_S = 15.0  # after SIGINT, how long a shard process may take to stop cleanly


class CrawlIncomplete(RuntimeError):
    """Some shard did not finish; re-running the crawl resumes it."""


def _plan_path(layout: BuildLayout) -> Path:
    return layout.crawl_dir / "plan.json"


def read_urls(layout: BuildLayout) -> pa.Table:
    if not layout.urls.exists():
        raise UsageError(f"{layout.urls} not found: run `webtext source {layout.root}` first")
    return pq.read_table(layout.urls, columns=["url", "domain", "first_created_utc"])


def plan_shards(layout: BuildLayout, shards: int | None = None) -> int:
    """Cut urls.parquet into shards (once per build); returns the number of shards.

    An existing plan is reused; asking for another shard count, or a changed urls.parquet,
    is an error rather than a silent re-crawl.
    """
    table = read_urls(layout)
    digest = file_sha256(layout.urls)
    plan_path = _plan_path(layout)
    if plan_path.exists():
        plan = read_json(plan_path)
        if plan["urls_sha256"] != digest:
            raise UsageError(
                f"{layout.urls} changed since this crawl was planned ({plan_path}); use a new "
                f"build directory, or delete {layout.crawl_dir}, {layout.warc_dir} and "
                f"{layout.fetch} to crawl again")
        if shards is not None and shards != plan["shards"]:
            raise UsageError(f"this build's crawl was planned with {plan['shards']} shards "
                             f"(--shards {shards} given); re-run with --shards {plan['shards']}")
        return int(plan["shards"])
    n = shards or 1
    rows = zip(table.column("url").to_pylist(), table.column("domain").to_pylist(), strict=True)
    parts = split(rows, n)
    for shard, urls in enumerate(parts):
        write_parquet(shard_dir(layout, shard) / "urls.parquet",
                      pa.table({"url": pa.array(urls, pa.string())}))
    write_json(plan_path, {"urls_sha256": digest, "shards": n, "urls": table.num_rows,
                           "urls_per_shard": [len(p) for p in parts]})
    return n


def shard_done(layout: BuildLayout, shard: int) -> bool:
    return done_marker(layout, shard).exists()


def shard_urls(layout: BuildLayout, shard: int) -> list[str]:
    path = shard_dir(layout, shard) / "urls.parquet"
    return pq.read_table(path, columns=["url"]).column("url").to_pylist()


# ---------------------------------------------------------------------- one shard
def start_shard(layout: BuildLayout, config: CrawlConfig, shard: int) -> subprocess.Popen:
    """Start the crawl subprocess of one shard; progress JSON lines come on its stdout."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if config.address_guard == "loopback":
        for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                    "ALL_PROXY"):
            env.pop(var, None)  # nothing but the loopback proxy may carry a request
    with open(layout.logs / f"crawl-{shard_name(shard)}.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webtext.crawl.runner", str(layout.root), "--shard",
             str(shard)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
            # Its own session: a terminal's Ctrl-C reaches only the parent, which then stops
            # each shard exactly once (a second SIGINT would make Scrapy stop uncleanly).
            start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(config.model_dump_json().encode("utf-8"))
    proc.stdin.close()
    return proc


def _pump(proc: subprocess.Popen, shard: int, out: queue.Queue) -> dict[str, Any]:
    last: dict[str, Any] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        last = message
        out.put((shard, message))
    code = proc.wait()
    last = dict(last) | {"exit_code": code}
    out.put((shard, {"event": "exit", "shard": shard, "exit_code": code}))
    return last


def crawl_shard(layout: BuildLayout, config: CrawlConfig, shard: int,
                on_progress: Progress | None = None,
                archives: list[Path] | None = None) -> dict[str, Any]:
    """Crawl one shard in a subprocess (blocking); returns its final message.

    A Prefect task per shard calls this (after `plan_shards`, and before `finalize`); raises
    CrawlIncomplete if the shard did not finish. With `archives`, pages are taken from those
    WARC files first (archive mode).
    """
    if archives and not shard_done(layout, shard):
        _archive_pass(layout, config, [shard], archives)
    if shard_done(layout, shard):
        return read_json(done_marker(layout, shard)) | {"complete": True, "skipped": True}
    q: queue.Queue = queue.Queue()
    proc = start_shard(layout, config, shard)
    thread = threading.Thread(target=_pump, args=(proc, shard, q), daemon=True)
    thread.start()
    final: dict[str, Any] = {}
    try:
        while thread.is_alive() or not q.empty():
            try:
                _, message = q.get(timeout=0.2)
            except queue.Empty:
                continue
            if message.get("event") in ("progress", "start", "finished") and on_progress:
                on_progress(message)
            if message.get("event") in ("finished", "locked"):
                final = message
    except BaseException:
        _stop([proc])
        raise
    _check_final(shard, final, proc.returncode)
    return final


def _check_final(shard: int, final: dict[str, Any], code: int | None) -> None:
    if final.get("event") == "locked":
        raise UsageError(f"shard {shard} is being crawled by another process")
    if not final.get("complete"):
        raise CrawlIncomplete(
            f"shard {shard} stopped before every URL had a status (exit code {code}, "
            f"{final.get('missing', '?')} URLs left, reason {final.get('reason', '?')}); "
            "re-run the crawl to resume it")


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGINT each running shard (clean stop, resumable), then SIGKILL stragglers."""
    running = [p for p in procs if p.poll() is None]
    for p in running:
        p.send_signal(signal.SIGINT)
    for p in running:
        try:
            p.wait(timeout=SHUTDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            p.kill()  # still resumable: the commit protocol survives SIGKILL
            p.wait()


# ---------------------------------------------------------------------- the build
def crawl_build(layout: BuildLayout, config: CrawlConfig, *, shards: int | None = None,
                archives: list[Path] | None = None, on_progress: Progress | None = None,
                processes: int | None = None) -> dict[str, Any]:
    """Crawl every unfinished shard of a build, then write its outputs; returns the stats.

    `on_progress` receives {"done", "total", "new", "archived", "errors", "rate", "bytes",
    "shards_done", "shards"} as the shard processes report ("archived": pages recovered from
    the web archives; "errors": URLs that ended without a page, live or archived).
    """
    layout = BuildLayout(layout.root)
    if shards is None and not _plan_path(layout).exists():
        shards = config.shards  # an existing plan keeps its own shard count
    n = plan_shards(layout, shards)
    pending = [s for s in range(n) if not shard_done(layout, s)]
    if archives:
        _archive_pass(layout, config, pending, archives)
        pending = [s for s in pending if not shard_done(layout, s)]

    totals = {s: len(shard_urls(layout, s)) for s in range(n)}
    latest: dict[int, dict[str, Any]] = {}

    def report() -> None:
        if on_progress is None:
            return
        agg = {"total": sum(totals.values()), "shards": n,
               "shards_done": sum(1 for s in range(n) if shard_done(layout, s))}
        for key in ("new", "archived", "errors", "bytes"):
            agg[key] = sum(m.get(key, 0) for m in latest.values())
        agg["rate"] = round(sum(m.get("rate", 0.0) for m in latest.values()), 2)
        agg["done"] = sum(latest[s].get("done", 0) if s in latest else
                          (totals[s] if shard_done(layout, s) else 0) for s in range(n))
        on_progress(agg)

    report()
    if pending:
        _run_parallel(layout, config, pending, processes or config.processes, latest, report)
    stats = finalize(layout, config)
    # What this run did not have to do, for the one-line summary ("N shards done earlier"),
    # and the requests the archive services failed in this run (a warning, not a failure).
    return stats | {"resume": {"skipped": n - len(pending), "shards": n},
                    **archive_errors(latest.values())}


def archive_errors(messages: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The archive requests that failed, over the shard processes' last messages:
    {"archive_errors": {archive: count}, "archive_error_example": {archive: first message}}."""
    failed: Counter[str] = Counter()
    example: dict[str, str] = {}
    for message in messages:
        failed.update(message.get("archive_errors") or {})
        for archive, text in (message.get("archive_error_example") or {}).items():
            example.setdefault(archive, text)
    return {"archive_errors": dict(failed), "archive_error_example": example}


def archive_warning(stats: dict[str, Any]) -> str | None:
    """One line when archive services failed requests in this run (their URLs ended without
    that archive's answer), naming each service, its count and its first failure."""
    from webtext.crawl.cdx import ARCHIVE_NAMES

    failed = stats.get("archive_errors") or {}
    if not failed:
        return None
    example = stats.get("archive_error_example") or {}
    parts = "; ".join(f"{ARCHIVE_NAMES.get(a, a)} {n}, first: {example.get(a, '?')}"
                      for a, n in sorted(failed.items()))
    return (f"{sum(failed.values())} archive request(s) failed ({parts}): those URLs ended "
            "without that archive's answer; check crawl.cc_collinfo_url, crawl.cc_data_url "
            "and crawl.wayback_url, or lower the services' rates, and re-run a new build")


def _run_parallel(layout: BuildLayout, config: CrawlConfig, pending: list[int],
                  processes: int, latest: dict[int, dict[str, Any]],
                  report: Callable[[], None]) -> None:
    workers = processes or min(len(pending), os.cpu_count() or 1)
    q: queue.Queue = queue.Queue()
    procs: dict[int, subprocess.Popen] = {}
    stopping = threading.Event()

    def run(shard: int) -> dict[str, Any]:
        if stopping.is_set():
            return {"shard": shard, "complete": False, "reason": "not started"}
        proc = start_shard(layout, config, shard)
        procs[shard] = proc
        return _pump(proc, shard, q)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {s: pool.submit(run, s) for s in pending}
        try:
            while not all(f.done() for f in futures.values()) or not q.empty():
                try:
                    shard, message = q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if message.get("event") in ("start", "progress", "finished"):
                    latest[shard] = message
                    report()
        except BaseException:
            stopping.set()
            _stop(list(procs.values()))
            raise
    for shard, future in futures.items():
        final = future.result()
        _check_final(shard, final, final.get("exit_code"))


def _archive_pass(layout: BuildLayout, config: CrawlConfig, pending: list[int],
                  archives: list[Path]) -> None:
    from webtext.crawl.archive import archive_shard, build_index
    from webtext.crawl.runner import warcinfo
    from webtext.crawl.shardstore import ShardStore

    missing = [str(p) for p in archives if not Path(p).is_file()]
    if missing:
        raise UsageError(f"archive WARC file(s) not found: {', '.join(missing)}")
    index = build_index(Path(p) for p in archives)
    for shard in pending:
        store = ShardStore(layout, shard, warc_max_bytes=config.warc_max_bytes,
                           gzip_level=config.warc_gzip_level,
                           fsync_interval=config.fsync_interval, warcinfo=warcinfo(config))
        store.recover()
        urls = shard_urls(layout, shard)
        try:
            archive_shard(store, urls, index, config)
        finally:
            store.close()
        if all(u in store.done for u in urls):
            store.mark_done({"shard": shard, "total": len(urls),
                             "status": dict(Counter(store.done.values()))})


# ---------------------------------------------------------------------- the stage's one shape
def run(layout: BuildLayout, config: CrawlConfig, progress: ProgressFn | None = None, *,
        archives: list[Path] | None = None) -> dict[str, Any]:
    """`crawl_build` in the shape of every stage (docs/design.md, "Stages"): the shard count
    and processes from `config`, a "crawl" `webtext.stage.Progress` event (URLs done out of
    all, the shard processes' counters in `extra`) as the shards report."""
    def on_progress(p: dict[str, Any]) -> None:
        report(progress, StageProgress("crawl", p["done"], p["total"], extra=p))

    return crawl_build(layout, config, archives=archives, on_progress=on_progress)


# ---------------------------------------------------------------------- outputs
def finalize(layout: BuildLayout, config: CrawlConfig) -> dict[str, Any]:
    """Join the shards' status logs into fetch.parquet, linkrot.json and the crawl stats.

    Skipped (the stats of the finished run, with `skipped`) when fetch.parquet and the stats
    are newer than every shard's done marker: no shard finished since they were written.
    """
    markers = list(layout.crawl_dir.glob("*/" + done_marker(layout, 0).name))
    if layout.fetch.exists() and layout.stats("crawl").exists() and markers and all(
            m.stat().st_mtime_ns <= layout.fetch.stat().st_mtime_ns for m in markers):
        return {"skipped": True, **read_json(layout.stats("crawl"))}
    plan = read_json(_plan_path(layout))
    n = int(plan["shards"])
    not_done = [s for s in range(n) if not shard_done(layout, s)]
    if not_done:
        raise CrawlIncomplete(f"shards {not_done} are not finished; re-run the crawl")
    pages: dict[str, FetchedPage] = {}
    for shard in range(n):
        rows, _ = read_status(shard_dir(layout, shard) / "status.jsonl")
        pages.update((page.url, page) for page, _ in rows)
    table = read_urls(layout)
    urls = table.column("url").to_pylist()
    lost = [u for u in urls if u not in pages]
    if lost:
        raise CrawlIncomplete(f"{len(lost)} URLs have no status, e.g. {lost[0]}")
    ordered = [pages[u] for u in urls]
    write_parquet(layout.fetch, records_to_table(ordered, FETCH_SCHEMA))
    report = linkrot_report(zip(
        (p.status for p in ordered), table.column("domain").to_pylist(),
        table.column("first_created_utc").to_pylist(), strict=True))
    write_json(layout.linkrot, report)
    warc_files = sorted(layout.warc_dir.glob("*.warc.gz"))
    stats = {
        "urls": len(ordered),
        "status": dict(sorted(Counter(p.status for p in ordered).items())),
        "http_status": {str(k): v for k, v in sorted(
            Counter(p.http_status for p in ordered if p.http_status is not None).items())},
        "fetched_bytes": sum(p.n_bytes for p in ordered if p.status == "fetched"),
        "shards": n,
        "warc_files": [p.relative_to(layout.root).as_posix() for p in warc_files],
        "warc_bytes": sum(p.stat().st_size for p in warc_files),
        "per_shard": [read_json(done_marker(layout, s)) for s in range(n)],
        "linkrot": {"fetched_share": report["fetched_share"]},
    }
    write_json(layout.stats("crawl"), stats)
    toml = tomli_w.dumps({"crawl": config.model_dump(mode="json", exclude_none=True)})
    write_bytes(layout.config("crawl"), toml.encode("utf-8"))
    return stats
