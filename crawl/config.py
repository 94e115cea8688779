"""Config of the source stage (Reddit submissions to URLs) and of the crawl stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from webtext.configbase import StageConfig


class SourceConfig(StageConfig):
    """Which Reddit links become URLs to fetch.

    Defaults follow WebText (Radford et al. 2019, "Language Models are Unsupervised Multitask
    Learners", section 2.1): outbound links from Reddit with at least 3 karma, Wikipedia removed.
    """


    dumps: list[str] = Field(default_factory=list, description="dump files or globs to read")
    # WebText: "at least 3 karma".
    min_karma: int = 3
    # WebText and OpenWebText score a URL by its best single submission; OpenWebText2 sums the
    # scores of every submission of the URL.
    karma_mode: Literal["max", "sum"] = "max"
    drop_self_posts: bool = True  # a self post links to Reddit itself, not to the web
    drop_removed: bool = True  # removed or deleted posts
    drop_nsfw: bool = True  # over_18 posts
    subreddit_allow: list[str] = Field(default_factory=list, description="empty = all allowed")
    subreddit_deny: list[str] = Field(default_factory=list)
    # Sites whose pages are not prose documents (media hosts, Reddit itself, social sites);
    # OpenWebText's blocklist drops the same kinds of host. A domain matches its subdomains.
    blocked_domains: list[str] = Field(
        default_factory=lambda: [
            "reddit.com", "redd.it", "imgur.com", "youtube.com", "youtu.be", "twitter.com",
            "x.com", "gfycat.com", "giphy.com", "streamable.com", "instagram.com",
            "facebook.com", "tiktok.com", "vimeo.com", "twitch.tv", "flickr.com",
        ]
    )
    # File types that are not HTML documents (OpenWebText's extension blocklist, abridged).
    blocked_extensions: list[str] = Field(
        default_factory=lambda: [
            ".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".bmp", ".svg", ".tif", ".tiff",
            ".mp4", ".webm", ".mov", ".avi", ".mkv", ".mp3", ".wav", ".ogg", ".flac",
            ".zip", ".gz", ".tgz", ".rar", ".7z", ".tar", ".xz", ".bz2", ".exe", ".dmg",
            ".apk", ".iso", ".pdf",
        ]
    )
    # WebText removed all Wikipedia documents because it is a common data source for other
    # datasets and could overlap with test evaluation tasks (GPT-2 paper, section 2.1).
    drop_wikipedia: bool = True
    # Query parameters that only track the visitor; removed so that variants of one URL merge.
    tracking_params: list[str] = Field(
        default_factory=lambda: [
            "utm_*", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ref",
            "ref_src", "igshid", "_ga", "yclid", "spm",
        ]
    )


class CrawlConfig(StageConfig):
    """How pages are fetched (filled in by the crawl stage)."""


    # Address guard mode: "public" refuses private/loopback/reserved addresses (the default,
    # safe on the open web); "loopback" allows loopback only and refuses everything else, for
    # tests and the offline demo, so that nothing can reach the internet.
    address_guard: Literal["public", "loopback"] = "public"
