"""One shard's durable crawl state: a status log and WARC files that never disagree.

In:  `FetchedPage` outcomes (with an `HttpCapture` for fetched pages), one at a time.
Out: `crawl/<shard>/status.jsonl` (one JSON row per URL with a terminal status) and
     `warc/<shard>-<part>.warc.gz`; a `done.json` marker once every URL of the shard has one.

Commit protocol (what makes resume after SIGINT or SIGKILL exact):
1. the WARC records of a page are written and handed to the OS first;
2. then its status row, which names the WARC file and the record pair's end offset, is
   appended to the log. A row is the commit: a URL is done if and only if it has a row.
On open, `recover()` reads the log (a torn last line is dropped), drops rows whose WARC bytes
are missing (possible only after a power loss, when the OS wrote the log before the WARC),
and cuts every WARC file back to the end of its last committed record (deleting a file with
none), so records written after the last commit, possibly torn, disappear. Nothing is ever
fetched twice, nothing is duplicated, and a shard without `done.json` is never complete.
Both files are fsynced on close, WARC first, and if asked every `fsync_interval` seconds
(in a background thread). One process per shard (the runner holds a lock), so each file has a single
writer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from webtext.crawl.warcfile import HttpCapture, WarcAppender, encode_capture
from webtext.io import write_bytes, write_json
from webtext.layout import BuildLayout
from webtext.records import FetchedPage

_FIELDS = [f.name for f in dataclasses.fields(FetchedPage)]


def shard_name(shard: int) -> str:
    return f"{shard:05d}"


def shard_dir(layout: BuildLayout, shard: int) -> Path:
    return layout.crawl_dir / shard_name(shard)


def done_marker(layout: BuildLayout, shard: int) -> Path:
    return shard_dir(layout, shard) / "done.json"


def _row(page: FetchedPage, warc_end: int | None) -> bytes:
    obj = {name: getattr(page, name) for name in _FIELDS}  # flat: no deep copy (asdict)
    obj["warc_end"] = warc_end
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _page(obj: dict[str, Any]) -> FetchedPage:
    return FetchedPage(**{k: obj.get(k) for k in _FIELDS})


def read_status(path: Path) -> tuple[list[tuple[FetchedPage, int | None]], int]:
    """The committed rows of a status log and the byte length of its intact prefix."""
    rows: list[tuple[FetchedPage, int | None]] = []
    good = 0
    if not path.exists():
        return rows, 0
    data = path.read_bytes()
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # torn by a kill mid-write
        try:
            obj = json.loads(line)
        except ValueError:
            break
        rows.append((_page(obj), obj.get("warc_end")))
        good += len(line)
    return rows, good


def _fsync_and_close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ShardStore:
    """The status log and WARC parts of one shard (see the module docstring)."""

    def __init__(self, layout: BuildLayout, shard: int, *, warc_max_bytes: int = 1024**3,
                 gzip_level: int = 6, fsync_interval: float = 0.0,
                 warcinfo: dict[str, str] | None = None):
        self.layout = layout
        self.shard = shard
        self.dir = shard_dir(layout, shard)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.status_path = self.dir / "status.jsonl"
        self.warc_max_bytes = warc_max_bytes
        self.gzip_level = gzip_level
        self.fsync_interval = fsync_interval
        self.warcinfo = warcinfo
        self.done: dict[str, str] = {}  # url -> status: all a resume needs, ~100 B a URL
        self._log: Any = None
        self._warc: WarcAppender | None = None
        self._part = 0
        self._last_sync = time.monotonic()
        self._syncer: threading.Thread | None = None

    # ---------------------------------------------------------------- recovery
    def _parts(self) -> list[Path]:
        return sorted(self.layout.warc_dir.glob(f"{shard_name(self.shard)}-*.warc.gz"))

    def recover(self) -> dict[str, str]:
        """Load committed rows and cut every file back to them; returns url -> status."""
        rows, good = read_status(self.status_path)
        ends: dict[str, int] = {}
        kept: list[tuple[FetchedPage, int | None]] = []
        sizes = {p.name: p.stat().st_size for p in self._parts()}
        for page, end in rows:
            if page.warc_file is not None:
                name = Path(page.warc_file).name
                if end is None or sizes.get(name, -1) < end:
                    continue  # its WARC bytes never reached the disk: fetch it again
                ends[name] = max(ends.get(name, 0), end)
            kept.append((page, end))
        for path in self._parts():
            end = ends.get(path.name)
            if end is None:
                path.unlink()
            elif path.stat().st_size > end:
                with open(path, "r+b") as f:
                    f.truncate(end)
        if len(kept) != len(rows) or good != (
            self.status_path.stat().st_size if self.status_path.exists() else 0
        ):
            write_bytes(self.status_path, b"".join(_row(p, e) for p, e in kept))
        self.done = {page.url: page.status for page, _ in kept}
        parts = self._parts()
        self._part = int(parts[-1].name.split("-")[1].split(".")[0]) if parts else 0
        return dict(self.done)

    # ---------------------------------------------------------------- writing
    def _warc_path(self) -> Path:
        return self.layout.warc_dir / f"{shard_name(self.shard)}-{self._part:03d}.warc.gz"

    def _appender(self) -> WarcAppender:
        if self._warc is not None and self._warc.size >= self.warc_max_bytes:
            self._warc.close()
            self._warc = None
            self._part += 1
        if self._warc is None:
            path = self._warc_path()
            if path.exists() and path.stat().st_size >= self.warc_max_bytes:
                self._part += 1
                path = self._warc_path()
            self._warc = WarcAppender(path, gzip_level=self.gzip_level, warcinfo=self.warcinfo)
        return self._warc

    def commit(self, page: FetchedPage, capture: HttpCapture | None = None,
               encoded: bytes | None = None) -> FetchedPage:
        """Make one URL's outcome durable: WARC records first, then the status row.

        `encoded` is `capture` already encoded (warcfile.encode_capture), if the caller did
        that elsewhere (the fetcher does it in a helper thread).
        """
        if page.url in self.done:
            raise ValueError(f"{page.url}: already has a terminal status in shard {self.shard}")
        end = None
        if capture is not None and encoded is None:
            encoded = encode_capture(capture, self.gzip_level)
        if encoded is not None:
            warc = self._appender()
            offset, end = warc.write(encoded)
            page.warc_file = warc.path.relative_to(self.layout.root).as_posix()
            page.warc_offset = offset
        if self._log is None:
            self._log = open(self.status_path, "ab")  # noqa: SIM115 - closed in close()
        self._log.write(_row(page, end))
        self._log.flush()
        self.done[page.url] = page.status
        if self.fsync_interval and time.monotonic() - self._last_sync >= self.fsync_interval:
            self._sync_in_background()
        return page

    def _sync_in_background(self) -> None:
        """fsync (WARC, then log) in a thread: a slow disk must not stall the fetcher. The fds
        are duplicated, so a WARC part closed meanwhile (rotation) cannot be mixed up."""
        if self._syncer is not None and self._syncer.is_alive():
            return
        files = [f for f in (self._warc._file if self._warc else None, self._log) if f]
        fds = [os.dup(f.fileno()) for f in files]
        self._syncer = threading.Thread(target=_fsync_and_close, args=(fds,), daemon=True)
        self._syncer.start()
        self._last_sync = time.monotonic()

    def sync(self) -> None:
        """fsync the WARC before the log, so the log never gets ahead of it on disk."""
        if self._syncer is not None:
            self._syncer.join()
        if self._warc is not None:
            self._warc.fsync()
        if self._log is not None:
            self._log.flush()
            os.fsync(self._log.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        if self._warc is not None:
            self._warc.close()
            self._warc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def mark_done(self, summary: dict[str, Any]) -> None:
        write_json(done_marker(self.layout, self.shard), summary)
