"""The build page and the ablation page in a real headless browser (Chromium from the system's
packages, driven by selenium): every section renders with its plots, the console stays free
of errors, the key numbers equal stats.json (results.json for the ablation page), and the
pages load and render with the network switched off without asking for anything.
Screenshots of the fixture build's page are written beside it (report-<section>.png).

One browser for the whole module; every wait is for a condition (document.readyState, an
element), never a sleep.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webtext.flows.page import ABLATION_SECTIONS, SECTIONS
from webtext.layout import BuildLayout

# The first test also builds the fixture world (the session's `built`), minutes on a busy
# machine, and plots every distribution of it.
pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.timeout(900)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Sections whose numbers come with a plot on the fixture build.
PLOTTED = ("funnel", "rules", "lengths", "languages", "karma", "domains", "linkrot", "dedup")
ABLATION = {  # results.json as the ablation flow writes it, scored on an evaluation suite
    "name": "quality", "baseline": "raw", "seeds": [0, 1], "model": "tiny", "max_tokens": 4096,
    "variant_order": ["raw", "webtext"], "suite_order": ["heldout"],
    "variants": {
        "raw": {"docs": 90, "unique_tokens": 61234, "epochs": 0.0669, "repeats_data": False,
                "seeds": [0, 1]},
        "webtext": {"docs": 50, "unique_tokens": 35000, "epochs": 0.117, "repeats_data": False,
                    "seeds": [0, 1]}},
    "suites": {"heldout": {
        "kind": "heldout", "metric": "bits_per_byte", "n_items": 8,
        "variants": {"raw": {"mean": 2.0, "sd": 0.002}, "webtext": {"mean": 1.8, "sd": 0.003}},
        "comparisons": [{"variant": "webtext", "diff": -0.2, "verdict": "better"}]}},
    "held_out": {"total": 5, "heldout_docs": 4, "cluster_mates": 0, "overlapping_docs": 1},
    "warnings": [],
    "sentences": ["On heldout, `webtext` is better than `raw` by 0.2 bits/byte."],
    "verdict": "On heldout, `webtext` is better than `raw` by 0.2 bits/byte.",
    "curves": {"raw": {"0": [[1024, 6.0], [4096, 5.25]], "1": [[1024, 6.1], [4096, 5.26]]},
               "webtext": {"0": [[1024, 5.9], [4096, 4.75]], "1": [[1024, 5.8], [4096, 4.77]]}},
}


def _no_browser(reason: str) -> None:
    # CI installs Chromium (the Makefile's install step): there, a missing browser is a failure
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module, logging the console and the network."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and CHROMEDRIVER):
        _no_browser("chromium and chromedriver are not installed: run `make` as root, or "
                    "apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,1000", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def pages(built, tmp_path_factory) -> dict[str, Any]:
    """A copy of the fixture build with an ablation's results.json, and its pages written."""
    from webtext.flows.statsflow import write_stats

    root = tmp_path_factory.mktemp("page") / "build"
    shutil.copytree(built["build"], root, ignore=shutil.ignore_patterns("warc", "crawl"))
    layout = BuildLayout(root)
    ablation = layout.ablation("quality")
    ablation.mkdir(parents=True)
    (ablation / "results.json").write_text(json.dumps(ABLATION))
    stats, _ = write_stats(layout)
    return {"layout": layout, "stats": json.loads(layout.stats_json.read_text()),
            "ablation_page": ablation / "report.html", "returned": stats}


def _open(driver: Any, path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what an earlier page logged
    driver.get_log("performance")
    driver.get(path.as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def _wait_for(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 30).until(
        ec.presence_of_all_elements_located((By.CSS_SELECTOR, css)))


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _broken_images(driver: Any) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.id)")


def _resolve(data: Any, pointer: str) -> Any:
    """A data-key (a JSON Pointer without its leading slash) looked up in stats.json."""
    for part in pointer.split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _check_numbers(driver: Any, data: dict[str, Any]) -> list[str]:
    """Every tagged number: its data-value equals the JSON value, and its text shows it."""
    tagged = driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-key]')).map(e => "
        "[e.dataset.key, e.dataset.value, e.dataset.kind || '', e.textContent])")
    assert tagged
    for key, value, kind, text in tagged:
        want = _resolve(data, key)
        assert json.loads(value) == want, key
        if want is None:
            assert text == "–", key
        elif kind == "pct":
            assert float(text.rstrip("%")) == pytest.approx(100 * want, abs=0.051), key
        elif kind in ("float", "signed"):
            assert float(text.replace(",", "")) == pytest.approx(want, rel=1e-3, abs=1e-9), key
        elif isinstance(want, int):
            assert int(text.replace(",", "")) == want, key
        else:
            assert text == str(want), key
    return [k for k, *_ in tagged]


def test_build_page_renders_every_section_with_numbers_from_stats_json(driver, pages):
    stats, layout = pages["stats"], pages["layout"]
    assert pages["returned"]["funnel"] == stats["funnel"]
    _open(driver, layout.report_html)
    _wait_for(driver, "section#diff")
    for ident, title in SECTIONS:
        element = driver.find_element("id", ident)
        assert element.is_displayed() and element.text.strip(), ident
        if ident != "header":
            assert element.find_element("tag name", "h2").text == title
    for ident in PLOTTED:
        assert _wait_for(driver, f"section#{ident} img"), ident
    assert _broken_images(driver) == []
    assert len(driver.find_elements("css selector", "section#rules img[id^='plot-signal-']")) \
        == len([s for s, h in stats["signal_hists"].items() if h["edges"]
                and any(r["signal"] == s and r["enabled"] for r in stats["rules"])])
    keys = set(_check_numbers(driver, stats))
    # the headline numbers are all on the page
    for i, step in enumerate(stats["funnel"]):
        assert {f"funnel/{i}/in", f"funnel/{i}/out", f"funnel/{i}/share_of_start"} <= keys
        assert {f"funnel/{i}/reasons/{code}" for code in step["reasons"]} <= keys
    assert {"dedup/dup_rate", "dedup/duplicates", "header/config_digest"} <= keys
    assert {f"tokens/{name}/epochs_at_budget" for name in stats["tokens"]} <= keys
    assert {f"rules/{i}/alone" for i in range(len(stats["rules"]))} <= keys
    assert driver.find_element("id", "build-name").text == layout.root.name
    assert _console_errors(driver) == []
    # a sample opens its document text in place
    sample = driver.find_element("css selector", "section#samples details")
    sample.find_element("tag name", "summary").click()
    assert sample.find_element("tag name", "pre").is_displayed()
    for ident in ("header", "funnel", "rules", "dedup", "tokens", "samples"):
        driver.execute_script("arguments[0].scrollIntoView()", driver.find_element("id", ident))
        path = layout.root / f"report-{ident}.png"
        assert driver.save_screenshot(str(path)) and path.read_bytes()[:4] == b"\x89PNG"


def test_ablation_page_and_links_both_ways(driver, pages):
    layout, page = pages["layout"], pages["ablation_page"]
    _open(driver, layout.report_html)
    link = _wait_for(driver, "section#ablations a")[0]
    assert Path(link.get_attribute("href").removeprefix("file://")) == page
    _open(driver, page)
    _wait_for(driver, "section#ablation-suites")
    for ident, _ in ABLATION_SECTIONS:
        assert driver.find_element("id", ident).text.strip(), ident
    assert _wait_for(driver, "section#ablation-curves img") and _broken_images(driver) == []
    assert driver.find_element("id", "verdict").text == ABLATION["sentences"][0]
    suites = driver.find_element("id", "ablation-suites").text
    assert "bits_per_byte" in suites and "better" in suites
    keys = _check_numbers(driver, ABLATION)
    assert {"variants/webtext/unique_tokens", "variants/raw/epochs", "max_tokens"} <= set(keys)
    back = driver.find_element("id", "build-link").get_attribute("href")
    assert Path(back.removeprefix("file://")).resolve() == layout.report_html
    assert _console_errors(driver) == []
    driver.save_screenshot(str(page.parent / "report-ablation.png"))


_REMOTE = re.compile(r"<(script|link|img|iframe|source|video|audio)\b[^>]*\b(src|href)\s*=\s*"
                     r"['\"]?\s*(https?:)?//", re.IGNORECASE)


def test_pages_make_no_network_request(driver, pages):
    """Offline, both pages render completely, and the browser asks for nothing but the
    page's own file (plots are data: URLs); the HTML names no remote script, style or image."""
    layout = pages["layout"]
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        for page, last in ((layout.report_html, "section#diff"),
                           (pages["ablation_page"], "section#ablation-suites")):
            html = page.read_text(encoding="utf-8")
            assert not _REMOTE.search(html) and "@import" not in html
            assert "<script" not in html  # nothing runs, so nothing can fetch later
            _open(driver, page)
            _wait_for(driver, last)
            assert _broken_images(driver) == [] and _console_errors(driver) == []
            urls = [m["params"]["request"]["url"] for m in
                    (json.loads(e["message"])["message"] for e in driver.get_log("performance"))
                    if m["method"] == "Network.requestWillBeSent"]
            assert [u for u in urls if not u.startswith(("file:", "data:"))] == []
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
