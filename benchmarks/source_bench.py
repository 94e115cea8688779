"""Source stage throughput: submissions/s and peak memory on a generated Pushshift-style dump.

Usage: python benchmarks/source_bench.py [--records 1000000] [--unique-urls 200000]

Generates a `.zst` dump (2 GiB window, as Pushshift's) of realistic submission objects (link
posts over many domains, self posts, NSFW, removed, blocked hosts, tracking parameters), then
runs the source stage over it in a fresh subprocess, on one core, and prints submissions/s and
the subprocess's peak RSS. Target (issue 2): >= 100k submissions/s on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBS = ["news", "worldnews", "technology", "science", "programming", "politics", "gaming",
        "movies", "Futurology", "TrueReddit", "economics", "space", "books", "history"]


def generate(path: Path, n: int, unique_urls: int, seed: int = 0) -> None:
    from webtext.world.dumps import write_lines

    rng = random.Random(seed)
    domains = [f"site{i}.example" for i in range(5000)] + ["i.imgur.com", "youtube.com",
                                                         "en.wikipedia.org", "i.redd.it"]
    lines = []
    for i in range(n):
        sid = f"{i:07x}"
        sub = rng.choice(SUBS)
        u = rng.randrange(unique_urls)
        dom = domains[u % len(domains)]
        url = f"https://{dom}/{2015 + u % 6}/{u % 12 + 1:02d}/article-{u}.html"
        if rng.random() < 0.2:
            url += "?utm_source=reddit&utm_medium=social"
        obj = {
            "id": sid, "name": f"t3_{sid}", "subreddit": sub, "subreddit_id": "t5_2qh13",
            "author": f"user{rng.randrange(100000)}",
            "title": f"Post title number {i} about things",
            "selftext": "", "url": url, "domain": dom,
            "permalink": f"/r/{sub}/comments/{sid}/post_title_number_{i}/",
            "score": int(rng.paretovariate(1.2)) - 1, "num_comments": rng.randrange(500),
            "created_utc": 1420070400 + rng.randrange(6 * 365 * 86400),
            "is_self": rng.random() < 0.1, "over_18": rng.random() < 0.03, "stickied": False,
            "removed_by_category": "moderator" if rng.random() < 0.05 else None,
            "crosspost_parent": None,
        }
        lines.append(json.dumps(obj).encode())
    write_lines(path, lines)


CHILD = """
import json, sys, time
from webtext.crawl.config import SourceConfig
from webtext.crawl.dumps import read_dumps
from webtext.crawl.source import select_urls
t = time.perf_counter()
res = select_urls(read_dumps([sys.argv[1]]), SourceConfig())
dt = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would include the size of
# this benchmark's own process (which holds the generated dump) at fork time.
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"read": res.read, "kept": res.kept, "urls": len(res.urls), "seconds": dt,
                  "peak_rss_mb": int(hwm) / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--unique-urls", type=int, default=200_000)
    ap.add_argument("--format", choices=["zst", "jsonl", "gz"], default="zst",
                    help="dump format (zst: Pushshift's, with its 2 GiB window)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"RS_bench.{args.format}"
        t = time.perf_counter()
        generate(path, args.records, args.unique_urls)
        print(f"generated {args.records:,} submissions ({path.stat().st_size / 1e6:.1f} MB zst) "
              f"in {time.perf_counter() - t:.1f} s")
        # One core: pin the child to CPU 0 where the OS allows it.
        pin = ["taskset", "-c", "0"] if os.path.exists("/usr/bin/taskset") else []
        out = subprocess.run(pin + [sys.executable, "-c", CHILD, str(path)], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"read {r['read']:,} submissions, kept {r['kept']:,}, {r['urls']:,} URLs")
        print(f"throughput: {r['read'] / r['seconds']:,.0f} submissions/s on one core "
              f"({r['seconds']:.2f} s; target >= 100,000/s)")
        note = "; includes the zstd window (up to 2 GiB)" if args.format == "zst" else ""
        per_url = r["peak_rss_mb"] * 1e3 / max(r["urls"], 1)
        print(f"peak RSS of the source process: {r['peak_rss_mb']:.0f} MB "
              f"({per_url:.1f} KB per unique URL kept{note})")


if __name__ == "__main__":
    main()
