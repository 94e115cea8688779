"""`webtext source`: the runner around the source stage (files, progress, funnel table).

Reads dump files and listings, writes `urls.parquet`, `source_stats.json`, a log of every
rejected line with file and line number (`logs/source_rejects.tsv`) and the resolved config.
A run that cannot read a dump to its end, or (unless `source.allow_empty`) reads no submission
or keeps no URL, is an error (exit 2) that leaves the outputs of the last good run in place.
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


class SourceFailed(UsageError):
    """The run read its input but must not replace the build's outputs (see
    `run_source_stage`); `stats` is what it counted, for the funnel table."""

    def __init__(self, message: str, stats: dict[str, Any]):
        super().__init__(message)
        self.stats = stats


def _names(files: list[str], most: int = 3) -> str:
    shown = ", ".join(files[:most])
    return shown + (f" and {len(files) - most} more" if len(files) > most else "")


def _check_paths(files: list[str]) -> None:
    """Fail before reading hours of dumps when one path is mistyped."""
    from webtext.crawl.dumps import SUFFIXES

    problems = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            problems.append(f"{f}: folder holds no dump file ({' '.join(SUFFIXES)})")
        elif not p.exists():
            problems.append(f"{f}: no such file")
    if problems:
        raise UsageError("; ".join(problems) + "; nothing was written")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n)


def _failure(stats: dict[str, Any], files: list[str], allow_empty: bool) -> str | None:
    """Why this run must not replace the build's outputs, or None when it may."""
    from webtext.crawl.source import NOT_A_SUBMISSION

    bad = stats["files"]["unreadable"]
    if bad:
        detail = "; ".join(f"{b['file']}: {b['error']} (after {b['records_before_error']:,} "
                           "records)" for b in bad)
        return f"could not read {len(bad)} of {len(files)} dump files to the end: {detail}"
    if allow_empty:
        return None
    hint = "(source.allow_empty = true accepts an empty result)"
    if stats["read"] == 0:
        return f"no submission read: the dump files are empty: {_names(files)} {hint}"
    if stats["valid"] == 0:
        not_submissions = {r.value: stats["dropped"][r.value] for r in NOT_A_SUBMISSION}
        return (f"no submission read: none of the {stats['read']:,} lines of "
                f"{_names(files)} is a Reddit submission ({_counts(not_submissions)}); "
                f"are these Pushshift dumps or Reddit API listings? {hint}")
    if stats["urls_kept"] == 0:
        return (f"no URL kept: all {stats['valid']:,} submissions were dropped "
                f"({_counts(stats['dropped'])}) {hint}")
    return None


def _warn_not_dumps(stats: dict[str, Any]) -> None:
    """A few bad lines are normal in the dumps; a file made mostly of them is likely no dump."""
    for file, n in stats["files"]["records"].items():
        if n["not_submissions"] * 2 > n["read"]:
            log.warning("%s: %d of %d lines are not Reddit submissions (not JSON, not UTF-8, "
                        "or not a submission object): is it a dump file?", file,
                        n["not_submissions"], n["read"])


def run_source_stage(
    layout: BuildLayout, config: WebtextConfig, dumps: list[str], progress: Any = None
) -> dict[str, Any]:
    """Run the source stage into `layout`; returns the stats that were written.

    Outputs (urls.parquet, source_stats.json, the reject log, configs/source.toml) are only
    replaced by a run that succeeds. A run fails with `SourceFailed`, leaving the previous
    ones in place, when a dump file cannot be read to its end (missing, corrupt, truncated),
    or, unless `source.allow_empty`, when it read no submission or kept no URL.
    """
    from webtext.crawl.dumps import FileError, RawRecord, expand, read_dumps
    from webtext.crawl.source import select_urls
    from webtext.io import atomic_path, write_json, write_parquet
    from webtext.records import URLS_SCHEMA, records_to_table

    files = expand(dumps)
    if not files:
        raise UsageError("no dump files given (use --dumps or source.dumps in the config)")
    _check_paths(files)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    reject_log = layout.logs / "source_rejects.tsv"
    started = time.perf_counter()
    # The reject log is renamed into place as the with-block ends; a failure raised inside it
    # removes the temporary file instead, so the log stays that of the last good run.
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
        stats = result.stats()
        stats["seconds"] = round(time.perf_counter() - started, 3)
        stats["karma_mode"] = config.source.karma_mode
        stats["min_karma"] = config.source.min_karma
        stats["reject_log"] = str(reject_log.relative_to(layout.root))
        _warn_not_dumps(stats)
        failure = _failure(stats, files, config.source.allow_empty)
        if failure is not None:
            raise SourceFailed(f"{failure}; nothing was written", stats)
    table = records_to_table(result.urls, URLS_SCHEMA)
    write_parquet(layout.urls, table)
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
    try:
        with console.status("reading dumps") as status:

            def progress(file: str, line: int) -> None:
                status.update(f"reading {Path(file).name}: line {line:,}")

            stats = run_source_stage(BuildLayout(args.out), config, dumps, progress)
    except SourceFailed as e:
        console.print(funnel_table(e.stats))  # what was read, to show why (the error follows)
        raise
    console.print(funnel_table(stats))
    total = stats["kept"] + sum(stats["dropped"].values())
    console.print(
        f"read {stats['read']:,} = kept {stats['kept']:,} + dropped "
        f"{sum(stats['dropped'].values()):,} ({'ok' if total == stats['read'] else 'MISMATCH'}); "
        f"{stats['urls_kept']:,} URLs -> {BuildLayout(args.out).urls} in {stats['seconds']} s"
    )
    return 0
