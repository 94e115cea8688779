"""`webtext clean BUILD_DIR` and `webtext inspect BUILD_DIR --reason CODE`.

clean:   reads warc/ + fetch.parquet (+ urls.parquet for karma); writes docs/*.parquet, a done
         marker per shard, clean_stats.json and configs/clean.toml; shows a progress bar and a
         one-line summary. Re-running skips finished shards.
inspect: without --reason, prints the documents per reason code (and per dedup code, with
         dedup.parquet); with --reason CODE, a sample of documents failing that rule, with URL,
         the signal values and the threshold, or for a dedup code (duplicate_near, ...) the
         cluster, the estimated Jaccard and the URL of the document kept instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.errors import UsageError


def add_arguments_clean(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="build directory (with fetch.parquet)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes; shorthand for --set clean.workers=N "
                        "(default: clean.workers)")


def run_clean(args: argparse.Namespace, config) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from webtext.clean import stage
    from webtext.config import write_resolved
    from webtext.layout import BuildLayout, resume_note

    layout = BuildLayout(args.build_dir)
    if not layout.root.is_dir():
        raise UsageError(f"build directory not found: {layout.root}")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.workers is not None:  # the resolved config written beside the output says so
        config.clean = config.clean.model_copy(update={"workers": args.workers})
    write_resolved(config, layout.config("clean"))
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task("clean", total=None)
        stats = stage.run(layout, config.clean, lambda p: progress.update(
            task, completed=p.done, total=p.total))
    top = ", ".join(f"{code} {n}" for code, n in list(stats["reasons"].items())[:5])
    print(f"clean: {stats['docs']} documents from {stats['fetched']} fetched pages in "
          f"{len(stats['shards'])} shards; {stats['passed']} pass every rule"
          + (f"; most failed: {top}" if top else "")
          + f". Stats: {layout.stats('clean')}")
    for line in resume_note(stats["resume"], "shard", f"delete {layout.docs_dir} or change "
                            "the config/version to redo them"):
        print(f"clean: {line}")
    return 0 if stats["complete"] else 1


def add_arguments_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="build directory (with docs/)")
    parser.add_argument("--reason", help="a document code the reports print: a clean reason "
                        "(gopher_short_doc, ...) or, with dedup.parquet, duplicate_exact, "
                        "duplicate_near, duplicate_earlier_snapshot, contaminated; omit to "
                        "list the codes with counts")
    parser.add_argument("--n", type=int, default=5, help="documents to show (default 5)")


def run_inspect(args: argparse.Namespace, config) -> int:
    from webtext.clean import inspect
    from webtext.clean.reasons import Reason
    from webtext.layout import BuildLayout

    layout = BuildLayout(args.build_dir)
    if not inspect.shard_files(layout.docs_dir):
        raise UsageError(f"no finished docs/ shards in {layout.root}: run `webtext clean` first")
    if args.reason is None:
        total, counts = inspect.reason_counts(layout.docs_dir)
        print(f"{total} documents; failing each rule:")
        for code in Reason:
            if counts[code]:
                print(f"  {code:<28} {counts[code]:>8}  ({counts[code] / total:.1%})")
        dedup = inspect.dedup_counts(layout.dedup)
        if dedup:
            # every document, where the stats funnel counts those passing the rules only
            print(f"in {layout.dedup.name} (documents passing the rules or not):")
            for code, n in dedup.items():
                print(f"  {code:<28} {n:>8}  ({n / total:.1%})")
        return 0
    code = inspect.lookup_code(args.reason)
    if isinstance(code, Reason):
        rows = inspect.sample(layout.docs_dir, code, args.n)
        text = inspect.format_sample(rows, code, config.clean) if rows else ""
    else:
        rows = inspect.sample_dedup(layout.docs_dir, layout.dedup, code, args.n)
        text = inspect.format_dedup(rows, code) if rows else ""
    print(text or f"no document has {code}")
    return 0
