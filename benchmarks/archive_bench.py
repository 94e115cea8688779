"""Link-rot recovery throughput against loopback web archives (a script, not a test).

    python benchmarks/archive_bench.py [--pages 200] [--page-bytes 20000] [--rate 1000]
                                       [--rounds 2] [--concurrency 32] [--floor-connections 8]

Prints, round by round (the paths interleaved, so drift in the machine's speed hits both):
- recovered pages/s through the archive path: the crawler in archive-first mode, asking the
  fixture Common Crawl (collinfo, CDX, Range on WARC files) and Wayback Machine (CDX, `id_`)
  over loopback through its proxy, verifying each record and writing it to the build's WARC;
  timed inside the crawl process from just before Scrapy starts (start-up excluded);
- pages/s reading the same records directly with warcio from local WARC files (seek to each
  record, parse it, read the body), after one untimed pass so the file is in the page cache:
  the floor of what any archive path can cost;
- their ratio (the issue's target: >= 0.5x);
- the loopback floor: pages/s when each page costs exactly one HTTP request (Common Crawl:
  its Range request; Wayback: its `id_` capture) over `--floor-connections` kept-alive
  connections (a thread each, in a process of its own) with the standard library's
  http.client: no CDX lookup, no verification, no WARC written, the record then parsed as in
  the warcio path. An archive path needs at least this request per page, plus its lookups,
  so this rate's ratio to warcio is about the most any design reaches on this machine
  against this server (8 connections was the fastest of 1 to 32 here);
- the live peer: pages/s of the same crawler fetching as many live pages of the same size
  (one request each, no archive), and the requests/s each path sent through Scrapy: the
  archive path needs three requests per page (a CDX query in each archive, then the record),
  so at the same cost per request it recovers a third of the live rate;
- per archive service, the requests it received and their rate, from the service's own log
  (arrival times), and the busiest 1-second window, against the configured rate (`--rate`,
  the same for every service). The real services' rates are the config defaults
  (crawl/config.py: 1/s, 2/s, 0.25/s); at those, recovery is bound by the rates, not by CPU.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from crawl_bench import run_webtext
from warcio.archiveiterator import ArchiveIterator

from webtext.crawl.config import CrawlConfig
from webtext.crawl.stage import crawl_shard, plan_shards
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA
from webtext.world.archive import (
    CC_DATA_HOST,
    HOSTS,
    WAYBACK_HOST,
    ArchiveService,
    _gzip,
    _warc_record,
    bench_captures,
)
from webtext.world.miniweb import MiniWeb


def write_urls(build: Path, captures) -> None:
    rows = [dict(url=c.url, domain="gone.test", karma=5, karma_sum=5, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=int(c.when.timestamp()))
            for c in captures]
    build.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")


def run_archive(web: MiniWeb, service: ArchiveService, captures, rate: float,
                concurrency: int, workdir: Path) -> dict:
    build = workdir / "build"
    shutil.rmtree(build, ignore_errors=True)
    write_urls(build, captures)
    service.reset()
    config = CrawlConfig(**(web.crawl_overrides() | {
        "autothrottle": False, "download_delay": 0.0, "archive_lookup": "first",
        "cc_index_rate": rate, "cc_data_rate": rate, "wayback_rate": rate,
        "concurrent_requests": concurrency, "concurrent_per_domain": concurrency,
        "progress_interval": 5.0}))
    layout = BuildLayout(build)
    plan_shards(layout, 1)
    final = crawl_shard(layout, config, 0)
    recovered = sum(n for s, n in final["status"].items() if s.startswith("archived_"))
    return {"pages": recovered, "seconds": final["seconds"], "status": final["status"]}


def local_warc(captures, path: Path) -> list[int]:
    """The same records as one local WARC file (a gzip member each); their offsets."""
    offsets = []
    with open(path, "wb") as f:
        for n, c in enumerate(captures):
            offsets.append(f.tell())
            f.write(_gzip(_warc_record(c, f"<urn:uuid:{n:08d}>")))
    return offsets


def run_warcio(path: Path, offsets: list[int]) -> dict:
    started = time.perf_counter()
    n = 0
    with open(path, "rb") as f:
        for offset in offsets:
            f.seek(offset)
            record = next(iter(ArchiveIterator(f)))
            body = record.content_stream().read()
            n += bool(body) and record.http_headers.get_statuscode() == "200"
    return {"pages": n, "seconds": time.perf_counter() - started}


def floor_requests(service: ArchiveService, captures) -> list[tuple[str, dict[str, str]]]:
    """The one request that fetches each capture's bytes (no lookup before it)."""
    rows = {row["url"]: row for crawl in service.cc_rows.values() for row in crawl}
    out = []
    for c in captures:
        if c.archive == "cc":
            row = rows[c.url]
            first = int(row["offset"])
            last = first + int(row["length"]) - 1
            out.append((f"http://{CC_DATA_HOST}/{row['filename']}",
                        {"Range": f"bytes={first}-{last}"}))
        else:
            out.append((f"http://{WAYBACK_HOST}/web/{c.timestamp}id_/{c.url}", {}))
    return out


def floor_child(port: int, request_file: str, connections: int) -> None:
    """Send the requests over `connections` kept-alive connections, one thread each (its own
    process, as the crawler is: client and server do not share one interpreter lock); print
    pages and seconds."""
    requests = json.loads(Path(request_file).read_text())

    def send(part: list) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        n = 0
        for url, headers in part:
            conn.request("GET", url, headers=headers)
            reply = conn.getresponse()
            data = reply.read()
            if reply.status == 206:
                record = next(iter(ArchiveIterator(io.BytesIO(data))))
                data = record.content_stream().read()
            n += bool(data) and reply.status in (200, 206)
        conn.close()
        return n

    parts = [requests[i::connections] for i in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        n = sum(pool.map(send, parts))
    print(json.dumps({"pages": n, "seconds": time.perf_counter() - started}))


def run_floor(web: MiniWeb, requests, connections: int, workdir: Path) -> dict:
    request_file = workdir / "floor-requests.json"
    request_file.write_text(json.dumps(requests))
    out = subprocess.run([sys.executable, __file__, "--floor-child", str(web.port),
                          str(request_file), str(connections)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def service_rates(service: ArchiveService) -> dict[str, dict]:
    out = {}
    for name in sorted(set(HOSTS.values())):
        times = [t for t, _, _ in service.requests(name)]
        if len(times) < 2:
            out[name] = {"requests": len(times), "rate": 0.0, "busiest_1s": len(times)}
            continue
        busiest = max(sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times))
        out[name] = {"requests": len(times),
                     "rate": (len(times) - 1) / (times[-1] - times[0]), "busiest_1s": busiest}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--page-bytes", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="requests/s allowed to each archive service")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32,
                        help="requests in flight, in all and per service (and per live site)")
    parser.add_argument("--floor-connections", type=int, default=8)
    parser.add_argument("--floor-child", nargs=3, metavar=("PORT", "REQUEST_FILE", "CONNS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_child:
        floor_child(int(args.floor_child[0]), args.floor_child[1], int(args.floor_child[2]))
        return 0
    captures = bench_captures(args.pages, args.page_bytes)
    service = ArchiveService(captures)
    ratios: list[float] = []
    floors: list[float] = []
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as tmp, \
            MiniWeb(archive=service, bench_pages=args.pages,
                    bench_page_bytes=args.page_bytes) as web:
        workdir = Path(tmp)
        warc = workdir / "local.warc.gz"
        offsets = local_warc(captures, warc)
        run_warcio(warc, offsets)  # untimed: the file into the page cache, warcio imported
        requests = floor_requests(service, captures)
        print(f"{args.pages} archived pages of ~{args.page_bytes} bytes (half Common Crawl, "
              f"half Wayback); every service allowed {args.rate:g} requests/s")
        for r in range(args.rounds):
            a = run_archive(web, service, captures, args.rate, args.concurrency, workdir)
            rates = service_rates(service)
            w = run_warcio(warc, offsets)
            f = run_floor(web, requests, args.floor_connections, workdir)
            live = run_webtext(web, web.bench_urls(), args.concurrency, workdir)
            rate_a, rate_w = a["pages"] / a["seconds"], w["pages"] / w["seconds"]
            rate_f = f["pages"] / f["seconds"]
            ratios.append(rate_a / rate_w)
            floors.append(rate_f / rate_w)
            print(f"  round {r + 1}: archive path {rate_a:8.1f} pages/s ({a['pages']} "
                  f"recovered in {a['seconds']:.2f} s, {a['status']}); warcio local "
                  f"{rate_w:8.1f} pages/s; ratio {rate_a / rate_w:.3f}x")
            print(f"    loopback floor (1 request/page, nothing else) {rate_f:8.1f} pages/s "
                  f"({f['pages']} pages); its ratio to warcio {rate_f / rate_w:.3f}x; "
                  f"the archive path is {rate_a / rate_f:.3f}x of it; "
                  f"{sum(s['requests'] for s in rates.values()) / max(1, a['pages']):.2f} "
                  f"requests per recovered page")
            n_requests = sum(s["requests"] for s in rates.values())
            print(f"    live peer: the same crawler, {live['pages']} live pages of the same "
                  f"size, {live['pages'] / live['seconds']:8.1f} pages/s = requests/s; the "
                  f"archive path sent {n_requests / a['seconds']:8.1f} requests/s")
            for name, s in rates.items():
                ok = "ok" if s["busiest_1s"] <= args.rate + 1 else "OVER"
                print(f"    {name:8s} {s['requests']:5d} requests, {s['rate']:7.1f}/s "
                      f"average, busiest second {s['busiest_1s']} (configured "
                      f"{args.rate:g}/s: {ok})")
    print(f"median ratio {statistics.median(ratios):.3f}x (target >= 0.5x); median loopback "
          f"floor {statistics.median(floors):.3f}x (the most any path making one request per "
          f"page reaches here)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
