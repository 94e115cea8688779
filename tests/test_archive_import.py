"""`webtext import-warc`: a folder of WARC files from other crawlers becomes a build's pages,
indexed with a standard CDXJ index, and `webtext clean` reads it like a crawl."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webtext.clean.warc import write_responses
from webtext.cli import main
from webtext.records import FETCH_SCHEMA
from webtext.world.archive import ArchiveService, world_captures

PARAS = ["The harbour town rebuilt its sea wall after the winter storms of that year. "
         "Engineers tested three designs before the council chose the cheapest one. " * 3] * 4
CAFE = "At the café near the river, a naïve señor ordered crème brûlée."


def page(title: str, extra: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in PARAS)
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"{body}<p>{extra}</p></article></body></html>")


@pytest.fixture()
def collection(tmp_path: Path, world) -> Path:
    """Another crawler's WARC files (warcio's writer, a record per gzip member, and one plain
    .warc in a sub-folder) beside a Common Crawl-format file from the fixture archive."""
    folder = tmp_path / "collection"
    html = [("Content-Type", "text/html; charset=utf-8")]
    write_responses(folder / "crawler-a.warc.gz", [
        ("http://a.test/story", 200, html, page("Old version").encode()),
        ("http://a.test/gone", 404, html, b"<html>not found</html>"),
        ("http://a.test/paper.pdf", 200, [("Content-Type", "application/pdf")], b"%PDF-1.4"),
        ("http://a.test/latin", 200, [("Content-Type", "text/html; charset=iso-8859-1")],
         page("Latin", CAFE).encode("iso-8859-1")),
    ])
    write_responses(folder / "later" / "crawler-b.warc.gz", [
        ("https://a.test/story", 200, html, page("New version").encode()),  # same URL key
    ])
    with open(folder / "later" / "plain.warc", "wb") as f:  # uncompressed
        writer = WARCWriter(f, gzip=False)
        writer.write_record(writer.create_warc_record(
            "http://b.test/one", "response", payload=BytesIO(page("Plain").encode()),
            http_headers=StatusAndHeaders("200 OK", html, protocol="HTTP/1.1")))
    service = ArchiveService(world_captures(world))
    name, data = next(iter(sorted(service.files.items())))
    (folder / "cc").mkdir()
    (folder / "cc" / Path(name).name).write_bytes(data)
    return folder


def test_a_warc_collection_becomes_a_build(tmp_path, collection, capsys):
    build = tmp_path / "build"
    assert main(["import-warc", str(build), str(collection)]) == 0
    table = pq.read_table(build / "fetch.parquet")
    assert table.schema.equals(FETCH_SCHEMA)
    rows = {r["url"]: r for r in table.to_pylist()}
    assert len(rows) == table.num_rows  # one row per URL
    story = [r for u, r in rows.items() if u.endswith("a.test/story")]
    assert len(story) == 1 and story[0]["url"] == "https://a.test/story"  # the latest capture
    assert rows["http://a.test/gone"]["status"] == "http_error"
    assert rows["http://a.test/paper.pdf"]["status"] == "not_html"
    assert rows["http://a.test/latin"]["status"] == "fetched"
    assert rows["http://b.test/one"]["status"] == "fetched"  # from the uncompressed .warc
    fetched = [r for r in rows.values() if r["status"] == "fetched"]
    assert all(r["archive"] == "warc" and r["archive_record_id"].startswith("<urn:uuid:")
               and r["warc_file"].startswith("warc/imported/") for r in fetched)
    cc = [r for r in rows.values() if "CC-MAIN" in r["warc_file"]]
    assert cc and all(r["archive_capture_time"] for r in cc)
    index = (build / "warc" / "imported" / "index.cdxj").read_text().splitlines()
    assert index == sorted(index) and all(" {" in line for line in index)

    assert main(["clean", str(build), "--set", "clean.workers=1"]) == 0
    docs = pq.read_table(build / "docs").to_pylist()
    by_url = {d["url"]: d for d in docs}
    assert set(by_url) == {r["url"] for r in fetched}  # every page is one document
    assert "New version" in (by_url["https://a.test/story"]["title"] or "")
    assert CAFE in by_url["http://a.test/latin"]["text"]  # the header's charset honoured


def test_bad_inputs_are_one_line_errors_and_lose_nothing(tmp_path, collection, capsys):
    build = tmp_path / "b"
    assert main(["import-warc", str(build), str(tmp_path / "missing")]) == 2
    assert "missing: no such file" in capsys.readouterr().err
    assert main(["import-warc", str(build), str(collection)]) == 0
    before = (build / "fetch.parquet").read_bytes()
    assert main(["import-warc", str(build), str(collection)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (build / "fetch.parquet").read_bytes() == before
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["import-warc", str(tmp_path / "c"), str(text)]) == 2
    assert "not a WARC file" in capsys.readouterr().err


def test_indexing_reports_progress_file_by_file(tmp_path, collection):
    from webtext.clean.warcimport import find_warcs, import_warcs

    events = []
    stats = import_warcs(tmp_path / "build", [str(collection)], ["text/html"], events.append)
    warcs = find_warcs([str(collection)])
    total = sum(p.stat().st_size for p in warcs)
    assert [e.phase for e in events] == ["index"] * (len(warcs) + 1)
    assert [e.total for e in events] == [total] * (len(warcs) + 1)
    done = [e.done for e in events]
    assert done[0] == 0 and done[-1] == total and done == sorted(done)
    assert events[-1].detail == f"{len(warcs)}/{len(warcs)} files"
    assert stats["warc_files"] == len(warcs)
