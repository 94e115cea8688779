"""Read Reddit submissions from Pushshift-format dumps and saved Reddit API listings.

In:  paths or globs of `.zst` (Pushshift's, with a long window), `.xz`, `.gz`, `.bz2`,
     `.jsonl`/`.ndjson` files of one JSON object per line, and `.json` files holding a Reddit
     API listing (`{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {...}}]}}`)
     or a list of them.
Out: a stream of `RawRecord(file, line, payload)`, where payload is the raw line (bytes) or an
     already parsed object (listings), and a `FileError` for each file that cannot be read
     to its end (missing, corrupt, or truncated: a `.zst` that ends inside a zstd frame, a
     `.gz` or `.xz` without its end-of-stream marker). Files are streamed; memory does not
     grow with their size.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import json
import lzma
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import zstandard

# Pushshift's monthly dumps since 2019 are compressed with a 2 GiB window (--long=31); the
# decompressor refuses such frames unless told that it may use that much memory.
ZSTD_MAX_WINDOW = 2**31

SUFFIXES = (".zst", ".xz", ".gz", ".bz2", ".jsonl", ".ndjson", ".json")


class RawRecord(msgspec.Struct):
    """One line (or listing child) of a dump. A msgspec Struct, built in C: one is made per
    submission read, and a dataclass cost the source stage 0.4 us of its ~10 per record."""

    file: str
    line: int  # 1-based line number, or child index (1-based) in a listing
    payload: bytes | dict[str, Any] | Any


@dataclass(slots=True)
class FileError:
    file: str
    error: str
    records_before_error: int


def expand(patterns: list[str]) -> list[str]:
    """Expand globs and folders; a pattern that matches nothing (a glob without a match, a
    folder without dump files) is kept so that it is reported as missing."""
    files: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            matched = sorted(glob.glob(pattern, recursive=True))
            files.extend(matched or [pattern])
        elif Path(pattern).is_dir():
            # A folder without dump files is kept too, so that it is reported, not skipped.
            files.extend(sorted(str(p) for p in Path(pattern).iterdir()
                                if p.name.endswith(SUFFIXES)) or [pattern])
        else:
            files.append(pattern)
    return files


class _ZstdReader(io.RawIOBase):
    """The decompressed bytes of every zstd frame of a file, in order.

    zstandard's `stream_reader` returns a clean end of file when its input runs out in the
    middle of a frame, so a truncated dump (a partial download, a full disk) would read as a
    shorter, valid one. A decompression object knows whether its frame is complete (`eof`):
    when the file's bytes run out inside a frame, this reader raises EOFError, as `gzip` and
    `lzma` do for their truncated files. A file may hold several frames (`cat a.zst b.zst`).
    """

    def __init__(self, path: str):
        self._file = open(path, "rb")  # closed by close()
        self._dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        self._frame = self._dctx.decompressobj()
        self._started = False  # any byte read: a zstd compressor never writes an empty file
        self._in_frame = False  # bytes of an unfinished frame have been decompressed
        self._out = memoryview(b"")
        self._error: zstandard.ZstdError | None = None  # raised once the output before it is read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            if self._error is not None:
                raise self._error
            # Compressed input is fed a block at a time, so the output held here is bounded by
            # the block's size times the compression ratio, not by the size of the file.
            data = self._file.read(zstandard.DECOMPRESSION_RECOMMENDED_INPUT_SIZE)
            if not data:
                if not self._started:
                    raise EOFError("empty .zst file: it holds no zstd frame")
                if self._in_frame:
                    raise EOFError("truncated .zst file: it ends in the middle of a zstd frame")
                return 0
            self._started = True
            self._out = memoryview(self._decompress(data))
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _decompress(self, data: bytes) -> bytes:
        out = []
        try:
            while data:
                if self._frame.eof:  # the previous frame ended: the next one starts here
                    self._frame = self._dctx.decompressobj()
                out.append(self._frame.decompress(data))
                self._in_frame = not self._frame.eof
                data = self._frame.unused_data if self._frame.eof else b""
        except zstandard.ZstdError as e:
            if not out:
                raise
            self._error = e  # e.g. garbage after a frame: first hand out the frame's lines
        return b"".join(out)

    def close(self) -> None:
        self._file.close()
        super().close()


def _open_lines(path: str) -> BinaryIO:
    if path.endswith(".zst"):
        return io.BufferedReader(_ZstdReader(path), buffer_size=1 << 20)
    if path.endswith(".xz"):
        return lzma.open(path, "rb")  # type: ignore[return-value]
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.endswith(".bz2"):
        return bz2.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=1 << 20)


def _listing_children(doc: Any) -> Iterator[Any]:
    """The submission objects of a listing (or list of listings); other objects as they are."""
    docs = doc if isinstance(doc, list) else [doc]
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == "Listing":
            for child in (d.get("data") or {}).get("children") or []:
                if isinstance(child, dict) and child.get("kind") == "t3":
                    yield child.get("data")
                else:
                    yield child
        else:
            yield d


def read_file(path: str) -> Iterator[RawRecord | FileError]:
    """Stream the records of one file; a read error ends the file with a `FileError`."""
    n = 0
    try:
        if path.endswith(".json"):
            with open(path, "rb") as f:
                data = f.read()
            try:
                doc = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                # Not one JSON document: treat it as JSON lines.
                for n, line in enumerate(data.splitlines(), 1):
                    yield RawRecord(path, n, line)
                return
            for n, obj in enumerate(_listing_children(doc), 1):
                yield RawRecord(path, n, obj)
            return
        with _open_lines(path) as f:
            for n, line in enumerate(f, 1):
                yield RawRecord(path, n, line.rstrip(b"\r\n"))
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as e:
        yield FileError(path, f"{type(e).__name__}: {e}", n)


def read_dumps(patterns: list[str]) -> Iterator[RawRecord | FileError]:
    for path in expand(patterns):
        yield from read_file(path)
