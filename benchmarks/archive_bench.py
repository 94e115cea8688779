"""Link-rot recovery throughput against loopback web archives (a script, not a test).

    python benchmarks/archive_bench.py [--pages 200] [--page-bytes 20000] [--rate 1000]
                                       [--rounds 2]

Prints, round by round (the two paths interleaved, so drift in the machine's speed hits both):
- recovered pages/s through the archive path: the crawler in archive-first mode, asking the
  fixture Common Crawl (collinfo, CDX, Range on WARC files) and Wayback Machine (CDX, `id_`)
  over loopback through its proxy, verifying each record and writing it to the build's WARC;
  timed inside the crawl process from just before Scrapy starts (start-up excluded);
- pages/s reading the same records directly with warcio from local WARC files (seek to each
  record, parse it, read the body): the floor of what any archive path can cost;
- their ratio (the issue's target: >= 0.5x);
- per archive service, the requests it received and their rate, from the service's own log
  (arrival times), and the busiest 1-second window, against the configured rate (`--rate`,
  the same for every service). The real services' rates are the config defaults
  (crawl/config.py: 1/s, 2/s, 0.25/s); at those, recovery is bound by the rates, not by CPU.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

from webtext.crawl.config import CrawlConfig
from webtext.crawl.stage import crawl_shard, plan_shards
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA
from webtext.world.archive import HOSTS, ArchiveService, _gzip, _warc_record, bench_captures
from webtext.world.miniweb import MiniWeb


def write_urls(build: Path, captures) -> None:
    rows = [dict(url=c.url, domain="gone.test", karma=5, karma_sum=5, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=int(c.when.timestamp()))
            for c in captures]
    build.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")


def run_archive(web: MiniWeb, service: ArchiveService, captures, rate: float,
                workdir: Path) -> dict:
    build = workdir / "build"
    shutil.rmtree(build, ignore_errors=True)
    write_urls(build, captures)
    service.reset()
    config = CrawlConfig(**(web.crawl_overrides() | {
        "autothrottle": False, "download_delay": 0.0, "archive_lookup": "first",
        "cc_index_rate": rate, "cc_data_rate": rate, "wayback_rate": rate,
        "concurrent_requests": 64, "progress_interval": 5.0}))
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
    args = parser.parse_args(argv)
    captures = bench_captures(args.pages, args.page_bytes)
    service = ArchiveService(captures)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as tmp, \
            MiniWeb(archive=service) as web:
        workdir = Path(tmp)
        warc = workdir / "local.warc.gz"
        offsets = local_warc(captures, warc)
        print(f"{args.pages} archived pages of ~{args.page_bytes} bytes (half Common Crawl, "
              f"half Wayback); every service allowed {args.rate:g} requests/s")
        for r in range(args.rounds):
            a = run_archive(web, service, captures, args.rate, workdir)
            rates = service_rates(service)
            w = run_warcio(warc, offsets)
            rate_a, rate_w = a["pages"] / a["seconds"], w["pages"] / w["seconds"]
            ratios.append(rate_a / rate_w)
            print(f"  round {r + 1}: archive path {rate_a:8.1f} pages/s ({a['pages']} "
                  f"recovered in {a['seconds']:.2f} s, {a['status']}); warcio local "
                  f"{rate_w:8.1f} pages/s; ratio {rate_a / rate_w:.3f}x")
            for name, s in rates.items():
                ok = "ok" if s["busiest_1s"] <= args.rate + 1 else "OVER"
                print(f"    {name:8s} {s['requests']:5d} requests, {s['rate']:7.1f}/s "
                      f"average, busiest second {s['busiest_1s']} (configured "
                      f"{args.rate:g}/s: {ok})")
    print(f"median ratio {statistics.median(ratios):.3f}x (target >= 0.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
