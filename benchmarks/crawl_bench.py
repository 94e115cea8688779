"""Crawl throughput and memory against the local mini-web (a script, not a test).

    python benchmarks/crawl_bench.py [--pages 2000] [--page-bytes 50000] [--concurrency 32]
                                     [--memory-sizes 2000,8000] [--memory-page-bytes 5000]
                                     [--rounds 1]
    (the issue's figures: --pages 5000 --memory-sizes 5000,20000; ~10 min on a busy 2-core box)

Prints, from one run on one machine:
- pages/s of webtext's crawler (robots.txt, guard, retries, WARC + status log + fsync) and of
  a bare Scrapy spider that writes nothing, both through the same loopback proxy with the same
  concurrency and no throttle, alternated `--rounds` times; the ratio is the figure to watch
  (target >= 0.8x). The machine's speed drifts between runs, so each round's ratio (bare and
  webtext back to back) is printed, and their median beside the ratio of the totals;
- peak RSS of the crawl subprocess for each of --memory-sizes URL counts (it should stay flat:
  the spider keeps at most `frontier_size` requests in the scheduler). These runs serve
  smaller pages (--memory-page-bytes): what could grow with the URL count is per-URL state,
  not the page size, and small pages keep the run short.
Timings are taken inside each crawl process, from just before Scrapy starts to its end, so
interpreter start-up is excluded for both.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.crawl.config import CrawlConfig
from webtext.crawl.stage import crawl_shard, plan_shards
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA
from webtext.world.miniweb import MiniWeb


def bare_child(url_file: str, proxy: str, concurrency: int) -> None:
    """A bare Scrapy spider: fetch every URL through the proxy, keep nothing."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = Path(url_file).read_text().split()

    class Bare(scrapy.Spider):
        name = "bare"
        pages = 0

        async def start(self):
            for url in urls:
                yield scrapy.Request(url, dont_filter=True, meta={"proxy": f"http://{proxy}"})

        def parse(self, response):
            Bare.pages += 1

    settings = {
        "CONCURRENT_REQUESTS": concurrency, "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False, "LOG_LEVEL": "WARNING",
        "COOKIES_ENABLED": False,
    }
    started = time.monotonic()
    cpu = _cpu_seconds()
    process = CrawlerProcess(settings=settings)
    process.crawl(Bare)
    process.start()
    print(json.dumps({"pages": Bare.pages, "seconds": time.monotonic() - started,
                      "cpu_seconds": _cpu_seconds() - cpu,
                      "max_rss_kb": peak_rss_kb()}))


def peak_rss_kb() -> int:
    from webtext.crawl.runner import peak_rss_kb as own_peak

    return own_peak()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_bare(web: MiniWeb, urls: list[str], concurrency: int, workdir: Path) -> dict:
    url_file = workdir / "bare-urls.txt"
    url_file.write_text("\n".join(urls))
    out = subprocess.run([sys.executable, __file__, "--bare-child", str(url_file), web.address,
                          str(concurrency)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_webtext(web: MiniWeb, urls: list[str], concurrency: int, workdir: Path,
                **overrides: object) -> dict:
    """webtext's crawl of `urls` (one shard process); its own final message has the figures."""
    build = workdir / f"build-{len(urls)}-{time.monotonic_ns()}"
    build.mkdir()
    rows = [dict(url=u, domain="bench.test", karma=3, karma_sum=3, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=0) for u in urls]
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")
    config = CrawlConfig(**web.crawl_overrides(), autothrottle=False, download_delay=0.0,
                         concurrent_requests=concurrency, concurrent_per_domain=concurrency,
                         log_level="WARNING", **overrides)
    layout = BuildLayout(build)
    plan_shards(layout, 1)
    final = crawl_shard(layout, config, 0)
    result = {"pages": final["status"].get("fetched", 0), "seconds": final["seconds"],
              "cpu_seconds": final["cpu_seconds"] - final["startup_cpu_seconds"],
              "max_rss_kb": final["max_rss_kb"],
              "warc_bytes": sum(p.stat().st_size for p in (build / "warc").glob("*.warc.gz"))}
    shutil.rmtree(build)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--page-bytes", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--memory-sizes", default="2000,8000")
    parser.add_argument("--memory-page-bytes", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--gzip-level", type=int, default=None,
                        help="crawl.warc_gzip_level for webtext's runs (default: the config's)")
    parser.add_argument("--bare-child", nargs=3, metavar=("URL_FILE", "PROXY", "CONC"))
    args = parser.parse_args(argv)
    if args.bare_child:
        bare_child(args.bare_child[0], args.bare_child[1], int(args.bare_child[2]))
        return 0
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    level = {"warc_gzip_level": args.gzip_level} if args.gzip_level else {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with MiniWeb(bench_pages=args.pages, bench_page_bytes=args.page_bytes) as web:
            urls = web.bench_urls()
            print(f"{args.pages} pages of ~{args.page_bytes // 1000} KB, {args.concurrency} "
                  "concurrent requests, no throttle, through the loopback proxy", flush=True)
            ours, bare = [], []
            for r in range(args.rounds):
                bare.append(run_bare(web, urls, args.concurrency, workdir))
                ours.append(run_webtext(web, urls, args.concurrency, workdir, **level))
                b, o = bare[-1], ours[-1]
                print(f"  round {r + 1}: bare scrapy {b['pages'] / b['seconds']:7.1f} pages/s"
                      f"   webtext {o['pages'] / o['seconds']:7.1f} pages/s   ratio "
                      f"{o['pages'] / o['seconds'] / (b['pages'] / b['seconds']):.2f}x   "
                      f"CPU ms/page: bare {1000 * b['cpu_seconds'] / b['pages']:.1f}, "
                      f"webtext {1000 * o['cpu_seconds'] / o['pages']:.1f}", flush=True)
            rate_b = sum(b["pages"] for b in bare) / sum(b["seconds"] for b in bare)
            rate_o = sum(o["pages"] for o in ours) / sum(o["seconds"] for o in ours)
            cpu_b = sum(b["cpu_seconds"] for b in bare) / sum(b["pages"] for b in bare)
            cpu_o = sum(o["cpu_seconds"] for o in ours) / sum(o["pages"] for o in ours)
            ratios = [(o["pages"] / o["seconds"]) / (b["pages"] / b["seconds"])
                      for b, o in zip(bare, ours, strict=True)]
            print(f"throughput: bare scrapy {rate_b:.1f} pages/s, webtext {rate_o:.1f} "
                  f"pages/s, ratio {rate_o / rate_b:.2f}x over all rounds, median of the "
                  f"rounds' ratios {statistics.median(ratios):.2f}x (target >= 0.80x)")
            print(f"CPU per page: bare scrapy {1000 * cpu_b:.2f} ms, webtext {1000 * cpu_o:.2f} "
                  f"ms: pages/s per CPU ratio {cpu_b / cpu_o:.2f}x (independent of the "
                  "machine's other load)")
            print(f"peak RSS at {args.pages} URLs: bare {bare[-1]['max_rss_kb'] / 1024:.0f} "
                  f"MiB, webtext {ours[-1]['max_rss_kb'] / 1024:.0f} MiB", flush=True)
        if sizes:
            with MiniWeb(bench_pages=max(sizes), bench_page_bytes=args.memory_page_bytes) as web:
                for n in sizes:
                    res = run_webtext(web, web.bench_urls()[:n], args.concurrency, workdir,
                                      **level)
                    print(f"memory: {n:6d} URLs of ~{args.memory_page_bytes // 1000} KB -> "
                          f"peak RSS {res['max_rss_kb'] / 1024:6.0f} MiB "
                          f"({res['pages'] / res['seconds']:.0f} pages/s, "
                          f"{res['warc_bytes'] / 1e6:.0f} MB of WARC)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
