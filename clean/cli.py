"""`webtext clean BUILD_DIR` and `webtext inspect BUILD_DIR --reason CODE`.

clean:   reads warc/ + fetch.parquet (+ urls.parquet for karma); writes docs/*.parquet, a done
         marker per shard, clean_stats.json and configs/clean.toml; shows a progress bar and a
         one-line summary. Re-running skips finished shards.
inspect: without --reason, prints the documents per reason code; with --reason CODE, a sample
         of documents failing that rule, with URL, the signal values and the threshold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.errors import UsageError


def add_arguments_clean(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="build directory (with fetch.parquet)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: clean.workers)")


def run_clean(args: argparse.Namespace, config) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from webtext.clean.stage import clean_build
    from webtext.config import write_resolved
    from webtext.layout import BuildLayout

    layout = BuildLayout(args.build_dir)
    if not layout.root.is_dir():
        raise UsageError(f"build directory not found: {layout.root}")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    write_resolved(config, layout.config("clean"))
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task("clean", total=None)
        stats = clean_build(layout, config.clean, workers=args.workers,
                            on_progress=lambda done, total: progress.update(
                                task, completed=done, total=total))
    top = ", ".join(f"{code} {n}" for code, n in list(stats["reasons"].items())[:5])
    print(f"clean: {stats['docs']} documents from {stats['fetched']} fetched pages in "
          f"{len(stats['shards'])} shards; {stats['passed']} pass every rule"
          + (f"; most failed: {top}" if top else "")
          + f". Stats: {layout.stats('clean')}")
    return 0 if stats["complete"] else 1


def add_arguments_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="build directory (with docs/)")
    parser.add_argument("--reason", help="a reason code; omit to list the codes with counts")
    parser.add_argument("--n", type=int, default=5, help="documents to show (default 5)")


def run_inspect(args: argparse.Namespace, config) -> int:
    from webtext.clean import report
    from webtext.clean.reasons import Reason
    from webtext.layout import BuildLayout

    layout = BuildLayout(args.build_dir)
    if not report.shard_files(layout.docs_dir):
        raise UsageError(f"no finished docs/ shards in {layout.root}: run `webtext clean` first")
    if args.reason is None:
        total, counts = report.reason_counts(layout.docs_dir)
        print(f"{total} documents; failing each rule:")
        for code in Reason:
            if counts[code]:
                print(f"  {code:<28} {counts[code]:>8}  ({counts[code] / total:.1%})")
        return 0
    try:
        reason = Reason(args.reason)
    except ValueError:
        raise UsageError(f"unknown reason code {args.reason!r}; known: "
                         + ", ".join(r.value for r in Reason)) from None
    rows = report.sample(layout.docs_dir, reason, args.n)
    if not rows:
        print(f"no document fails {reason}")
        return 0
    print(report.format_sample(rows, reason, config.clean))
    return 0
