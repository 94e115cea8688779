"""How the URL list is cut into shards, and the order each shard fetches its URLs in.

In:  the `url` and `domain` columns of urls.parquet and a number of shards.
Out: per shard, its URLs in fetch order.

- A shard is chosen by a stable hash of the domain, so all URLs of one site are in one shard:
  per-site politeness (concurrency, delay, AutoThrottle, robots.txt) is enforced by one crawl
  process, not multiplied by the number of processes running side by side.
- Within a shard, URLs are interleaved round-robin over domains (the first URL of every site,
  then the second, ...), so that the start of the frontier spans many sites and per-site
  delays overlap instead of queueing behind one big site.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable


def shard_of(domain: str, shards: int) -> int:
    """The shard of a domain: stable across runs, processes and machines."""
    digest = hashlib.blake2b(domain.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def interleave_by_domain(rows: Iterable[tuple[str, str]]) -> list[str]:
    """URLs ordered round-robin over their domains (order within a domain is kept)."""
    by_domain: dict[str, list[str]] = defaultdict(list)
    for url, domain in rows:
        by_domain[domain].append(url)
    ranked = [(rank, domain, url) for domain, urls in by_domain.items()
              for rank, url in enumerate(urls)]
    ranked.sort(key=lambda t: (t[0], t[1]))
    return [url for _, _, url in ranked]


def split(rows: Iterable[tuple[str, str]], shards: int) -> list[list[str]]:
    """(url, domain) rows -> one fetch-ordered URL list per shard."""
    parts: list[list[tuple[str, str]]] = [[] for _ in range(shards)]
    seen: set[str] = set()
    for url, domain in rows:
        if url not in seen:  # urls.parquet is unique by contract; a repeat is fetched once
            seen.add(url)
            parts[shard_of(domain, shards)].append((url, domain))
    return [interleave_by_domain(part) for part in parts]
