"""The source stage: Reddit submissions in, the URLs worth fetching out (WebText's link rule).

In:  a stream of raw records from `webtext.crawl.dumps` (dump lines or listing children);
     for `run`, the dump files of `SourceConfig.dumps` and a build's `BuildLayout`.
Out: `SourceResult`: one `UrlRecord` per unique normalised URL whose karma >= `min_karma`, and a
     count for every submission that was not kept, by `SourceDrop` reason, such that
     read == kept + sum(dropped). A kept submission is one that contributes to a kept URL.
     `run(layout, config, progress)` writes them as urls.parquet (`URLS_SCHEMA`), with
     source_stats.json, a log of every rejected line with file and line number
     (logs/source_rejects.tsv) and its skip marker (configs/source.inputs.json).

Rules: WebText (Radford et al. 2019, section 2.1) keeps outbound links of posts with at least 3
karma and removes Wikipedia; the karma of a URL is its best submission's score (WebText,
OpenWebText) or the sum over its submissions (OpenWebText2), per `karma_mode`. Memory grows
with the number of unique URLs, not with the number of submissions read.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec

from webtext.crawl.config import SourceConfig
from webtext.crawl.dumps import SUFFIXES, FileError, RawRecord, expand, read_dumps
from webtext.crawl.urlnorm import UrlNormalizer, host_matches
from webtext.errors import UsageError
from webtext.io import atomic_path, read_json, write_json, write_parquet
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA, SourceDrop, UrlRecord, records_to_table
from webtext.stage import Progress, ProgressFn

log = logging.getLogger("webtext.source")

Reject = Callable[[str, int, SourceDrop, str], None]  # file, line, reason, detail

# Lines that are not a submission at all (as opposed to submissions the rules drop): a run
# that reads only these read no Reddit data, and a file made mostly of them is likely no dump.
NOT_A_SUBMISSION = frozenset((SourceDrop.MALFORMED_JSON, SourceDrop.INVALID_UTF8,
                              SourceDrop.WRONG_TYPE, SourceDrop.NOT_A_SUBMISSION))


@dataclass
class SourceResult:
    urls: list[UrlRecord]
    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    urls_seen: int = 0  # unique normalised URLs before the karma rule
    records_by_file: Counter = field(default_factory=Counter)  # records read, per file
    invalid_by_file: Counter = field(default_factory=Counter)  # of those, NOT_A_SUBMISSION

    @property
    def valid(self) -> int:
        """Submissions read, whether kept or dropped by a rule (lines that are not one: out)."""
        return self.read - sum(self.dropped.get(r, 0) for r in NOT_A_SUBMISSION)

    def stats(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "dropped": {r.value: self.dropped.get(r, 0) for r in SourceDrop},
            "urls_seen": self.urls_seen,
            "urls_kept": len(self.urls),
            "valid": self.valid,
            "files": {
                "read": len(self.files) - len(self.file_errors),
                "records": {
                    f: {"read": n, "not_submissions": self.invalid_by_file.get(f, 0)}
                    for f, n in sorted(self.records_by_file.items())
                },
                "unreadable": [
                    {"file": e.file, "error": e.error,
                     "records_before_error": e.records_before_error}
                    for e in self.file_errors
                ],
            },
        }


class _BadType(Exception):
    pass


_REMOVED_TEXT = frozenset(("[removed]", "[deleted]"))
_WIKIPEDIA = frozenset(("wikipedia.org",))
_UNSEEN = object()


def _int(value: Any, name: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise _BadType(f"{name} is a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)  # created_utc is a string in some months of the dumps
    raise _BadType(f"{name} is {type(value).__name__}: {value!r:.40}")


class _Fields(msgspec.Struct):
    """The fields of a submission that the source stage reads. The decoder validates their
    types and skips every other field without building Python objects for it."""

    id: str | None = None
    subreddit: str | None = None
    url: str | None = None
    score: int | float = 0
    created_utc: int | float | str = 0  # a string in some months of the dumps
    title: str | None = None
    author: str | None = None
    is_self: bool | None = None
    over_18: bool | None = None
    removed_by_category: Any = None
    selftext: str | None = None


_DECODER = msgspec.json.Decoder(_Fields)


class SourceSelector:
    """Applies the per-submission rules and aggregates kept submissions by normalised URL."""

    def __init__(self, config: SourceConfig, on_reject: Reject | None = None):
        self.cfg = config
        self.on_reject = on_reject
        self.norm = UrlNormalizer(config.tracking_params)
        self.blocked_domains = frozenset(d.lower().lstrip(".") for d in config.blocked_domains)
        self.blocked_ext = tuple(e.lower() for e in config.blocked_extensions)
        self.allow = frozenset(s.lower() for s in config.subreddit_allow)
        self.deny = frozenset(s.lower() for s in config.subreddit_deny)
        self.normalize = self.norm.normalize
        self.drop_self_posts = config.drop_self_posts
        self.drop_removed = config.drop_removed
        self.drop_nsfw = config.drop_nsfw
        self.check_subreddit = bool(self.allow or self.deny)
        self.result = SourceResult(urls=[])
        # url -> [domain, karma_max, karma_sum, n, subreddits, ids, first_created]
        self._agg: dict[str, list[Any]] = {}
        self._host_reason: dict[str, SourceDrop | None] = {}

    def _drop(self, rec: RawRecord, reason: SourceDrop, detail: str = "") -> None:
        self.result.dropped[reason] += 1
        if reason in NOT_A_SUBMISSION:
            self.result.invalid_by_file[rec.file] += 1
        if self.on_reject is not None:
            self.on_reject(rec.file, rec.line, reason, detail)

    def _host_rule(self, host: str) -> SourceDrop | None:
        if self.cfg.drop_wikipedia and host_matches(host, _WIKIPEDIA):
            return SourceDrop.WIKIPEDIA
        if host_matches(host, self.blocked_domains):
            return SourceDrop.BLOCKED_DOMAIN
        return None

    def _decode(self, rec: RawRecord) -> _Fields | None:
        """The typed fields of one record, or None after counting why it has none."""
        payload = rec.payload
        try:
            if type(payload) is bytes:
                return _DECODER.decode(payload)
            return msgspec.convert(payload, _Fields)  # a listing child, already parsed
        except msgspec.ValidationError as e:  # valid JSON, wrong shape or types
            detail = str(e)
            if detail.startswith("Expected `object`"):
                self._drop(rec, SourceDrop.NOT_A_SUBMISSION, detail)
            else:
                self._drop(rec, SourceDrop.WRONG_TYPE, detail)
        except (msgspec.DecodeError, UnicodeDecodeError) as e:
            try:
                bytes(payload).decode("utf-8")
            except UnicodeDecodeError:
                self._drop(rec, SourceDrop.INVALID_UTF8, str(e))
                return None
            self._drop(rec, SourceDrop.MALFORMED_JSON, str(e))
        return None

    def add_all(self, stream: Iterable[RawRecord | FileError]) -> None:
        """Apply the rules to every record (in this order) and aggregate the kept ones.

        This runs once per submission of the dumps (about a million per dump month), so it is
        written as one flat loop over locals, without a call per record or per rule.
        """
        res = self.result
        files = res.files
        drop = self._drop
        decode = _DECODER.decode
        normalize = self.normalize
        host_reasons = self._host_reason
        host_rule = self._host_rule
        agg = self._agg
        agg_get = agg.get
        blocked_ext = self.blocked_ext
        ext_tail = max(map(len, blocked_ext), default=0)
        drop_self, drop_removed, drop_nsfw = (self.drop_self_posts, self.drop_removed,
                                              self.drop_nsfw)
        check_subreddit, allow, deny = self.check_subreddit, self.allow, self.deny
        removed_text = _REMOVED_TEXT
        read = 0
        file_start = 0  # `read` where the current file began: records per file, not per record
        # The aggregation holds millions of small lists that never form reference cycles; the
        # cyclic collector would scan them again and again (measured: a quarter of the time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            for rec in stream:
                if not files or rec.file != files[-1]:
                    if files:
                        res.records_by_file[files[-1]] += read - file_start
                    file_start = read
                    files.append(rec.file)
                if type(rec) is FileError:
                    res.file_errors.append(rec)
                    continue
                read += 1
                payload = rec.payload
                try:
                    f = decode(payload) if type(payload) is bytes else self._decode(rec)
                except (msgspec.DecodeError, UnicodeDecodeError):
                    f = self._decode(rec)  # decodes again, to count why
                if f is None:
                    continue
                score, created = f.score, f.created_utc
                try:
                    if type(score) is not int:
                        score = _int(score, "score")
                    if type(created) is not int:
                        created = _int(created, "created_utc")
                except _BadType as e:
                    drop(rec, SourceDrop.WRONG_TYPE, str(e))
                    continue
                if drop_self and f.is_self:
                    drop(rec, SourceDrop.SELF_POST)
                    continue
                if drop_removed and (f.removed_by_category is not None
                                     or f.selftext in removed_text or f.title in removed_text):
                    drop(rec, SourceDrop.REMOVED)
                    continue
                if drop_nsfw and f.over_18:
                    drop(rec, SourceDrop.NSFW)
                    continue
                subreddit = f.subreddit or ""
                if check_subreddit:
                    sr = subreddit.lower()
                    if sr in deny or (allow and sr not in allow):
                        drop(rec, SourceDrop.SUBREDDIT_DENIED)
                        continue
                raw_url = f.url
                if not raw_url:
                    drop(rec, SourceDrop.MISSING_URL)
                    continue
                normalized = normalize(raw_url)
                if normalized is None:
                    drop(rec, SourceDrop.BAD_URL, raw_url[:200])
                    continue
                url, host = normalized
                host_reason = host_reasons.get(host, _UNSEEN)
                if host_reason is _UNSEEN:
                    host_reason = host_rule(host)
                    if len(host_reasons) < 1_000_000:  # hosts repeat far more than URLs do
                        host_reasons[host] = host_reason
                if host_reason is not None:
                    drop(rec, host_reason, raw_url[:200])
                    continue
                # Only the path's last few characters can hold a blocked extension.
                if ext_tail and url.partition("?")[0][-ext_tail:].lower().endswith(blocked_ext):
                    drop(rec, SourceDrop.BLOCKED_EXTENSION, raw_url[:200])
                    continue
                entry = agg_get(url)
                if entry is None:
                    agg[url] = [host, score, score, 1, [subreddit], [f.id or ""], created]
                else:
                    if score > entry[1]:
                        entry[1] = score
                    entry[2] += score
                    entry[3] += 1
                    if subreddit not in entry[4]:
                        entry[4].append(subreddit)
                    entry[5].append(f.id or "")
                    if created < entry[6]:
                        entry[6] = created
        finally:
            res.read += read
            if files:
                res.records_by_file[files[-1]] += read - file_start
            if collecting:
                gc.enable()

    def finish(self) -> SourceResult:
        """Apply the karma rule per URL and return the URLs, sorted for stable output."""
        res = self.result
        res.urls_seen = len(self._agg)
        by_sum = self.cfg.karma_mode == "sum"
        kept: list[UrlRecord] = []
        for url in sorted(self._agg):
            host, kmax, ksum, n, subs, ids, first = self._agg[url]
            if (ksum if by_sum else kmax) < self.cfg.min_karma:
                res.dropped[SourceDrop.LOW_KARMA] += n
                continue
            res.kept += n
            kept.append(UrlRecord(url=url, domain=host, karma=kmax, karma_sum=ksum,
                                  n_submissions=n, subreddits=subs, submission_ids=ids,
                                  first_created_utc=first))
        res.urls = kept
        self._agg = {}
        return res


def select_urls(
    stream: Iterable[RawRecord | FileError], config: SourceConfig, on_reject: Reject | None = None
) -> SourceResult:
    """Run the source rules over a record stream (see module docstring)."""
    selector = SourceSelector(config, on_reject)
    selector.add_all(stream)
    return selector.finish()


# --- the stage over a build: dump files in, urls.parquet out ----------------------------------


class SourceFailed(UsageError):
    """The run read its input but must not replace the build's outputs (see `run`); `stats`
    is what it counted, for the funnel table."""

    def __init__(self, message: str, stats: dict[str, Any]):
        super().__init__(message)
        self.stats = stats


def run(layout: BuildLayout, config: SourceConfig, progress: ProgressFn | None = None, *,
        force: bool = False) -> dict[str, Any]:
    """Run the source stage over `config.dumps` into `layout`; returns the stats it wrote.

    Skipped (stats with `skipped`) when urls.parquet and source_stats.json were made with this
    config from the same dump files (same paths, sizes and modification times), unless
    `force` (`webtext source` reads the dumps whenever it is asked to). Outputs
    (urls.parquet, source_stats.json, the reject log) are only replaced by a run that
    succeeds. A run fails with `SourceFailed`, leaving the previous ones in place, when a dump
    file cannot be read to its end (missing, corrupt, truncated), or, unless
    `config.allow_empty`, when it read no submission or kept no URL. `progress` gets a "read"
    event every 10,000 lines (`detail`: the file, `done`: its line).
    """
    files = expand(config.dumps)
    if not files:
        raise UsageError("no dump files given (use --dumps or source.dumps in the config)")
    _check_paths(files)
    marker = layout.root / "configs" / "source.inputs.json"
    inputs = {"source": config.model_dump(mode="json"), "files": _file_stamps(files)}
    if (not force and layout.urls.exists() and layout.stats("source").exists()
            and marker.exists() and read_json(marker) == inputs):
        return {"skipped": True, **read_json(layout.stats("source"))}
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    reject_log = layout.logs / "source_rejects.tsv"
    started = time.perf_counter()
    # The reject log is renamed into place as the with-block ends; a failure raised inside it
    # removes the temporary file instead, so the log stays that of the last good run.
    with atomic_path(reject_log) as tmp, open(tmp, "w", encoding="utf-8") as rejects:
        rejects.write("file\tline\treason\tdetail\n")
        result = select_urls(_stream(files, progress), config, _reject_logger(rejects))
        stats = result.stats()
        stats["seconds"] = round(time.perf_counter() - started, 3)
        stats["karma_mode"] = config.karma_mode
        stats["min_karma"] = config.min_karma
        stats["reject_log"] = str(reject_log.relative_to(layout.root))
        _warn_not_dumps(stats)
        failure = _failure(stats, files, config.allow_empty)
        if failure is not None:
            raise SourceFailed(f"{failure}; nothing was written", stats)
    write_parquet(layout.urls, records_to_table(result.urls, URLS_SCHEMA))
    write_json(layout.stats("source"), stats)
    write_json(marker, inputs)
    return stats


def _file_stamps(files: list[str]) -> list[list[Any]]:
    """(path, size, mtime) of each dump file: a dump replaced in place is read again."""
    stamps = []
    for f in files:
        st = Path(f).stat()
        stamps.append([str(Path(f).resolve()), st.st_size, st.st_mtime_ns])
    return stamps


def _reject_logger(rejects: TextIO) -> Reject:
    """One line per rejected dump line in the reject log; the first few bad lines logged."""
    shown = 0

    def on_reject(file: str, line: int, reason: SourceDrop, detail: str) -> None:
        nonlocal shown
        detail = detail.replace("\t", " ").replace("\n", " ")
        rejects.write(f"{file}\t{line}\t{reason.value}\t{detail}\n")
        if reason.value in ("malformed_json", "invalid_utf8", "wrong_type") and shown < 5:
            shown += 1
            log.warning("%s:%d: %s (%s)", file, line, reason.value, detail[:120])

    return on_reject


def _stream(files: list[str], progress: ProgressFn | None) -> Iterator[RawRecord | FileError]:
    for rec in read_dumps(files):
        if isinstance(rec, FileError):
            log.error("%s: unreadable after %d records: %s", rec.file,
                      rec.records_before_error, rec.error)
        elif progress is not None and rec.line % 10000 == 0:
            progress(Progress("read", rec.line, detail=rec.file))
        yield rec


def _names(files: list[str], most: int = 3) -> str:
    shown = ", ".join(files[:most])
    return shown + (f" and {len(files) - most} more" if len(files) > most else "")


def _check_paths(files: list[str]) -> None:
    """Fail before reading hours of dumps when one path is mistyped."""
    problems = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            problems.append(f"{f}: folder holds no dump file ({' '.join(SUFFIXES)})")
        elif not p.exists():
            problems.append(f"{f}: no such file")
    if problems:
        raise UsageError("; ".join(problems) + "; nothing was written")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n)


def _failure(stats: dict[str, Any], files: list[str], allow_empty: bool) -> str | None:
    """Why this run must not replace the build's outputs, or None when it may."""
    bad = stats["files"]["unreadable"]
    if bad:
        detail = "; ".join(f"{b['file']}: {b['error']} (after {b['records_before_error']:,} "
                           "records)" for b in bad)
        return f"could not read {len(bad)} of {len(files)} dump files to the end: {detail}"
    if allow_empty:
        return None
    hint = "(source.allow_empty = true accepts an empty result)"
    if stats["read"] == 0:
        return f"no submission read: the dump files are empty: {_names(files)} {hint}"
    if stats["valid"] == 0:
        not_submissions = {r.value: stats["dropped"][r.value] for r in NOT_A_SUBMISSION}
        return (f"no submission read: none of the {stats['read']:,} lines of "
                f"{_names(files)} is a Reddit submission ({_counts(not_submissions)}); "
                f"are these Pushshift dumps or Reddit API listings? {hint}")
    if stats["urls_kept"] == 0:
        return (f"no URL kept: all {stats['valid']:,} submissions were dropped "
                f"({_counts(stats['dropped'])}) {hint}")
    return None


def _warn_not_dumps(stats: dict[str, Any]) -> None:
    """A few bad lines are normal in the dumps; a file made mostly of them is likely no dump."""
    for file, n in stats["files"]["records"].items():
        if n["not_submissions"] * 2 > n["read"]:
            log.warning("%s: %d of %d lines are not Reddit submissions (not JSON, not UTF-8, "
                        "or not a submission object): is it a dump file?", file,
                        n["not_submissions"], n["read"])
