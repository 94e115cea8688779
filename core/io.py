"""Atomic, resumable file output (docs/design.md, "Principles" 4).

Every output is written to a temporary name in the same directory and renamed into place, so a
killed process leaves either the old file, the new file, or a `.tmp-*` file that no reader
takes as complete. Parquet, JSON and raw bytes go through here. An OSError while writing (a
full disk, a read-only folder) names the output it was writing (`writing()`), so that the CLI
can say which file in one line (webtext.errors.disk_error_message).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS,
                           errno.EACCES, errno.EPERM})


def _tmp_prefix(path: Path) -> str:
    return f".tmp-{path.name}."


def _is_tmp_of(named: Path, path: Path) -> bool:
    return named.parent == path.parent and named.name.startswith(_tmp_prefix(path))


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Name `path` in any OSError raised inside that names no file or names one of its
    temporary files: a write() or fsync() that fails on a full disk reports no path, pyarrow's
    errors never carry one, and a temporary name means nothing to the user. The exception
    keeps its errno and type (a PermissionError stays one)."""
    path = Path(path)
    try:
        yield
    except OSError as e:
        if e.filename is None:
            # Only errors a write can cause: a socket error inside the block is not this file's.
            if e.errno not in _WRITE_ERRNOS:
                raise
        elif e.errno is None or not _is_tmp_of(Path(os.fsdecode(e.filename)), path):
            raise
        raise OSError(e.errno, os.strerror(e.errno), str(path)) from e


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success, fsync and rename it onto `path`.

    An OSError on the way (a full disk, a read-only folder) names `path` rather than the
    temporary file, and leaves whatever was at `path` before untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # its errors name the folder already
    tmp_path: Path | None = None
    try:
        with writing(path):
            fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), dir=path.parent)
            os.close(fd)
            tmp_path = Path(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; outputs are ordinary
            yield tmp_path
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, path)
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    write_bytes(path, text.encode("utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(path: Path, table: pa.Table, **kwargs: Any) -> None:
    """Write a Parquet file atomically (zstd unless told otherwise)."""
    kwargs.setdefault("compression", "zstd")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def clean_stale_tmp(directory: Path) -> int:
    """Remove `.tmp-*` leftovers of a killed run; returns how many were removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    removed = 0
    for p in directory.glob(".tmp-*"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed
