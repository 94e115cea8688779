"""One test per source drop reason, karma modes, and URL normalisation, on inline records."""

from __future__ import annotations

import json

import pytest

from webtext.crawl.config import SourceConfig
from webtext.crawl.dumps import RawRecord
from webtext.crawl.source import select_urls
from webtext.crawl.urlnorm import UrlNormalizer
from webtext.records import SourceDrop


def sub(**kw) -> dict:
    base = {"id": "a1", "subreddit": "news", "url": "http://site.test/story.html", "score": 10,
            "created_utc": 1546300800, "title": "t", "author": "u", "is_self": False,
            "over_18": False, "removed_by_category": None, "selftext": ""}
    base.update(kw)
    return base


def run(payloads, **cfg):
    stream = [RawRecord("inline", i, p if not isinstance(p, dict) else json.dumps(p).encode())
              for i, p in enumerate(payloads, 1)]
    rejected = []
    res = select_urls(stream, SourceConfig(**cfg), lambda f, n, r, d: rejected.append((n, r)))
    assert res.read == res.kept + sum(res.dropped.values())
    return res, rejected


CASES = [
    (SourceDrop.MALFORMED_JSON, b'{"id": "a1", "url": "http://site.test/', {}),
    (SourceDrop.INVALID_UTF8, b'{"id": "a1", "title": "caf\xe9"}', {}),
    (SourceDrop.WRONG_TYPE, sub(score="many"), {}),
    (SourceDrop.NOT_A_SUBMISSION, b"[1, 2, 3]", {}),
    (SourceDrop.MISSING_URL, {k: v for k, v in sub().items() if k != "url"}, {}),
    (SourceDrop.SELF_POST, sub(is_self=True, url="https://www.reddit.com/r/news/comments/a1/"), {}),
    (SourceDrop.REMOVED, sub(removed_by_category="moderator"), {}),
    (SourceDrop.NSFW, sub(over_18=True), {}),
    (SourceDrop.SUBREDDIT_DENIED, sub(subreddit="Pics"), {"subreddit_deny": ["pics"]}),
    (SourceDrop.BAD_URL, sub(url="javascript:alert(1)"), {}),
    (SourceDrop.BLOCKED_DOMAIN, sub(url="https://m.youtube.com/watch?v=x"), {}),
    (SourceDrop.BLOCKED_EXTENSION, sub(url="http://site.test/cat.JPG?size=large"), {}),
    (SourceDrop.WIKIPEDIA, sub(url="https://en.wikipedia.org/wiki/Reddit"), {}),
    (SourceDrop.LOW_KARMA, sub(score=2), {}),
]


def test_every_reason_has_a_case():
    assert {c[0] for c in CASES} == set(SourceDrop)


@pytest.mark.parametrize("reason, payload, cfg", CASES, ids=[c[0].value for c in CASES])
def test_drop_reason(reason, payload, cfg):
    res, rejected = run([payload], **cfg)
    assert res.dropped[reason] == 1
    assert res.kept == 0 and res.urls == []
    if reason is not SourceDrop.LOW_KARMA:  # karma is judged per URL, after aggregation
        assert rejected == [(1, reason)]


def test_subreddit_allow_list():
    res, _ = run([sub(id="1", subreddit="news"), sub(id="2", subreddit="pics",
                                                       url="http://b.test/")],
                 subreddit_allow=["News"])
    assert res.kept == 1 and res.dropped[SourceDrop.SUBREDDIT_DENIED] == 1


def test_switches_turn_rules_off():
    res, _ = run([sub(over_18=True), sub(id="2", url="https://en.wikipedia.org/wiki/X")],
                 drop_nsfw=False, drop_wikipedia=False)
    assert res.kept == 2


def test_karma_max_versus_sum():
    posts = [sub(id="1", score=2, subreddit="a"), sub(id="2", score=2, subreddit="b")]
    res_max, _ = run(posts, karma_mode="max")
    assert res_max.urls == [] and res_max.dropped[SourceDrop.LOW_KARMA] == 2
    res_sum, _ = run(posts, karma_mode="sum")
    (u,) = res_sum.urls
    assert (u.karma, u.karma_sum, u.n_submissions, u.subreddits) == (2, 4, 2, ["a", "b"])


def test_one_url_many_posts_aggregates():
    posts = [sub(id="1", score=1, subreddit="a", created_utc=300),
             sub(id="2", score=40, subreddit="b", created_utc=100),
             sub(id="3", score=5, subreddit="a", created_utc="200")]
    res, _ = run(posts)
    (u,) = res.urls
    assert u.karma == 40 and u.karma_sum == 46 and u.n_submissions == 3
    assert u.submission_ids == ["1", "2", "3"] and u.first_created_utc == 100
    assert u.subreddits == ["a", "b"] and res.kept == 3


def test_url_variants_merge():
    variants = ["HTTP://Site.TEST:80/a/b?utm_source=x&id=7#top", "http://site.test/a/b?id=7",
                "http://site.test/a/b?id=7&fbclid=zz", "http://site.test./a/b?id=7"]
    res, _ = run([sub(id=str(i), url=u) for i, u in enumerate(variants)])
    assert [u.url for u in res.urls] == ["http://site.test/a/b?id=7"]
    assert res.urls[0].n_submissions == 4


@pytest.mark.parametrize("url, expected", [
    ("http://a.test", "http://a.test/"),
    ("https://a.test:443/x", "https://a.test/x"),
    ("https://a.test:8443/x", "https://a.test:8443/x"),
    ("http://user:pw@A.test/P?q=1", "http://a.test/P?q=1"),
    ("http://a.test/x?ref=1&refresh=2", "http://a.test/x?refresh=2"),
    ("http://a.test/x?utm_campaign=1", "http://a.test/x"),
    ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ("ftp://a.test/x", None),
    ("http:///x", None),
    ("http://a.test/x y", None),
    ("http://a.test:99999/", None),
])
def test_normalize(url, expected):
    n = UrlNormalizer(SourceConfig().tracking_params)
    got = n.normalize(url)
    assert (got[0] if got else None) == expected
    if " " not in url:  # whitespace is refused before either path
        slow = n._normalize_slow(url)
        assert (slow[0] if slow else None) == expected  # the fast path agrees with urlsplit


def test_fast_path_agrees_with_urlsplit_on_many_variants():
    import itertools

    n = UrlNormalizer(SourceConfig().tracking_params)
    schemes = ["http://", "https://", "HTTP://", "ftp://"]
    hosts = ["a.test", "A.Test", "a.test.", "a.test:80", "a.test:443", "u:p@a.test", "[::1]",
             "a_b.test", "xn--bcher-kva.test", ""]
    rests = ["", "/", "/P/x.html", "?q=1", "/x?utm_source=a&b=2", "/x#f?g", "/x?a=1#f",
             "/x?ref=1&REF=2&spm=3", "/%7Euser/", "\\back"]
    checked = 0
    for s, h, r in itertools.product(schemes, hosts, rests):
        url = s + h + r
        assert n.normalize(url) == n._normalize_slow(url), url
        checked += 1
    assert checked == 400
