"""Dump formats round-trip; unreadable files are counted and reported, never fatal."""

from __future__ import annotations

import json

import pytest
import zstandard

from webtext.crawl.dumps import FileError, RawRecord, expand, read_dumps
from webtext.world.dumps import write_lines, write_listing

LINES = [json.dumps({"id": f"x{i}", "url": f"http://a.test/{i}", "score": i, "title": "é ✓"},
                    ensure_ascii=False).encode() for i in range(50)]


@pytest.mark.parametrize("suffix", [".zst", ".xz", ".gz", ".jsonl", ".ndjson"])
def test_line_formats_round_trip(tmp_path, suffix):
    path = write_lines(tmp_path / f"RS_test{suffix}", LINES)
    recs = list(read_dumps([str(path)]))
    assert all(isinstance(r, RawRecord) for r in recs)
    assert [r.payload for r in recs] == LINES
    assert [r.line for r in recs] == list(range(1, 51))


def test_zst_uses_pushshift_long_window(tmp_path):
    path = write_lines(tmp_path / "RS.zst", LINES)
    data = path.read_bytes()
    assert zstandard.get_frame_parameters(data).window_size == 2**31
    with pytest.raises(zstandard.ZstdError):  # a reader without max_window_size fails
        zstandard.ZstdDecompressor().stream_reader(data).read()


def test_listing_round_trips(tmp_path):
    objs = [json.loads(line) for line in LINES]
    path = write_listing(tmp_path / "listing.json", objs)
    doc = json.loads(path.read_text())
    assert doc["kind"] == "Listing" and doc["data"]["after"] == "t3_x49"
    assert [r.payload for r in read_dumps([str(path)])] == objs


def test_globs_and_folders(tmp_path):
    write_lines(tmp_path / "RS_1.jsonl", LINES[:3])
    write_lines(tmp_path / "RS_2.gz", LINES[3:5])
    assert len(list(read_dumps([str(tmp_path / "RS_*")]))) == 5
    assert len(list(read_dumps([str(tmp_path)]))) == 5


def test_corrupt_and_missing_files_are_reported(tmp_path):
    good = write_lines(tmp_path / "RS_good.gz", LINES)
    broken = tmp_path / "RS_broken.gz"
    broken.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    zst = write_lines(tmp_path / "RS_broken.zst", LINES)
    zst.write_bytes(zst.read_bytes()[:-7] + b"garbage")
    recs = list(read_dumps([str(broken), str(zst), str(tmp_path / "missing.xz"), str(good)]))
    errors = [r for r in recs if isinstance(r, FileError)]
    assert [e.file for e in errors] == [str(broken), str(zst), str(tmp_path / "missing.xz")]
    assert "No such file" in errors[2].error
    good_recs = [r for r in recs if isinstance(r, RawRecord) and r.file == str(good)]
    assert len(good_recs) == 50  # the run goes on after the broken files


def test_truncated_zst_is_reported_after_its_complete_lines(tmp_path):
    lines = [json.dumps({"id": f"x{i}", "n": i}).encode() for i in range(20_000)]
    path = write_lines(tmp_path / "RS_big.zst", lines)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    recs = list(read_dumps([str(path)]))
    *good, error = recs
    assert isinstance(error, FileError) and error.file == str(path)
    assert "truncated .zst file" in error.error and "middle of a zstd frame" in error.error
    assert 0 < len(good) == error.records_before_error < len(lines)
    assert [r.payload for r in good] == lines[: len(good)]  # no partial last line


def test_empty_zst_is_reported(tmp_path):
    path = tmp_path / "RS_empty.zst"
    path.write_bytes(b"")
    [error] = read_dumps([str(path)])
    assert isinstance(error, FileError) and "empty .zst file" in error.error


def test_zst_of_several_frames_reads_every_frame(tmp_path):
    """`cat a.zst b.zst` is a valid zstd file; every frame's lines are read."""
    first = write_lines(tmp_path / "a.zst", LINES[:20]).read_bytes()
    second = write_lines(tmp_path / "b.zst", LINES[20:]).read_bytes()
    both = tmp_path / "RS_both.zst"
    both.write_bytes(first + second)
    recs = list(read_dumps([str(both)]))
    assert [r.payload for r in recs] == LINES


def test_folder_without_dumps_is_kept_to_be_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    assert expand([str(tmp_path / "empty")]) == [str(tmp_path / "empty")]
