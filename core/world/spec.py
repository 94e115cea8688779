"""The fixture world: a deterministic, generated stand-in for Reddit and the web it links to.

`World.generate(seed)` returns every page of the mini-web (with its true article body and the
fetch status a correct crawler must give it) and every submission of the Reddit dump (with the
drop reason a correct source stage must give it). Tests assert exact counts from these
intentions, which are written down as each item is generated, never by re-running the code
under test. `World.expected()` is the machine-readable summary (also written as `world.json`).

All hosts are under the reserved `.test` top-level domain: the crawler's loopback mode routes
them to the mini-web on 127.0.0.1; hosts outside `.test` (reddit, imgur, ...) appear only in
submissions that the source stage drops.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from webtext.world import html as H
from webtext.world import text as T

ARTICLE_SITES = (
    "dailyreport.test", "techweekly.test", "citynews.test", "sciencedesk.test",
    "opinionpost.test", "longreads.test", "devjournal.test", "worldwire.test",
)
SYNDICATION_SITES = ("newsagg.test", "reposter.test", "feedmirror.test", "syndicate.test")
SPAM_SITES = ("bestdeals.test", "casino-news.test")
FOREIGN_SITES = {"de": "zeitung.test", "fr": "journal.test", "es": "periodico.test"}
ROBOTS_SITE = "members.test"  # robots.txt disallows /private/
FAULT_SITE = "flaky.test"
SUBREDDITS = ("news", "technology", "science", "worldnews", "programming", "python",
              "TrueReddit", "Foodforthought", "DepthHub", "longreads")

# Faults served by the mini-web and the terminal status a correct crawler gives each.
FAULTS: dict[str, tuple[str, int | None]] = {
    "http_404": ("http_error", 404),
    "http_410": ("http_error", 410),
    "http_500": ("http_error", 500),  # fails every time: retries exhaust
    "flaky_503": ("fetched", 200),  # 503 twice, then the article: retries recover it
    "slow": ("timeout", None),  # answers after longer than any test's download timeout
    "reset": ("connection_error", None),  # TCP reset before any response
    "redirect_chain": ("fetched", 200),  # 301 -> 302 -> 307 -> article
    "redirect_loop": ("too_many_redirects", None),
    "oversize": ("too_large", None),  # 6 MiB of HTML
    "gzip_bomb": ("too_large", None),  # ~200 KiB gzip that inflates to 256 MiB
    "pdf": ("not_html", 200),
    "image": ("not_html", 200),
    "lying_type": ("fetched", 200),  # says text/html, sends PNG bytes (clean must reject)
    "redirect_unknown_host": ("dns_error", None),  # to a .test host that does not exist
    "redirect_private": ("blocked_address", None),  # to http://10.0.0.1/, never contacted
}

# Link rot: pages that are dead on the live web and (mostly) survive in the web archives that
# core/world/archive.py serves. ROTTED_SITE answers 404 for them; DEAD_SITE is in no host map
# (a DNS failure). Each case: (host, live status, live HTTP code, status with archive_lookup
# "dead"); archive.py places the captures each case names.
ROTTED_SITE = "oldnews.test"
DEAD_SITE = "defunct.test"
ROTTED: dict[str, tuple[str, str, int | None, str]] = {
    "both_cc_closer": (ROTTED_SITE, "http_error", 404, "archived_cc"),
    "both_ia_closer": (ROTTED_SITE, "http_error", 404, "archived_ia"),
    "cc_only": (ROTTED_SITE, "http_error", 404, "archived_cc"),
    "ia_only": (ROTTED_SITE, "http_error", 404, "archived_ia"),
    "neither": (ROTTED_SITE, "http_error", 404, "http_error"),
    "ia_redirect": (ROTTED_SITE, "http_error", 404, "archived_ia"),
    "cc_redirect": (ROTTED_SITE, "http_error", 404, "archived_cc"),
    "cc_not_html": (ROTTED_SITE, "http_error", 404, "http_error"),
    "cc_truncated": (ROTTED_SITE, "http_error", 404, "http_error"),
    "cc_truncated_ia_later": (ROTTED_SITE, "http_error", 404, "archived_ia"),
    "ia_before_only": (ROTTED_SITE, "http_error", 404, "archived_ia"),
    "dead_host_cc": (DEAD_SITE, "dns_error", None, "archived_cc"),
    "dead_host_ia": (DEAD_SITE, "dns_error", None, "archived_ia"),
}

CHARSET_SENTENCE = (
    "At the café near the Champs-Élysées, a naïve señor from Zürich ordered crème brûlée "
    "and paid with a crisp note, à la française."
)


@dataclass
class Page:
    """One URL of the mini-web and what a correct pipeline makes of it."""

    host: str
    path: str
    kind: str  # article, syndicated, spam, short, foreign, charset_header, charset_meta,
    #            low_karma, robots, or a FAULTS key
    fetch_status: str  # expected FetchStatus value
    http_status: int | None
    title: str = ""
    paragraphs: list[str] = field(default_factory=list)  # the true article body
    lang: str = "en"
    charset: str = "utf-8"
    charset_in: str = "header"  # where the charset is declared: header, meta
    group: str | None = None  # near-duplicate group (syndicated copies of one story)
    template: int = 0
    case: str | None = None  # rotted pages: the ROTTED case
    recovered_status: str | None = None  # rotted pages: the status with archive recovery
    submitted_utc: int = 0  # rotted pages: created_utc of its (only) submission

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"

    @property
    def body(self) -> str:
        """The true main text: paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)

    def html(self, seed: int = 0) -> str:
        if self.kind == "short":
            return H.render_short(self.host, self.title, self.body)
        related = [(f"/story/{i}", f"Another story number {i}") for i in range(1, 5)]
        meta = self.charset if self.charset_in == "meta" else None
        return H.render_article(
            site=self.host, title=self.title, paragraphs=self.paragraphs,
            template=self.template, related=related, lang=self.lang, meta_charset=meta,
            seed=seed + hash_str(self.path),
        )


def hash_str(s: str) -> int:
    """A deterministic small hash (Python's hash() is salted per process)."""
    h = 0
    for ch in s.encode():
        h = (h * 131 + ch) % 1_000_003
    return h


@dataclass
class Post:
    """One line of the dump and what the source stage must do with it."""

    raw: bytes  # the exact line, without the newline
    expect: str  # "kept" or a SourceDrop value (karma_mode = max)
    expect_sum: str  # the same under karma_mode = sum
    url: str | None = None  # the normalised URL it contributes to when kept
    month: str = "2019-01"


class World:
    """Every page and every submission of the fixture world."""

    def __init__(self, seed: int = 0, n_articles: int = 60):
        self.seed = seed
        self.rng = random.Random(seed)
        self.pages: list[Page] = []
        self.posts: list[Post] = []
        self._paragraphs = list(T.prose_paragraphs())
        random.Random(seed).shuffle(self._paragraphs)
        self._next_para = 0
        self._id = 0
        self._build_pages(n_articles)
        self._build_posts()
        self._build_rotted()

    # ---------------------------------------------------------------- pages
    def _take(self, n: int, ascii_only: bool = False) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            para = self._paragraphs[self._next_para % len(self._paragraphs)]
            self._next_para += 1
            if para.isascii() or not ascii_only:
                out.append(para)
        return out

    def _title(self, paragraph: str) -> str:
        words = [w.strip('.,;:"()') for w in paragraph.split()[:8]]
        return " ".join(w for w in words if w).capitalize()

    def _article(self, host: str, kind: str, n_paras: int, **kw: Any) -> Page:
        # Pages served in a legacy charset get ASCII paragraphs plus CHARSET_SENTENCE, so
        # that every character of their body is encodable in that charset.
        paras = self._take(n_paras, ascii_only="charset" in kw)
        year, month = 2018 + self.rng.randint(0, 2), self.rng.randint(1, 12)
        slug = f"/{year}/{month:02d}/story-{len(self.pages):04d}.html"
        page = Page(host=host, path=kw.pop("path", slug), kind=kind,
                    fetch_status=kw.pop("fetch_status", "fetched"),
                    http_status=kw.pop("http_status", 200), title=self._title(paras[0]),
                    paragraphs=paras, template=len(self.pages), **kw)
        self.pages.append(page)
        return page

    def _build_pages(self, n_articles: int) -> None:
        rng = self.rng
        for i in range(n_articles):
            self._article(ARTICLE_SITES[i % len(ARTICLE_SITES)], "article", rng.randint(6, 10))
        # Syndicated stories: an original plus copies on other sites, one copy identical in
        # text (an exact duplicate), the others with a few words edited (near duplicates).
        for g in range(4):
            original = self._article(ARTICLE_SITES[g], "syndicated", 8, group=f"story-{g}")
            for j, site in enumerate(SYNDICATION_SITES[:3]):
                edit_rng = random.Random(self.seed * 1000 + g * 10 + j)
                paras = list(original.paragraphs) if j == 0 else [
                    T.small_edit(p, edit_rng, 1) for p in original.paragraphs
                ]
                self.pages.append(Page(
                    host=site, path=f"/syndicated/{g}/{j}/{original.path.rsplit('/', 1)[-1]}",
                    kind="syndicated", fetch_status="fetched", http_status=200,
                    title=original.title, paragraphs=paras, group=f"story-{g}",
                    template=len(self.pages)))
        for i in range(12):
            paras = T.spam_paragraphs(rng, 4)
            self.pages.append(Page(host=SPAM_SITES[i % 2], path=f"/deal-{i}.html", kind="spam",
                                   fetch_status="fetched", http_status=200,
                                   title="Best deals online today", paragraphs=paras,
                                   template=len(self.pages)))
        for i in range(6):
            self.pages.append(Page(host=ARTICLE_SITES[i], path=f"/brief/{i}.html", kind="short",
                                   fetch_status="fetched", http_status=200,
                                   title="Page moved", paragraphs=["This page has moved."]))
        for i, (lang, host) in enumerate(sorted(FOREIGN_SITES.items()) * 2):
            paras = T.foreign_paragraphs(lang, rng, 6)
            self.pages.append(Page(host=host, path=f"/artikel/{i}.html", kind="foreign",
                                   fetch_status="fetched", http_status=200,
                                   title=paras[0][:40], paragraphs=paras, lang=lang,
                                   template=len(self.pages)))
        for i, (charset, where) in enumerate(
            [("iso-8859-1", "header"), ("windows-1252", "header"),
             ("iso-8859-1", "meta"), ("windows-1252", "meta")]
        ):
            page = self._article(ARTICLE_SITES[i], f"charset_{where}", 6,
                                 charset=charset, charset_in=where)
            page.paragraphs[1] = page.paragraphs[1] + " " + CHARSET_SENTENCE
        for _ in range(10):
            self._article(ARTICLE_SITES[self.rng.randrange(len(ARTICLE_SITES))], "low_karma", 6)
        for i in range(3):
            self._article(ROBOTS_SITE, "robots", 6, path=f"/private/report-{i}.html",
                          fetch_status="robots_denied", http_status=None)
        for name, (status, code) in FAULTS.items():
            if name in ("flaky_503", "redirect_chain"):
                self._article(FAULT_SITE, name, 6, path=f"/fault/{name}",
                              fetch_status=status, http_status=code)
            else:
                self.pages.append(Page(host=FAULT_SITE, path=f"/fault/{name}", kind=name,
                                       fetch_status=status, http_status=code))

    def _build_rotted(self) -> None:
        """Dead pages linked in 2016-2017 (WebText's years), built after everything else with
        a generator of their own, so every other page and post is as it was without them."""
        rng = random.Random(self.seed * 7919 + 17)
        for i, (case, (host, status, code, recovered)) in enumerate(ROTTED.items()):
            year = 2016 + i % 2
            created = int(datetime(year, 1 + (i * 5) % 12, 3 + i, 12, tzinfo=UTC).timestamp())
            paras = self._take(rng.randint(6, 9))
            page = Page(host=host, path=f"/{year}/{case.replace('_', '-')}.html", kind="rotted",
                        fetch_status=status, http_status=code, title=self._title(paras[0]),
                        paragraphs=paras, template=len(self.pages), case=case,
                        recovered_status=recovered, submitted_utc=created)
            self.pages.append(page)
            self._id += 1
            sid = f"r{self._id:05x}"
            sub = SUBREDDITS[i % len(SUBREDDITS)]
            self._add({"id": sid, "name": f"t3_{sid}", "subreddit": sub, "author": "user_rot",
                       "title": page.title, "selftext": "", "url": page.url, "domain": host,
                       "permalink": f"/r/{sub}/comments/{sid}/rot/", "score": 10 + i,
                       "num_comments": 3, "created_utc": created, "is_self": False,
                       "over_18": False, "stickied": False, "removed_by_category": None,
                       "crosspost_parent": None}, "kept", url=page.url)

    def page_by_url(self) -> dict[str, Page]:
        return {p.url: p for p in self.pages}

    # ---------------------------------------------------------------- posts
    def _submission(self, **fields: Any) -> dict[str, Any]:
        self._id += 1
        sid = f"{self._id:06x}"
        sub = fields.pop("subreddit", self.rng.choice(SUBREDDITS))
        created = fields.pop("created_utc", 1514764800 + self.rng.randrange(3 * 365 * 86400))
        url = fields.pop("url", None)
        obj: dict[str, Any] = {
            "id": sid, "name": f"t3_{sid}", "subreddit": sub,
            "subreddit_id": f"t5_{hash_str(sub):x}", "author": f"user_{self.rng.randint(1, 5000)}",
            "title": fields.pop("title", f"Interesting link number {self._id}"),
            "selftext": "", "url": url,
            "domain": (url.split("/")[2].lower() if url and "//" in url else f"self.{sub}"),
            "permalink": f"/r/{sub}/comments/{sid}/post_{self._id}/",
            "score": self.rng.randint(3, 500), "num_comments": self.rng.randint(0, 300),
            "created_utc": created, "is_self": False, "over_18": False, "stickied": False,
            "removed_by_category": None, "crosspost_parent": None,
        }
        obj.update(fields)
        if url is None:
            obj.pop("url")
        return obj

    def _add(self, obj: dict[str, Any] | bytes, expect: str, expect_sum: str | None = None,
             url: str | None = None) -> None:
        import json

        if isinstance(obj, bytes):
            raw, month = obj, "2019-06"
        else:
            raw = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            created = obj.get("created_utc")
            ts = int(created) if isinstance(created, (int, str)) and str(created).isdigit() else 0
            import datetime as dt

            month = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m") if ts else "2019-06"
        self.posts.append(Post(raw=raw, expect=expect, expect_sum=expect_sum or expect,
                               url=url, month=month))

    def _build_posts(self) -> None:
        rng = self.rng
        for page in self.pages:
            if page.kind == "low_karma":
                self._add(self._submission(url=page.url, score=rng.randint(0, 2)),
                          "low_karma", url=page.url)
            elif page.kind == "spam" and page.path.endswith(("-1.html", "-3.html", "-5.html")):
                self._add(self._submission(url=page.url, score=1), "low_karma", url=page.url)
            else:
                self._add(self._submission(url=page.url), "kept", url=page.url)
        articles = [p for p in self.pages if p.kind == "article"]
        # One URL posted several times in different subreddits with different scores.
        multi = articles[0]
        for sub, score in (("worldnews", 1), ("politics", 5), ("TrueReddit", 40)):
            self._add(self._submission(url=multi.url, subreddit=sub, score=score), "kept",
                      url=multi.url)
        # URL variants that normalise to one URL: host case, default port, tracking
        # parameters, fragments.
        v = articles[1]
        host, path = v.host, v.path
        for variant in (
            f"HTTP://{host.upper()}:80{path}",
            f"http://{host}{path}?utm_source=reddit&utm_medium=social",
            f"http://{host}{path}#comments",
            f"http://{host}{path}?fbclid=IwAR0abc123",
        ):
            self._add(self._submission(url=variant), "kept", url=v.url)
        # Karma only reaches 3 when summed (OpenWebText2's rule): kept in sum mode only.
        summed = self._article(ARTICLE_SITES[2], "low_karma", 6)
        for sub in ("news", "science"):
            self._add(self._submission(url=summed.url, subreddit=sub, score=2),
                      "low_karma", "kept", url=summed.url)
        # created_utc as a string, as in some real months of the dumps.
        for page in articles[2:5]:
            self._add(self._submission(url=page.url, created_utc=str(1546300800 + self._id)),
                      "kept", url=page.url)
        # A crosspost of a kept article.
        self._add(self._submission(url=articles[5].url, crosspost_parent="t3_000001"), "kept",
                  url=articles[5].url)
        for i in range(5):
            sub = rng.choice(SUBREDDITS)
            obj = self._submission(is_self=True, selftext=f"Self post text {i}.", subreddit=sub)
            obj["url"] = f"https://www.reddit.com{obj['permalink']}"
            obj["domain"] = f"self.{sub}"
            self._add(obj, "self_post")
        for i in range(3):
            self._add(self._submission(url=f"http://adult.test/gallery/{i}", over_18=True),
                      "nsfw")
        for category in ("moderator", "reddit", "deleted", "author"):
            obj = self._submission(url=f"http://dailyreport.test/removed/{category}",
                                   removed_by_category=category)
            if category == "deleted":
                obj["author"] = "[deleted]"
            self._add(obj, "removed")
        for url in ("https://www.reddit.com/r/news/comments/abc/", "https://i.imgur.com/xyz.jpg",
                    "https://www.youtube.com/watch?v=abc123", "https://youtu.be/abc123",
                    "https://twitter.com/someone/status/1", "https://imgur.com/gallery/abc"):
            self._add(self._submission(url=url), "blocked_domain")
        for url in ("http://photos.test/holiday.jpg", "http://media.test/clip.mp4",
                    "http://files.test/archive.zip", "http://papers.test/paper.PDF"):
            self._add(self._submission(url=url), "blocked_extension")
        for url in ("https://en.wikipedia.org/wiki/Language_model",
                    "https://de.m.wikipedia.org/wiki/Sprachmodell"):
            self._add(self._submission(url=url), "wikipedia")
        for url in ("ftp://files.test/data.txt", "not a url at all", "http:///no-host"):
            self._add(self._submission(url=url), "bad_url")
        for _ in range(2):
            self._add(self._submission(), "missing_url")
        good = self._submission(url="http://dailyreport.test/truncated")
        import json

        line = json.dumps(good).encode()
        self._add(line[: len(line) // 2], "malformed_json")
        self._add(b'{"id": "abc", "score": 5, "url": "http://x.test/"', "malformed_json")
        self._add(b"", "malformed_json")
        self._add(json.dumps(self._submission(url="http://citynews.test/bad-bytes")).encode()
                  .replace(b"Interesting", b"Interesting \xff\xfe"), "invalid_utf8")
        self._add(b'{"id": "zz1", "title": "caf\xe9", "url": "http://a.test/"}', "invalid_utf8")
        self._add(self._submission(url="http://citynews.test/x", score="lots"), "wrong_type")
        self._add(self._submission(url="http://citynews.test/y", score=[1, 2]), "wrong_type")
        self._add(self._submission(url=["http://citynews.test/z"]), "wrong_type")
        self._add(b'["not", "an", "object"]', "not_a_submission")

    # ---------------------------------------------------------------- summary
    def expected(self) -> dict[str, Any]:
        """Exact counts a correct pipeline reaches on this world, by intention."""
        kept_urls = {p.url for p in self.posts if p.expect == "kept"}
        kept_urls_sum = {p.url for p in self.posts if p.expect_sum == "kept"}
        fetch = Counter(p.fetch_status for p in self.pages if p.url in kept_urls)
        return {
            "seed": self.seed,
            "submissions": len(self.posts),
            "source": {
                "max": dict(Counter(p.expect for p in self.posts)),
                "sum": dict(Counter(p.expect_sum for p in self.posts)),
            },
            "urls": {"max": len(kept_urls), "sum": len(kept_urls_sum)},
            "pages": dict(Counter(p.kind for p in self.pages)),
            "fetch_status": dict(fetch),
            "syndication_groups": {
                g: sorted(p.url for p in self.pages if p.group == g)
                for g in sorted({p.group for p in self.pages if p.group})
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {"expected": self.expected(), "pages": [
            {k: v for k, v in asdict(p).items() if k != "paragraphs"} | {"url": p.url}
            for p in self.pages
        ]}


def page_response(page: Page, seed: int = 0) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body the mini-web serves for a content page (not a fault).

    The charset is declared in the Content-Type header or only in a <meta> tag, as the page
    says; the body is encoded in that charset.
    """
    markup = page.html(seed)
    body = markup.encode(page.charset)
    ctype = "text/html"
    if page.charset_in == "header":
        ctype += f"; charset={page.charset}"
    return 200, [("Content-Type", ctype), ("Content-Length", str(len(body)))], body
