"""`webtext import-warc BUILD_DIR WARC...`: any WARC collection as a build's pages.

In:  WARC files (.warc or .warc.gz: our own crawls, Common Crawl's, any crawler's), as files,
     folders (every *.warc / *.warc.gz inside, recursively) or glob patterns; a build directory
     with no fetch.parquet yet.
Out: BUILD/warc/imported/<name>: a symbolic link to each input (the collection is not copied),
     BUILD/warc/imported/index.cdxj: a standard CDXJ index of their response records (the
     `cdxj-indexer` package, as pywb and the Webrecorder tools write it: SURT key, 14-digit
     timestamp, JSON with url, mime, status, digest, length, offset, filename, WARC-Record-ID;
     sorted, with temporary files when it outgrows memory), and BUILD/fetch.parquet
     (FETCH_SCHEMA), one row per URL, which is what `webtext clean` needs.

Per URL (per SURT key, so http/https, www. and case variants are one URL) the latest capture
answered 200 with an HTML media type is the page (`fetched`, `archive` = "warc", the capture
time and WARC-Record-ID as provenance); a URL with no such capture keeps its latest capture
with the status a live fetch of that answer would get (`not_html`, `http_error`), so every URL
of the collection is accounted for. `n_bytes` is 0: the index gives the stored record size,
not the body's. The body, its HTTP Content-Type and charset are read by clean/ from the WARC
record itself, as for a crawl. The index and fetch.parquet are streamed (the index is sorted
on disk), so a collection of Common Crawl's size needs no more memory than a small one.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.errors import UsageError
from webtext.stage import Progress, ProgressFn, report

WARC_SUFFIXES = (".warc", ".warc.gz")
BATCH_ROWS = 10_000  # rows per Parquet row group while streaming fetch.parquet


def add_arguments_import_warc(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="build directory (no fetch.parquet yet)")
    parser.add_argument("inputs", nargs="+", help="WARC files, folders or glob patterns")


def find_warcs(inputs: Iterable[str]) -> list[Path]:
    """The WARC files named by files, folders and globs, each once, in a stable order."""
    found: dict[Path, None] = {}
    for item in inputs:
        matches = [Path(m) for m in sorted(glob.glob(item, recursive=True))] or [Path(item)]
        for path in matches:
            if path.is_dir():
                for sub in sorted(path.rglob("*")):
                    if sub.is_file() and sub.name.endswith(WARC_SUFFIXES):
                        found[sub.resolve()] = None
            elif path.is_file():
                if not path.name.endswith(WARC_SUFFIXES):
                    raise UsageError(f"{path}: not a WARC file (.warc or .warc.gz)")
                found[path.resolve()] = None
            else:
                raise UsageError(f"{item}: no such file, folder or matching file")
    if not found:
        raise UsageError(f"no WARC files in {', '.join(inputs)}")
    return list(found)


def link_inputs(root: Path, warcs: list[Path]) -> list[Path]:
    """One symbolic link per input under warc/imported/, named after it (numbered when two
    inputs share a name); an existing link to the same file is reused."""
    folder = root / "warc" / "imported"
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    for n, source in enumerate(warcs):
        link = folder / source.name
        if link.is_symlink() and link.resolve() != source or (link.exists()
                                                               and not link.is_symlink()):
            link = folder / f"{n:05d}-{source.name}"
        if not link.is_symlink():
            link.symlink_to(source)
        links.append(link)
    return links


def write_index(root: Path, links: list[Path], out: Path,
                progress: ProgressFn | None = None) -> None:
    """A sorted CDXJ index of the response records (filenames relative to the build);
    `progress` hears of each input file indexed ("index" phase, in bytes)."""
    from cdxj_indexer.main import CDXJIndexer

    from webtext.io import atomic_path

    sizes = [p.stat().st_size for p in links]
    total = sum(sizes)
    done = 0

    class Indexer(CDXJIndexer):
        def process_one(self, input_: Any, output: Any, filename: str) -> None:
            nonlocal done
            super().process_one(input_, output, filename)
            done += sizes[len(indexed)]
            indexed.append(filename)
            report(progress, Progress("index", done, total,
                                      detail=f"{len(indexed)}/{len(links)} files"))

    indexed: list[str] = []
    report(progress, Progress("index", 0, total, detail=f"0/{len(links)} files"))
    with atomic_path(out) as tmp:
        indexer = Indexer(output=str(tmp), inputs=[str(p) for p in links], sort=True,
                          records="response", fields="warc-record-id", dir_root=str(root))
        indexer.process_all()


def read_index(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(urlkey, timestamp, fields) per CDXJ line, in file (sorted) order."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("!"):
                continue
            key, ts, rest = line.split(" ", 2)
            yield key, ts, json.loads(rest)


def pages(index: Iterable[tuple[str, str, dict[str, Any]]],
          allowed_types: list[str]) -> Iterator[Any]:
    """One FetchedPage per URL (SURT key) of a sorted CDXJ index (see the module docstring)."""
    from webtext.crawl.cdx import iso
    from webtext.crawl.outcome import response_status
    from webtext.records import FetchedPage, FetchStatus

    def best(group: list[tuple[str, dict[str, Any]]]) -> Any:
        html = [(ts, f) for ts, f in group
                if f.get("status") == "200" and f.get("mime") in allowed_types]
        ts, f = (html or group)[-1]  # the latest: sorted by timestamp within a key
        code = int(f["status"]) if str(f.get("status", "")).isdigit() else 0
        status = response_status(code, f.get("mime"), 0, allowed_types=allowed_types,
                                 max_bytes=1)
        when = iso(ts)
        return FetchedPage(
            url=f["url"], final_url=f["url"], status=status.value, http_status=code or None,
            content_type=f.get("mime"), fetched_at=when, warc_file=f["filename"],
            warc_offset=int(f["offset"]), archive="warc", archive_capture_time=when,
            archive_record_id=f.get("warc-record-id"),
            error=None if status == FetchStatus.FETCHED else f"imported capture: {code}")

    group: list[tuple[str, dict[str, Any]]] = []
    last_key = None
    for key, ts, fields in index:
        if key != last_key and group:
            yield best(group)
            group = []
        last_key = key
        group.append((ts, fields))
    if group:
        yield best(group)


def write_fetch(path: Path, rows: Iterable[Any]) -> dict[str, int]:
    """Stream pages into fetch.parquet (atomically); returns the count per status."""
    from webtext.io import atomic_path
    from webtext.records import FETCH_SCHEMA, records_to_table

    counts: dict[str, int] = {}
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, FETCH_SCHEMA,
                                                    compression="zstd") as writer:
        # One row per SURT key, and one URL has one key: the rows' URLs are unique without a
        # set of them (which would grow with the collection).
        batch: list[Any] = []
        for page in rows:
            batch.append(page)
            counts[page.status] = counts.get(page.status, 0) + 1
            if len(batch) >= BATCH_ROWS:
                writer.write_table(records_to_table(batch, FETCH_SCHEMA))
                batch = []
        writer.write_table(records_to_table(batch, FETCH_SCHEMA) if batch
                           else pa.Table.from_pylist([], schema=FETCH_SCHEMA))
    return counts


def import_warcs(root: Path, inputs: Iterable[str], allowed_types: list[str],
                 progress: ProgressFn | None = None) -> dict[str, Any]:
    """Link, index and list a WARC collection as the pages of the build at `root`."""
    from webtext.layout import BuildLayout

    layout = BuildLayout(root)
    if layout.fetch.exists():
        raise UsageError(f"{layout.fetch} already exists: import into a new build directory")
    warcs = find_warcs(inputs)
    root.mkdir(parents=True, exist_ok=True)
    links = link_inputs(root, warcs)
    index = root / "warc" / "imported" / "index.cdxj"
    write_index(root, links, index, progress)
    counts = write_fetch(layout.fetch, pages(read_index(index), allowed_types))
    return {"warc_files": len(links), "index": os.path.relpath(index, root),
            "urls": sum(counts.values()), "status": counts}


def run_import_warc(args: argparse.Namespace, config: Any) -> int:
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    from webtext.layout import BuildLayout

    with Bar(TextColumn("[bold]index[/] {task.fields[files]}"), BarColumn(), DownloadColumn(),
             TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("index", total=None, files="")
        stats = import_warcs(args.build_dir, args.inputs, config.crawl.allowed_content_types,
                             lambda p: bar.update(task, completed=p.done, total=p.total,
                                                  files=p.detail))
    counts = ", ".join(f"{n} {s}" for s, n in sorted(stats["status"].items()))
    print(f"import-warc: {stats['warc_files']} WARC file(s), {stats['urls']} URLs ({counts}); "
          f"index {stats['index']} -> {BuildLayout(args.build_dir).fetch}")
    return 0
