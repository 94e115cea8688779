"""HTML for the fixture world's pages: the true article body wrapped in realistic boilerplate.

Each site has its own template (navigation, cookie banner, related links, comments, footer in
different places and markup), so that an extractor cannot pass by learning one layout. The
boilerplate strings are module constants so that tests can check that none of them survives
extraction.
"""

from __future__ import annotations

import html
import random

COOKIE_BANNER = (
    "We use cookies to improve your experience and to show you personalised ads. "
    "By continuing to browse this site you agree to our use of cookies. Accept all cookies."
)
NAV_ITEMS = ("Home", "World", "Politics", "Business", "Technology", "Science", "Sport", "Opinion")
FOOTER = (
    "Copyright 2019 The Publisher Ltd. All rights reserved. Privacy policy. Terms of use. "
    "Contact us. Advertise with us."
)
RELATED_TITLE = "Related stories"
COMMENT_TEXTS = (
    "Great article, thanks for sharing this with everyone here!",
    "I disagree with the author on almost every point made above.",
    "First! Does anyone know where I can read more about this?",
    "This is exactly what I have been saying for years now, lol.",
)
# Strings that must never appear in extracted text (checked by the extraction benchmark).
BOILERPLATE_MARKERS = (
    "We use cookies to improve your experience",
    "All rights reserved",
    "Related stories",
    "Great article, thanks for sharing",
    "Subscribe to our newsletter",
)


def _esc(s: str) -> str:
    return html.escape(s, quote=True)


def render_article(
    *,
    site: str,
    title: str,
    paragraphs: list[str],
    template: int,
    related: list[tuple[str, str]],
    lang: str = "en",
    meta_charset: str | None = None,
    seed: int = 0,
) -> str:
    """A full HTML document for one article page; `template` picks the site layout."""
    rng = random.Random(seed)
    head_meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    nav = "".join(f'<li><a href="/section/{n.lower()}">{n}</a></li>' for n in NAV_ITEMS)
    body_html = "\n".join(f"<p>{_esc(p)}</p>" for p in paragraphs)
    related_html = "".join(f'<li><a href="{_esc(u)}">{_esc(t)}</a></li>' for u, t in related)
    comments = "".join(
        f'<div class="comment"><span class="author">user{rng.randint(1, 999)}</span>'
        f"<p>{_esc(c)}</p></div>"
        for c in rng.sample(COMMENT_TEXTS, 3)
    )
    cookie = f'<div id="cookie-banner" class="cookie-consent"><p>{COOKIE_BANNER}</p></div>'
    newsletter = (
        '<aside class="newsletter"><p>Subscribe to our newsletter for the best stories '
        "of the week, delivered every Friday.</p></aside>"
    )
    footer = f'<footer class="site-footer"><p>{FOOTER}</p></footer>'
    related_block = (
        f'<aside class="related"><h3>{RELATED_TITLE}</h3><ul>{related_html}</ul></aside>'
    )
    comments_block = (
        f'<section id="comments" class="comments"><h3>Comments</h3>{comments}</section>'
    )
    header = (
        f'<header class="masthead"><a class="logo" href="/">{_esc(site)}</a>'
        f'<nav class="main-nav"><ul>{nav}</ul></nav></header>'
    )
    date = f"2019-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    article = (
        f'<article class="post"><h1 class="headline">{_esc(title)}</h1>'
        f'<p class="byline">By Staff Writer, <time datetime="{date}">{date}</time></p>'
        f'<div class="article-body">{body_html}</div></article>'
    )
    if template % 3 == 0:
        body = (
            f"{cookie}{header}<main>{article}{related_block}{comments_block}</main>"
            f"{newsletter}{footer}"
        )
    elif template % 3 == 1:
        body = (
            f'{header}<div class="layout"><div class="content">{article}{comments_block}</div>'
            f'<div class="sidebar">{related_block}{newsletter}</div></div>{footer}{cookie}'
        )
    else:
        body = (
            f'<div id="page">{header}{cookie}<div id="main"><div class="story">{article}</div>'
            f"{newsletter}{related_block}</div>{comments_block}{footer}</div>"
        )
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head>{head_meta}<title>{_esc(title)} | '
        f"{_esc(site)}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"</head><body>{body}</body></html>\n"
    )


def render_short(site: str, title: str, text: str) -> str:
    """A page with almost no content (a stub or a 'page moved' notice)."""
    return (
        f"<!DOCTYPE html>\n<html><head><title>{_esc(title)}</title></head><body>"
        f"<h1>{_esc(title)}</h1><p>{_esc(text)}</p></body></html>\n"
    )
