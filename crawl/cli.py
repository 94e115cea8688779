"""`webtext crawl BUILD_DIR`: fetch every URL of urls.parquet, with a progress bar.

In:  BUILD_DIR/urls.parquet, the [crawl] config, optional --shards / --processes / --archive /
     --archive-lookup (link-rot recovery from Common Crawl and the Wayback Machine).
Out: BUILD_DIR/warc/*.warc.gz, fetch.parquet, linkrot.json, crawl_stats.json (stage.py), and a
     one-line summary with the count per status. Interrupting (Ctrl-C) stops every shard
     cleanly; running the same command again resumes where it stopped.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("webtext.crawl")


def add_arguments_crawl(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="build directory holding urls.parquet")
    parser.add_argument("--shards", type=int, default=None,
                        help="split the URLs into N shards, one crawl process each (default: "
                             "the build's existing plan, else crawl.shards)")
    parser.add_argument("--processes", type=int, default=None,
                        help="shard processes at once (default crawl.processes; 0 = as many "
                             "as CPUs)")
    parser.add_argument("--archive", type=Path, nargs="+", default=None, metavar="WARC",
                        help="take pages from these WARC files instead of the live web "
                             "(URLs not in them: archive_missing, or fetched live with "
                             "crawl.archive_fallback_live=true)")
    parser.add_argument("--archive-lookup", choices=["off", "dead", "first"], default=None,
                        help="look URLs up in the web archives (Common Crawl, Wayback "
                             "Machine): 'dead' only when the live fetch ended dead, 'first' "
                             "before any live request (default crawl.archive_lookup)")


def run_crawl(args: argparse.Namespace, config: Any) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from webtext.config import write_resolved
    from webtext.crawl.stage import CrawlIncomplete, archive_warning, crawl_build
    from webtext.errors import UsageError
    from webtext.layout import BuildLayout

    layout = BuildLayout(args.build_dir)
    if not layout.root.is_dir():
        raise UsageError(f"{layout.root}: no such build directory")
    if args.shards is not None and args.shards < 1:
        raise UsageError("--shards must be at least 1")
    crawl = config.crawl
    if args.archive_lookup is not None:
        crawl = crawl.model_copy(update={"archive_lookup": args.archive_lookup})
        config.crawl = crawl  # the resolved config written beside the outputs says so
    if crawl.address_guard == "public" and not crawl.contact and not args.archive:
        log.warning("crawl.contact is empty: set it to a URL or e-mail address so that site "
                    "operators can reach you (it goes into the User-Agent)")
    if crawl.address_guard == "loopback" and not crawl.loopback_proxy:
        log.info("loopback mode without crawl.loopback_proxy: only URLs naming a loopback "
                 "address and port can be fetched")

    with Progress(TextColumn("[bold]crawl[/]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]:>7.1f} pages/s  {task.fields[archived]} from "
                             "archives  {task.fields[errors]} without a page  shards "
                             "{task.fields[shards]}"),
                  TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("crawl", total=None, rate=0.0, archived=0, errors=0, shards="")

        def on_progress(p: dict[str, Any]) -> None:
            bar.update(task, total=p["total"], completed=p["done"], rate=p["rate"],
                       archived=p["archived"], errors=p["errors"],
                       shards=f"{p['shards_done']}/{p['shards']}")

        try:
            stats = crawl_build(layout, crawl, shards=args.shards, archives=args.archive,
                                on_progress=on_progress, processes=args.processes)
        except CrawlIncomplete as e:
            print(f"webtext crawl: {e} (logs: {layout.logs})")
            return 1
    write_resolved(config, layout.config("crawl"))
    counts = ", ".join(f"{n} {s}" for s, n in sorted(stats["status"].items(),
                                                     key=lambda kv: -kv[1]))
    skipped = stats.get("resume", {}).get("skipped", 0)
    if skipped:
        # A crawl shard is a fetch log: finished shards stay valid across versions and configs.
        print(f"crawl: {skipped} of {stats['resume']['shards']} shards done earlier, skipped "
              f"(delete {layout.crawl_dir} and {layout.warc_dir} to fetch them again)")
    print(f"crawl: {stats['urls']} URLs: {counts}; {stats['fetched_bytes']:,} bytes in "
          f"{len(stats['warc_files'])} WARC file(s) -> {layout.fetch}")
    warning = archive_warning(stats)
    if warning:
        log.warning("crawl: %s", warning)
    return 0
