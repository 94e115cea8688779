"""`webtext source`: the runner around the source stage (files, progress, funnel table).

Reads dump files and listings, writes `urls.parquet`, `source_stats.json`, a log of every
rejected line with file and line number (`logs/source_rejects.tsv`) and the resolved config.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from webtext.config import WebtextConfig, write_resolved
from webtext.errors import UsageError
from webtext.layout import BuildLayout

log = logging.getLogger("webtext.source")


def add_arguments_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dumps", nargs="+", default=None, metavar="PATH",
                   help="dump files, folders or globs (.zst .xz .gz .bz2 .jsonl .json); "
                   "default: source.dumps from the config")
    p.add_argument("--out", type=Path, required=True, help="build directory to write into")


def run_source_stage(
    layout: BuildLayout, config: WebtextConfig, dumps: list[str], progress: Any = None
) -> dict[str, Any]:
    """Run the source stage into `layout`; returns the stats that were written."""
    from webtext.crawl.dumps import FileError, RawRecord, expand, read_dumps
    from webtext.crawl.source import select_urls
    from webtext.io import atomic_path, write_json, write_parquet
    from webtext.records import URLS_SCHEMA, records_to_table

    files = expand(dumps)
    if not files:
        raise UsageError("no dump files given (use --dumps or source.dumps in the config)")
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    reject_log = layout.logs / "source_rejects.tsv"
    started = time.perf_counter()
    with atomic_path(reject_log) as tmp, open(tmp, "w", encoding="utf-8") as rejects:
        rejects.write("file\tline\treason\tdetail\n")
        shown = 0

        def on_reject(file: str, line: int, reason: Any, detail: str) -> None:
            nonlocal shown
            detail = detail.replace("\t", " ").replace("\n", " ")
            rejects.write(f"{file}\t{line}\t{reason.value}\t{detail}\n")
            if reason.value in ("malformed_json", "invalid_utf8", "wrong_type") and shown < 5:
                shown += 1
                log.warning("%s:%d: %s (%s)", file, line, reason.value, detail[:120])

        def stream() -> Iterator[RawRecord | FileError]:
            for rec in read_dumps(files):
                if isinstance(rec, FileError):
                    log.error("%s: unreadable after %d records: %s", rec.file,
                              rec.records_before_error, rec.error)
                elif progress is not None and rec.line % 10000 == 0:
                    progress(rec.file, rec.line)
                yield rec

        result = select_urls(stream(), config.source, on_reject)
    table = records_to_table(result.urls, URLS_SCHEMA)
    write_parquet(layout.urls, table)
    stats = result.stats()
    stats["seconds"] = round(time.perf_counter() - started, 3)
    stats["karma_mode"] = config.source.karma_mode
    stats["min_karma"] = config.source.min_karma
    stats["reject_log"] = str(reject_log.relative_to(layout.root))
    write_json(layout.stats("source"), stats)
    write_resolved(config, layout.config("source"))
    return stats


def funnel_table(stats: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title="source funnel", show_lines=False)
    t.add_column("step")
    t.add_column("count", justify="right")
    t.add_row("submissions read", f"{stats['read']:,}")
    for reason, n in sorted(stats["dropped"].items(), key=lambda kv: -kv[1]):
        if n:
            t.add_row(f"  dropped: {reason}", f"{n:,}")
    t.add_row("submissions kept", f"{stats['kept']:,}")
    t.add_row("unique URLs kept", f"{stats['urls_kept']:,}")
    bad = stats["files"]["unreadable"]
    if bad:
        t.add_row("[red]unreadable files[/red]", str(len(bad)))
    return t


def run_source(args: argparse.Namespace, config: WebtextConfig) -> int:
    from rich.console import Console

    console = Console(stderr=False)
    dumps = args.dumps or config.source.dumps
    if args.dumps:
        config.source.dumps = list(args.dumps)
    with console.status("reading dumps") as status:

        def progress(file: str, line: int) -> None:
            status.update(f"reading {Path(file).name}: line {line:,}")

        stats = run_source_stage(BuildLayout(args.out), config, dumps, progress)
    console.print(funnel_table(stats))
    total = stats["kept"] + sum(stats["dropped"].values())
    console.print(
        f"read {stats['read']:,} = kept {stats['kept']:,} + dropped "
        f"{sum(stats['dropped'].values()):,} ({'ok' if total == stats['read'] else 'MISMATCH'}); "
        f"{stats['urls_kept']:,} URLs -> {BuildLayout(args.out).urls} in {stats['seconds']} s"
    )
    for bad in stats["files"]["unreadable"]:
        console.print(f"[red]unreadable: {bad['file']}: {bad['error']}[/red]")
    return 1 if stats["files"]["unreadable"] else 0
