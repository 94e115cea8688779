"""A build directory made from the fixture world, for the clean stage's tests and benchmarks.

In:  `World` pages (webtext.world.spec), optionally extra (url, status, headers, body) responses.
Out: a build with warc/*.warc.gz (one gzip member per record), fetch.parquet and urls.parquet
     as the crawl and source stages write them, so that clean/ can be tested without them.
     Bodies are exactly what the mini-web serves (`page_response`); the "lying_type" fault
     page gets PNG bytes under a text/html label, as the mini-web sends it.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from webtext.clean.warc import write_responses
from webtext.io import write_parquet
from webtext.layout import BuildLayout
from webtext.records import (
    FETCH_SCHEMA,
    URLS_SCHEMA,
    FetchedPage,
    FetchStatus,
    UrlRecord,
    records_to_table,
)
from webtext.world.spec import World, page_response

FETCHED_AT = "2024-05-01T12:00:00Z"

# Six lines of plain English prose that pass every quality rule: the tests' "good" document.
PROSE_LINES = [
    "The committee met on Tuesday to discuss the plan for the new library in the town centre.",
    "Members agreed that the building should have more space for children and for quiet study.",
    "Several residents asked whether the old reading room could be kept as it was before.",
    "The architect explained that the walls of that room are too weak to carry another floor.",
    "A decision on the budget will be taken at the next meeting, which is planned for March.",
    "Until then, the current library stays open with its usual hours on every weekday.",
]
PROSE = "\n".join(PROSE_LINES)


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    kind: str = "extra"


def png_bytes() -> bytes:
    """A small valid PNG (1x1 pixel): binary content for the lying_type page."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(
        b"IEND", b"")


def world_responses(world: World) -> list[Response]:
    """Every page of the world that a crawler fetches live with a body: content pages +
    lying_type (rotted pages answer only from the archives)."""
    out = []
    for page in world.pages:
        if page.kind == "rotted":
            continue
        if page.paragraphs:
            status, headers, body = page_response(page)
            out.append(Response(page.url, status, headers, body, page.kind))
        elif page.kind == "lying_type":
            body = png_bytes()
            out.append(Response(page.url, 200, [("Content-Type", "text/html"),
                                                ("Content-Length", str(len(body)))],
                                body, page.kind))
    return out


def write_build(root: Path, responses: list[Response], n_shards: int = 1,
                karma: int = 10) -> BuildLayout:
    """Write the responses round-robin into n_shards WARC files, with fetch and urls tables."""
    layout = BuildLayout(Path(root))
    shards: list[list[Response]] = [responses[i::n_shards] for i in range(n_shards)]
    fetched: list[FetchedPage] = []
    for i, shard in enumerate(shards):
        warc_file = f"warc/{i:05d}.warc.gz"
        offsets = write_responses(layout.root / warc_file,
                                  [(r.url, r.status, r.headers, r.body) for r in shard])
        for response, offset in zip(shard, offsets, strict=True):
            fetched.append(FetchedPage(
                url=response.url, final_url=response.url, status=FetchStatus.FETCHED,
                http_status=response.status, content_type=dict(response.headers).get(
                    "Content-Type"), n_bytes=len(response.body), fetched_at=FETCHED_AT,
                warc_file=warc_file, warc_offset=offset))
    write_parquet(layout.fetch, records_to_table(fetched, FETCH_SCHEMA))
    urls = [UrlRecord(url=r.url, domain=urlsplit(r.url).hostname or "", karma=karma + i,
                      karma_sum=2 * (karma + i), n_submissions=1)
            for i, r in enumerate(responses)]
    write_parquet(layout.urls, records_to_table(urls, URLS_SCHEMA))
    return layout


def _tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def token_prf(predicted: str, truth: str) -> tuple[int, int, int]:
    """(overlap, predicted tokens, true tokens): bag-of-words counts for precision/recall/F1.

    Tokens are lower-cased \\w+ runs; the overlap is the multiset intersection. Sum the three
    over pages and divide for corpus-level figures: P = overlap / predicted,
    R = overlap / true, F1 = 2PR / (P + R).
    """
    p, t = _tokens(predicted), _tokens(truth)
    return sum((p & t).values()), sum(p.values()), sum(t.values())
