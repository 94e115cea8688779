"""A full disk or a forbidden build folder is one line naming the file, not a traceback; and
`webtext inspect --reason` takes every document code that the reports print.

The disk tests run the real `webtext` command in a child process, so that everything it and
its clean workers write to stderr is seen. Each does a good run first, then a failing one,
and checks that the good output is intact. Two ways to fill the disk:
- injected, always: Parquet writes fail with OSError(ENOSPC) and no path, exactly as pyarrow
  reports a full disk (in the clean workers too, through an extractor that sets it up there),
  and a temporary file cannot be created, as os.open reports a folder the user may not write;
- real, where tmpfs can be mounted (root): a tiny tmpfs over the output folder, filled up,
  then remounted read-only. Skipped elsewhere, with the reason.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.clean.config import CleanConfig
from webtext.clean.fixture import PROSE, Response, write_build
from webtext.clean.page import Extracted
from webtext.cli import main
from webtext.errors import disk_error_message
from webtext.io import write_bytes, writing
from webtext.layout import BuildLayout

TESTS = Path(__file__).resolve().parent
TOKENIZE = ["--set", "tokenize.vocab_size=400", "--set", "tokenize.val_permille=150",
            "--set", "tokenize.shard_tokens=8000", "--set", "tokenize.row_group_tokens=2000"]
RESUME = " (free some space and re-run the same command: finished work is kept)"


# ------------------------------------------------------------------ injection (child side)
def _pyarrow_disk_full(*args, **kwargs):
    # pyarrow's own error on a full disk: errno set, no file name.
    raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space "
                                "left on device")


def _fill_disk() -> None:
    """From now on, every Parquet write of this process fails as on a full disk."""
    pq.ParquetWriter.write_table = _pyarrow_disk_full
    pq.write_table = _pyarrow_disk_full


def disk_full_extract(html: str, url: str | None, config: CleanConfig,
                      fetched_at: str | None) -> Extracted:
    """Runs in the clean worker: fills its disk, then returns a good page."""
    _fill_disk()
    return Extracted(title="A title", text=PROSE, date=None)


def _forbid_new_files() -> None:
    """mkstemp fails as os.open does in a folder the user may not write."""
    import webtext.io

    def forbidden(suffix=None, prefix=None, dir=None, text=False):
        raise PermissionError(errno.EACCES, "Permission denied",
                              os.path.join(dir, f"{prefix}k3x9q2"))

    webtext.io.tempfile.mkstemp = forbidden


def inject(kind: str) -> None:
    """Called in the child process before the command runs."""
    if kind == "disk_full":
        _fill_disk()
    elif kind == "clean_disk_full":  # the clean workers write the shards
        import webtext.clean.stage as stage

        stage.run = functools.partial(stage.run, extract=disk_full_extract)
    elif kind == "forbidden":
        _forbid_new_files()
    else:
        assert kind == "none", kind


_DRIVER = ("import sys; sys.path.insert(0, sys.argv[1]); import test_cli_errors as t; "
           "t.inject(sys.argv[2]); from webtext.cli import main; sys.exit(main(sys.argv[3:]))")


def webtext(*args: str | Path, inject: str = "none") -> tuple[int, list[str]]:
    """Run `webtext ARGS` in a child process: (exit code, non-blank stderr lines)."""
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(TESTS), inject, "--log-level", "ERROR",
         *map(str, args)], capture_output=True, text=True, timeout=300, cwd=TESTS.parent)
    return proc.returncode, [line for line in proc.stderr.splitlines() if line.strip()]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (dot-files too: done markers), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".filler"}


def clean_fixture(root: Path) -> BuildLayout:
    html = "<!DOCTYPE html><html><body><article>" + "".join(
        f"<p>{line}</p>" for line in PROSE.split("\n")) + "</article></body></html>"
    responses = [Response(f"http://site{i}.test/page/{i}", 200,
                          [("Content-Type", "text/html; charset=utf-8")], html.encode())
                 for i in range(12)]
    return write_build(root, responses, n_shards=2)


# ------------------------------------------------------------------ units
def test_disk_error_message():
    full = OSError(errno.ENOSPC, "No space left on device", "/b/docs/00000.parquet")
    assert disk_error_message(full) == "no space left on device writing /b/docs/00000.parquet" \
        + RESUME
    assert disk_error_message(PermissionError(errno.EACCES, "x", "/b")) == "permission denied: /b"
    assert disk_error_message(OSError(errno.EROFS, "x", "/b/c")) == \
        "read-only file system: cannot write /b/c"
    assert disk_error_message(OSError(errno.ENOSPC, "x")).startswith(
        "no space left on device (no path reported)")
    assert disk_error_message(FileNotFoundError(errno.ENOENT, "x", "/b")) is None  # a bug
    assert disk_error_message(OSError("pyarrow error without errno")) is None


def test_writing_names_the_output(tmp_path):
    out = tmp_path / "out.parquet"
    with pytest.raises(OSError) as caught, writing(out):
        raise OSError(errno.ENOSPC, "Error writing bytes to file")  # as pyarrow: no path
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(out))
    tmp = tmp_path / ".tmp-out.parquet.x"  # its temporary file: named as the output
    with pytest.raises(PermissionError) as caught, writing(out):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp))
    assert caught.value.filename == str(out)
    other = tmp_path / "input.parquet"
    with pytest.raises(PermissionError) as caught, writing(out):  # another file: left alone
        raise PermissionError(errno.EACCES, "Permission denied", str(other))
    assert caught.value.filename == str(other)
    with pytest.raises(ConnectionRefusedError) as caught, writing(out):  # not a write error
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert caught.value.filename is None


def test_a_write_to_a_full_device_keeps_the_old_file(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    target = tmp_path / "stats.json"
    write_bytes(target, b"old")
    with pytest.raises(OSError) as caught, writing(target), open("/dev/full", "wb") as full:
        full.write(b"x" * 65536)
        full.flush()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_bytes() == b"old"


# ------------------------------------------------------------------ injected, through the CLI
def test_clean_disk_full_in_a_worker_is_one_line(tmp_path):
    layout = clean_fixture(tmp_path / "b")
    assert webtext("clean", layout.root, "--workers", "1")[0] == 0
    before = snapshot(layout.docs_dir)
    code, err = webtext("clean", layout.root, "--workers", "1", "--set",
                        "clean.gopher_min_words=60", inject="clean_disk_full")
    assert (code, err) == (1, [f"webtext clean: no space left on device writing "
                               f"{layout.docs_dir / '00000.parquet'}{RESUME}"])
    assert snapshot(layout.docs_dir) == before


def test_tokenize_disk_full_is_one_line(tmp_path):
    from tokenize_fixtures import corpus_build

    layout, _ = corpus_build(tmp_path / "b")
    assert webtext("tokenize", layout.root, "--recipe", "raw", *TOKENIZE)[0] == 0
    before = snapshot(layout.tokens_root)
    code, err = webtext("tokenize", layout.root, "--recipe", "raw", *TOKENIZE, "--set",
                        "tokenize.val_permille=200", inject="disk_full")
    assert code == 1 and len(err) == 1, err
    assert re.fullmatch(re.escape(f"webtext tokenize: no space left on device writing "
                                  f"{layout.tokens_root}/") + r"raw-[0-9a-f]{8}/"
                        r"(train|val)-00000\.parquet" + re.escape(RESUME), err[0]), err[0]
    assert {k: v for k, v in snapshot(layout.tokens_root).items() if k in before} == before


def test_source_disk_full_and_permission_denied_are_one_line(tmp_path, world_dir):
    out = tmp_path / "b"
    dumps = world_dir / "dumps"
    assert webtext("source", "--dumps", dumps, "--out", out)[0] == 0
    outputs = ("urls.parquet", "source_stats.json", "configs/source.toml")
    before = {name: (out / name).read_bytes() for name in outputs}
    assert webtext("source", "--dumps", dumps, "--out", out, "--set", "source.min_karma=5",
                   inject="disk_full") == (1, [f"webtext source: no space left on device "
                                               f"writing {out / 'urls.parquet'}{RESUME}"])
    assert webtext("source", "--dumps", dumps, "--out", out, inject="forbidden") == (
        1, [f"webtext source: permission denied: {out / 'logs' / 'source_rejects.tsv'}"])
    assert {name: (out / name).read_bytes() for name in outputs} == before


# ------------------------------------------------------------------ a real small disk
@pytest.fixture
def small_disk() -> Iterator:
    """mount(folder, size) puts a tmpfs of that size on a folder; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                   str(folder)], capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            pytest.skip("no mount command")
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(folder)

    yield mount
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> None:
    """Write to the folder until its file system is full."""
    with open(folder / ".filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC


def test_clean_on_a_real_full_then_read_only_disk(tmp_path, small_disk):
    layout = clean_fixture(tmp_path / "b")
    small_disk(layout.docs_dir, "512k")
    assert webtext("clean", layout.root, "--workers", "1")[0] == 0
    before = snapshot(layout.docs_dir)
    fill(layout.docs_dir)
    code, err = webtext("clean", layout.root, "--workers", "1", "--set",
                        "clean.gopher_min_words=60")
    assert (code, err) == (1, [f"webtext clean: no space left on device writing "
                               f"{layout.docs_dir / '00000.parquet'}{RESUME}"])
    assert snapshot(layout.docs_dir) == before
    subprocess.run(["mount", "-o", "remount,ro", str(layout.docs_dir)], check=True)
    code, err = webtext("clean", layout.root, "--workers", "1", "--set",
                        "clean.gopher_min_words=70")
    assert (code, err) == (1, [f"webtext clean: read-only file system: cannot write "
                               f"{layout.docs_dir / '00000.parquet'}"])
    assert snapshot(layout.docs_dir) == before


def test_tokenize_on_a_real_full_disk(tmp_path, small_disk):
    from tokenize_fixtures import corpus_build

    layout, _ = corpus_build(tmp_path / "b")
    small_disk(layout.tokens_root, "64k")  # room for the tokenizer and a shard or two
    code, err = webtext("tokenize", layout.root, "--recipe", "raw", *TOKENIZE)
    assert code == 1 and len(err) == 1, err
    assert re.fullmatch(re.escape(f"webtext tokenize: no space left on device writing "
                                  f"{layout.tokens_root}/") + r"raw-[0-9a-f]{8}/"
                        r"(train|val)-\d{5}\.parquet" + re.escape(RESUME), err[0]), err[0]
    assert not list(layout.tokens_root.rglob(".tmp-*"))  # the failed shard left nothing


# ------------------------------------------------------------------ inspect takes every code
def test_every_code_the_reports_print_is_known_to_inspect():
    from webtext.clean import inspect as report
    from webtext.clean.reasons import Reason
    from webtext.dedup.clusters import DupKind
    from webtext.errors import UsageError
    from webtext.records import FetchStatus, SourceDrop

    for reason in Reason:
        assert report.lookup_code(reason.value) is reason
    for kind in DupKind:  # as the stats funnel and dedup_stats.json print them
        assert report.lookup_code(f"duplicate_{kind}") == f"duplicate_{kind}"
        assert report.lookup_code(f"dup_{kind}") == f"duplicate_{kind}"
    assert report.lookup_code("contaminated") == "contaminated"
    for status in set(FetchStatus) - {FetchStatus.FETCHED}:
        if status.value in {r.value for r in Reason}:
            continue  # too_large: a document code too (a body over max_html_bytes)
        with pytest.raises(UsageError, match="crawl status of URLs"):
            report.lookup_code(status.value)
    for drop in SourceDrop:
        if drop.value in {s.value for s in FetchStatus}:
            continue  # bad_url is a crawl status too
        with pytest.raises(UsageError, match="source rule"):
            report.lookup_code(drop.value)


def test_inspect_dedup_codes(tmp_path, capsys):
    from webtext.clean.stage import run as clean_run
    from webtext.records import DEDUP_SCHEMA

    layout = clean_fixture(tmp_path / "b")
    clean_run(layout, CleanConfig(), workers=1)
    assert main(["inspect", str(layout.root), "--reason", "duplicate_near"]) == 2
    assert "run `webtext dedup`" in capsys.readouterr().err
    ids = sorted(r["doc_id"] for p in layout.docs_shards()
                 for r in pq.read_table(p, columns=["doc_id"]).to_pylist())
    urls = {r["doc_id"]: r["url"] for p in layout.docs_shards()
            for r in pq.read_table(p, columns=["doc_id", "url"]).to_pylist()}
    kept, near, exact, contaminated = ids[0], ids[1], ids[2], ids[3]
    rows = [{"doc_id": d, "cluster_id": kept, "keep": d not in (near, exact),
             "dup_of": kept if d in (near, exact) else None,
             "dup_kind": {near: "near", exact: "exact"}.get(d),
             "jaccard_est": {near: 0.875, exact: 1.0}.get(d),
             "contaminated": d == contaminated, "dup_build": None} for d in ids]
    pq.write_table(pa.Table.from_pylist(rows, schema=DEDUP_SCHEMA), layout.dedup)

    assert main(["inspect", str(layout.root), "--reason", "duplicate_near"]) == 0
    out = capsys.readouterr().out
    assert urls[near] in out and f"duplicates: {urls[kept]}" in out
    assert "jaccard_est=0.875" in out and urls[exact] not in out
    assert main(["inspect", str(layout.root), "--reason", "dup_exact", "--n", "50"]) == 0
    out = capsys.readouterr().out
    assert urls[exact] in out and urls[near] not in out
    assert main(["inspect", str(layout.root), "--reason", "contaminated"]) == 0
    assert urls[contaminated] in capsys.readouterr().out
    assert main(["inspect", str(layout.root), "--reason", "duplicate_earlier_snapshot"]) == 0
    assert "no document has duplicate_earlier_snapshot" in capsys.readouterr().out
    assert main(["inspect", str(layout.root)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"duplicate_near +1 ", out) and re.search(r"contaminated +1 ", out)

    assert main(["inspect", str(layout.root), "--reason", "http_error"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "crawl status of URLs" in err
    assert main(["inspect", str(layout.root), "--reason", "duplicate_nearish"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown reason code 'duplicate_nearish'" in err
    assert "gopher_short_doc" in err and "duplicate_near" in err and "contaminated" in err
