"""The crawl subprocess: fetch the URLs of one shard, streaming progress as JSON lines.

    python -m webtext.crawl.runner BUILD_DIR --shard N [--config-json FILE]   (default: stdin)

In:  crawl/<shard>/urls.parquet (written by stage.plan_shards) and the resolved crawl config
     as JSON (stdin by default).
Out: the shard's status log and WARC files (shardstore.py), crawl/<shard>/done.json when every
     URL has a terminal status, and on stdout one JSON object per line:
       {"event": "start",    "shard", "total", "done"}
       {"event": "progress", "shard", "total", "done", "new", "archived", "errors", "rate",
        "bytes", "archive_errors": {archive: failed requests}, "archive_error_example":
        {archive: the first failure's message}}
       {"event": "finished", "shard", "total", "done", "new", "archived", "errors", "rate",
        "bytes", "archive_errors", "archive_error_example",
        "reason", "complete", "missing", "seconds", "max_rss_kb", "status"}
Exit status: 0 complete, 1 incomplete (the next run resumes), 3 the shard is locked by
another process. Scrapy's log goes to stderr.

Why a subprocess: Twisted's reactor cannot be restarted in one process and Scrapy does not run
in a thread (signals), so every crawl, including a re-run from Python, is a fresh process.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import resource
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import pyarrow.parquet as pq

from webtext.crawl.config import CrawlConfig
from webtext.crawl.shardstore import ShardStore, shard_dir
from webtext.crawl.warcfile import HttpCapture
from webtext.layout import BuildLayout
from webtext.records import FetchedPage, FetchStatus

EXIT_COMPLETE, EXIT_INCOMPLETE, EXIT_LOCKED = 0, 1, 3


def warcinfo(config: CrawlConfig) -> dict[str, str]:
    """The warcinfo record at the head of every WARC file: who crawled, and under which rules."""
    from webtext import __version__

    return {
        "software": f"webtext/{__version__} (Scrapy)",
        "format": "WARC File Format 1.0",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/"
                      "warc-1.0/",
        "http-header-user-agent": config.user_agent_string,
        "robots": "obey" if config.obey_robots else "ignore",
        "operator": config.contact,
        "description": "payloads stored decoded; original Content-Encoding/Content-Length "
                       "kept as X-Crawler-* headers (Common Crawl convention)",
    }


class ProgressSink:
    """Commits outcomes to the shard store and counts them for the progress messages."""

    def __init__(self, store: ShardStore, total: int, shard: int, out: TextIO):
        self.store = store
        self.total = total
        self.shard = shard
        self.out = out
        self.new = 0
        self.bytes = 0
        self.status: Counter[str] = Counter()
        self.archive_errors: Counter[str] = Counter()  # failed requests per archive service
        self.archive_error_example: dict[str, str] = {}  # the first message per archive
        self.started = time.monotonic()
        self.startup_cpu = _cpu_seconds()  # interpreter and imports, before any crawling

    def commit(self, page: FetchedPage, capture: HttpCapture | None,
               encoded: bytes | None = None) -> FetchedPage:
        self.store.commit(page, capture, encoded)
        self.new += 1
        self.bytes += page.n_bytes
        self.status[page.status] += 1
        return page

    def archive_error(self, archive: str, message: str) -> None:
        self.archive_errors[archive] += 1
        self.archive_error_example.setdefault(archive, message)

    def snapshot(self, event: str = "progress") -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        archived = (self.status[FetchStatus.ARCHIVED_CC.value]
                    + self.status[FetchStatus.ARCHIVED_IA.value])
        return {
            "event": event, "shard": self.shard, "total": self.total,
            "done": len(self.store.done), "new": self.new,
            "archived": archived,
            "errors": self.new - self.status[FetchStatus.FETCHED.value] - archived,
            "rate": round(self.new / seconds, 2) if seconds > 0 else 0.0,
            "bytes": self.bytes, "seconds": round(seconds, 3),
            "archive_errors": dict(self.archive_errors),
            "archive_error_example": dict(self.archive_error_example),
        }

    def emit(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def tick(self) -> None:
        self.emit(self.snapshot())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kb() -> int:
    """This process's own peak RSS. Linux's ru_maxrss survives exec, so a crawl started from
    a large parent would report the parent's size; VmHWM belongs to this program alone."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies, so no orphan keeps crawling (best effort)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def submission_times(layout: BuildLayout, config: CrawlConfig,
                     urls: list[str]) -> dict[str, int]:
    """url -> first_created_utc, which the archive lookups choose captures by (empty when
    archive_lookup is off, or the build has no urls.parquet)."""
    if config.archive_lookup == "off" or not layout.urls.exists():
        return {}
    wanted = set(urls)
    table = pq.read_table(layout.urls, columns=["url", "first_created_utc"])
    return {u: int(t or 0) for u, t in zip(table.column("url").to_pylist(),
                                            table.column("first_created_utc").to_pylist(),
                                            strict=True) if u in wanted}


def run_shard(layout: BuildLayout, shard: int, config: CrawlConfig, out: TextIO) -> int:
    """Crawl one shard in this process; returns the exit status (see the module docstring)."""
    directory = shard_dir(layout, shard)
    directory.mkdir(parents=True, exist_ok=True)
    lock = open(directory / "lock", "w")  # noqa: SIM115 - held for the process's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        out.write(json.dumps({"event": "locked", "shard": shard}) + "\n")
        out.flush()
        return EXIT_LOCKED
    urls = pq.read_table(directory / "urls.parquet", columns=["url"]).column("url").to_pylist()
    store = ShardStore(layout, shard, warc_max_bytes=config.warc_max_bytes,
                       gzip_level=config.warc_gzip_level, fsync_interval=config.fsync_interval,
                       warcinfo=warcinfo(config))
    store.recover()
    sink = ProgressSink(store, len(urls), shard, out)
    sink.emit({"event": "start", "shard": shard, "total": len(urls), "done": len(store.done)})
    todo = [u for u in urls if u not in store.done]
    reason = "finished"
    try:
        if todo:
            from webtext.crawl.fetcher import run_spider

            reason = run_spider(todo, sink, config, on_tick=sink.tick,
                                created=submission_times(layout, config, todo))
    finally:
        store.close()
    missing = sum(1 for u in urls if u not in store.done)
    complete = reason == "finished" and missing == 0
    final = sink.snapshot("finished") | {
        "reason": reason, "complete": complete, "missing": missing,
        "max_rss_kb": peak_rss_kb(),
        "cpu_seconds": round(_cpu_seconds(), 3),
        "startup_cpu_seconds": round(sink.startup_cpu, 3),
        "status": dict(Counter(store.done.values())),
    }
    if complete:
        store.mark_done({k: final[k] for k in ("shard", "total", "status", "max_rss_kb")})
    sink.emit(final)
    return EXIT_COMPLETE if complete else EXIT_INCOMPLETE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--config-json", default="-", help="crawl config as JSON ('-' = stdin)")
    args = parser.parse_args(argv)
    _die_with_parent()
    raw = sys.stdin.read() if args.config_json == "-" else Path(args.config_json).read_text()
    config = CrawlConfig.model_validate_json(raw)
    # The progress protocol owns the real stdout; anything else printing goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return run_shard(BuildLayout(args.build_dir), args.shard, config, out)


if __name__ == "__main__":
    sys.exit(main())
