"""`webtext source --out BUILD_DIR [--dumps PATH ...]`: the command around the source stage.

In:  dump files, folders or globs (`--dumps`, a shorthand for `--set source.dumps=[...]`) and
     the [source] config.
Out: what `webtext.crawl.source.run` writes (urls.parquet, source_stats.json, the reject log),
     configs/source.toml, and the funnel table with a one-line summary. A run that cannot read
     a dump to its end, or (unless `source.allow_empty`) reads no submission or keeps no URL,
     is an error (exit 2) that leaves the outputs of the last good run in place.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from webtext.config import WebtextConfig, write_resolved
from webtext.layout import BuildLayout


def add_arguments_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dumps", nargs="+", default=None, metavar="PATH",
                   help="dump files, folders or globs (.zst .xz .gz .bz2 .jsonl .json); "
                   "shorthand for --set source.dumps=[...] (default: source.dumps)")
    p.add_argument("--out", type=Path, required=True, help="build directory to write into")


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

    from webtext.crawl import source
    from webtext.stage import Progress

    console = Console(stderr=False)
    if args.dumps:
        config.source.dumps = list(args.dumps)
    layout = BuildLayout(args.out)
    try:
        with console.status("reading dumps") as status:

            def progress(p: Progress) -> None:
                status.update(f"reading {Path(p.detail).name}: line {p.done:,}")

            # The command reads the dumps whenever it is run; the build flow skips a
            # finished source stage (same config, same dump files).
            stats = source.run(layout, config.source, progress, force=True)
    except source.SourceFailed as e:
        console.print(funnel_table(e.stats))  # what was read, to show why (the error follows)
        raise
    write_resolved(config, layout.config("source"))
    console.print(funnel_table(stats))
    total = stats["kept"] + sum(stats["dropped"].values())
    console.print(
        f"read {stats['read']:,} = kept {stats['kept']:,} + dropped "
        f"{sum(stats['dropped'].values()):,} ({'ok' if total == stats['read'] else 'MISMATCH'}); "
        f"{stats['urls_kept']:,} URLs -> {layout.urls} in {stats['seconds']} s"
    )
    return 0
