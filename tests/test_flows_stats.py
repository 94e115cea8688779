"""Build statistics beyond the funnel: code explanations, histograms, the build-to-build diff,
terminal tables that never wrap at 80 columns, the pages' structure, `webtext stats --against`
and the Prefect artifacts of the stats flow."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from webtext.flows.corpusstats import signal_hist
from webtext.flows.diff import diff_stats
from webtext.flows.page import SECTIONS, ablation_page, build_page
from webtext.flows.pagetext import explain
from webtext.flows.report import terminal_tables

# The first test on the fixture build also builds it (the session's `built`): minutes on a
# busy machine, more than the default limit.
pytestmark = pytest.mark.timeout(900)


def _stats(**extra: Any) -> dict[str, Any]:
    """A small stats dict in the shape of compute_stats, with names long enough to wrap."""
    long_domain = "a-very-long-subdomain-name.of-some-news-site.example.co.uk"
    stats = {
        "build": "/data/builds/nightly", "header": {"name": "nightly"},
        "submissions": {"read": 1_234_567, "kept": 1_000_000, "unique_urls": 900_000,
                        "merged": 100_000},
        "urls": 900_000,
        "funnel": [
            {"step": "submissions", "in": 1_234_567, "out": 1_000_000, "adds_up": True,
             "reasons": {"blocked_domain": 200_000, "subreddit_denied": 34_567},
             "share_of_previous": 0.81, "share_of_start": 0.81},
            {"step": "passing docs", "in": 500_000, "out": 400_000, "adds_up": True,
             "reasons": {"duplicate_earlier_snapshot": 100_000},
             "share_of_previous": 0.8, "share_of_start": 0.324},
        ],
        "rules": [{"reason": "gopher_dup_10gram", "signal": "gopher_dup_10gram_char_frac",
                   "op": ">", "threshold": 0.1, "enabled": True, "removes": 12_345,
                   "removes_share": 0.0247, "alone": 1_234, "setting": "clean.x", "text": ""}],
        "domains": [{"domain": long_domain, "urls": 123_456, "docs": 100_000, "kept": 99_999,
                     "kept_share": 0.99999}],
        "tokens": {"webtext-0123abcd": {"recipe": "webtext", "role": "ablation variant",
                                        "docs": 400_000, "tokens": 123_456_789_012,
                                        "bytes_per_token": 4.321, "epochs_at_budget": 12.34}},
        "docs": {"extracted": 500_000, "passing": 450_000, "kept": 400_000},
        "dedup": {"docs": 500_000, "duplicates": 100_000, "dup_rate": 0.2,
                  "by_kind": {"near": 100_000}, "threshold": 0.6, "largest_clusters": [],
                  "threshold_curve": [{"threshold": 0.6, "duplicates": 100_000,
                                       "dup_rate": 0.2}]},
        "languages": {"en": 90, "de": 5, "fr": 5},
        "language_shares": {"en": 0.9, "de": 0.05, "fr": 0.05},
        "linkrot": {"fetched_share": 0.5, "recovery": {
            "all": _recovery(900_000), "by_year": {"2019": _recovery(450_000)},
            "by_domain": {long_domain: _recovery(123_456)}}},
    }
    return stats | extra


def _recovery(urls: int) -> dict[str, Any]:
    row: dict[str, Any] = {"urls": urls}
    for k, share in (("alive", 0.5), ("archived_cc", 0.2), ("archived_ia", 0.1), ("lost", 0.2)):
        row[k], row[f"{k}_share"] = int(urls * share), share
    return row


def _rendered_lines(table: Any) -> list[str]:
    from rich.console import Console

    console = Console(width=80, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text().splitlines()


def _assert_no_row_wraps(table: Any) -> None:
    lines = _rendered_lines(table)
    assert max(map(len, lines)) <= 80
    # title, top border, header, header rule, one line per row, bottom border
    assert len(lines) == table.row_count + 5, "\n".join(lines)


def test_terminal_tables_do_not_wrap_at_80_columns():
    before = _stats()
    now = _stats()
    now["funnel"][1]["reasons"]["duplicate_near"] = 7
    tables = terminal_tables(now | {"diff": diff_stats(now, before)})
    assert [t.title.split(" ")[0] for t in tables] == [
        "headline", "funnel", "quality", "top", "token", "link", "changes"]
    for table in tables:
        _assert_no_row_wraps(table)


def test_every_code_is_explained_with_a_setting_that_exists():
    from webtext.clean.config import CleanConfig
    from webtext.clean.reasons import Reason
    from webtext.config import WebtextConfig
    from webtext.dedup.clusters import DupKind
    from webtext.records import PAGE_STATUSES, FetchStatus, SourceDrop

    config = WebtextConfig()
    steps = ([("submissions", c.value) for c in SourceDrop]
             + [("urls", c.value) for c in FetchStatus if c.value not in PAGE_STATUSES]
             + [("extracted docs", c.value) for c in Reason]
             + [("passing docs", f"duplicate_{k.value}") for k in DupKind])
    for step, code in steps:
        words = explain(step, code, CleanConfig())
        assert words["text"] and words["text"] != code.replace("_", " "), code
        for setting in filter(None, words["setting"].split(" / ")):
            table, field = setting.split(".")
            assert field in type(getattr(config, table)).model_fields, (code, setting)
    # the same code means different things in different steps
    assert explain("urls", "too_large", CleanConfig())["setting"] == "crawl.max_page_bytes"
    assert explain("fetched pages", "too_large", CleanConfig())["setting"] == \
        "clean.max_html_bytes"
    assert "below 50" in explain("extracted docs", "gopher_short_doc", CleanConfig())["text"]


def test_signal_hist_spans_nearby_thresholds_and_lists_far_ones():
    values = np.array([10, 20, 30, 200, 400, 5000], dtype=float)
    hist = signal_hist(values, [50, 100_000_000])
    assert sum(hist["counts"]) == len(values) and hist["log"]
    assert hist["edges"][0] <= 10 and hist["edges"][-1] >= 5000
    assert hist["off_chart"] == [100_000_000] and hist["edges"][-1] < 100_000
    flat = signal_hist(np.array([0.0, 0.1, 0.2]), [0.3])
    assert not flat["log"] and flat["edges"][-1] == pytest.approx(0.3)
    assert signal_hist(np.array([]), [1.0])["counts"] == []


def test_diff_reports_each_change_and_matches_token_sets_by_recipe():
    before, now = _stats(), _stats()
    now["funnel"][0]["out"] += 5
    now["funnel"][0]["reasons"]["blocked_domain"] -= 5
    now["funnel"][1]["reasons"]["duplicate_near"] = 3
    now["rules_failed_any"], before["rules_failed_any"] = {"c4_policy": 4}, {"c4_policy": 1,
                                                                             "gone": 2}
    now["domains"][0]["kept"] -= 1
    before["tokens"] = {"webtext-ffffffff": dict(now["tokens"]["webtext-0123abcd"],
                                                 tokens=100, role="build")}
    now["tokens"]["webtext-0123abcd"]["role"] = "build"
    diff = diff_stats(now, before)
    rows = {(s, r["what"]): r for s, rs in diff["sections"].items() for r in rs}
    assert rows[("funnel", "submissions: continues")]["change"] == 5
    assert rows[("funnel", "submissions: blocked_domain")]["change"] == -5
    assert rows[("funnel", "passing docs: duplicate_near")] == {
        "what": "passing docs: duplicate_near", "now": 3, "before": 0, "change": 3}
    assert rows[("rules", "c4_policy")]["change"] == 3 and rows[("rules", "gone")]["now"] == 0
    assert [r["what"] for r in diff["sections"]["domains"]] == [
        f"{now['domains'][0]['domain']}: kept"]
    assert rows[("tokens", "webtext: tokens")]["change"] == 123_456_789_012 - 100
    assert diff["against"] == before["build"]


def test_build_page_has_every_section_and_no_remote_resource():
    html = build_page(_stats(), {})
    for ident, _ in SECTIONS:
        assert f"<section id='{ident}'>" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    results = {"variants": {}, "verdict": "Not enough variants to compare.",
               "suites": [{"suite": "wikitext", "bpb": 1.25}]}
    page = ablation_page("x", results, {})
    assert "<td>wikitext</td>" in page and "../../report.html" in page
    # the first results.json format: losses per variant, held-out counts as numbers
    first = {"baseline": "raw", "eval_docs": 4, "held_out": 5, "contaminated": 1,
             "cluster_mates": 0, "verdict": "Yes.", "variants": {
                 "raw": {"val_loss_mean": 5.0, "val_loss_sd": 0.01, "d_loss_vs_baseline": 0.0},
                 "webtext": {"val_loss_mean": 4.5, "val_loss_sd": 0.02,
                             "d_loss_vs_baseline": -0.5}}}
    page = ablation_page("first", first, {})
    assert "val loss (nats/token)" in page and "data-key='variants/webtext/val_loss_mean'" in page
    assert "data-key='held_out' data-value='5'" in page and "<p>Yes.</p>" in page


def test_header_reads_a_config_that_another_version_wrote(tmp_path):
    """A build's resolved config is read as it was written, not validated against this
    version's schema (a removed key must not hide the build's digest, dumps and rules)."""
    from webtext.flows.corpusstats import clean_thresholds, header
    from webtext.layout import BuildLayout

    layout = BuildLayout(tmp_path)
    layout.config("clean").parent.mkdir()
    layout.config("clean").write_text(
        '[source]\ndumps = ["dumps/RS_2019.zst"]\n[clean]\ngopher_min_words = 42\n'
        '[ablate]\nremoved_long_ago = 10\n[train]\nmax_tokens = 1000\n')
    (tmp_path / "source_stats.json").write_text(json.dumps({"seconds": 1.5}))
    h = header(layout)
    assert h["config_file"] == "configs/clean.toml" and len(h["config_digest"]) == 12
    assert h["dumps"] == ["dumps/RS_2019.zst"]
    assert h["stages"][0]["stage"] == "source" and h["stages"][0]["seconds"] == 1.5
    assert clean_thresholds(layout).gopher_min_words == 42


# ---------------------------------------------------------------- on the fixture build


@pytest.fixture(scope="module")
def two_builds(built, tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the fixture build, and an "earlier" build: its stats.json with other counts."""
    root = tmp_path_factory.mktemp("stats")
    build = root / "build"
    shutil.copytree(built["build"], build, ignore=shutil.ignore_patterns("warc", "crawl"))
    from webtext.flows.corpusstats import compute_stats
    from webtext.layout import BuildLayout

    earlier = compute_stats(BuildLayout(build))
    earlier["funnel"][1]["out"] -= 3
    earlier["funnel"][1]["reasons"]["timeout"] = earlier["funnel"][1]["reasons"].get(
        "timeout", 0) + 3
    other = root / "earlier"
    other.mkdir()
    (other / "stats.json").write_text(json.dumps(earlier))
    return build, other


@pytest.mark.usefixtures("prefect_server")
def test_stats_against_another_build_in_terminal_and_page(two_builds, capsys):
    from webtext.cli import main

    build, other = two_builds
    assert main(["stats", str(build), "--against", str(other), "--no-prefect"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == f"report: {build / 'report.html'}"
    assert "urls: continues" in out and "+3" in out
    stats = json.loads((build / "stats.json").read_text())
    rows = {r["what"]: r for r in stats["diff"]["sections"]["funnel"]}
    assert rows["urls: continues"]["change"] == 3
    assert rows["urls: timeout"]["change"] == -3
    assert "data-key='diff/sections/funnel/" in (build / "report.html").read_text()


@pytest.mark.usefixtures("prefect_server")
def test_stats_against_a_missing_build_is_a_usage_error(two_builds, capsys):
    from webtext.cli import main

    build, other = two_builds
    assert main(["stats", str(build), "--against", str(other / "nope"), "--no-prefect"]) == 2
    assert "--against" in capsys.readouterr().err
    assert main(["stats", str(build), "--against", str(build / "docs"), "--no-prefect"]) == 2
    assert "not a build directory" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_server")
def test_stats_flow_publishes_the_terminal_tables(two_builds):
    from prefect.client.orchestration import get_client

    from webtext.flows.statsflow import stats_flow

    build, other = two_builds
    stats_flow(str(build), str(other))
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_artifacts() if a.key and
                     a.key.endswith("-build")}
    for name in ("headline", "funnel", "rules", "domains", "tokens", "changes", "report"):
        assert f"{name}-build" in artifacts, name
    funnel = artifacts["funnel-build"].data
    rows = json.loads(funnel) if isinstance(funnel, str) else funnel
    assert rows[0]["step"] == "submissions" and "% start" in rows[0]


@pytest.mark.usefixtures("prefect_server")
def test_a_snapshot_is_compared_with_the_latest_earlier_one(two_builds):
    from webtext.flows.statsflow import snapshot_stats

    build, other = two_builds
    assert "diff" not in snapshot_stats(build, [])
    stats = snapshot_stats(build, [build.parent / "older", other])
    assert stats["diff"]["against"] == str(other)
    assert json.loads((build / "stats.json").read_text())["diff"]["against"] == str(other)
