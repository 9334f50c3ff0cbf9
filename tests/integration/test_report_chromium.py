"""The fleet report's HTML page in a real browser (headless Chromium over the DevTools pipe, tests/testlib/chromium.py).

A realistic fleet (tests/bench/report_bench.py: failing, rolled back, expired, expiring, renewed-not-reloaded,
healthy backends, and hostile names) is rendered by the report_html filter and opened from a file:// URL. What
a person sees is asserted on the page's visible text (document.body.innerText): most urgent first, healthy
last, hostile names shown as text and never run; on a 390 px phone nothing scrolls sideways.

With CERTOPS_WRITE_SCREENSHOT=1 the desktop screenshot is written to docs/report-screenshot.png (the image in
docs/reports.md); otherwise to the test's temporary directory. The committed image is that file passed through
`pngquant --quality=90-100 --speed 1` (Debian's pngquant: 195 KB to 66 KB, the same to the eye), which keeps the
collection's tarball inside test_packaging's budget.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from bench.report_bench import HOSTILE, fleet_report

from ansible_collections.certops.backend_tls.plugins.filter.report_formats import report_html
from testlib import chromium

ROOT = Path(__file__).resolve().parents[2]
FAILING, INVALID, ATTENTION, HEALTHY = range(4)


@pytest.fixture(scope="module")
def browser():
    chromium.require()
    with chromium.Browser() as session:
        yield session


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    report = fleet_report(120)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(report_html(report), encoding="utf-8")
    return report, path


def expected_group(site):
    """How urgent a site is, decided here from the report alone (not by the filter's code)."""
    if site["status"].startswith("FAILED"):
        return FAILING
    now = site["after"] if (site["after"] or {}).get("valid") is not None else (
        site["before"]["served"] if site["endpoint"] else site["before"]["disk"])
    if not now["valid"]:
        return INVALID
    if site["status"] in ("ok", "done") and now["days_remaining"] >= 30:
        return HEALTHY
    return ATTENTION


def png_size(png):
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_most_urgent_first_healthy_last(browser, fleet):
    report, path = fleet
    browser.open(path.as_uri(), **chromium.DESKTOP)
    text = browser.evaluate("document.body.innerText")
    assert "Run 2026-12-02 15:43:04 UTC \u00b7 mode remediate \u00b7 check mode no" in text
    assert "amber: under 30 days" in text and "orange: under 7 days" in text
    sections = ["Expiry timeline", "Failed hosts (", "Failing (", "Invalid (", "Expiring soon or needing attention (",
                "Healthy ("]
    assert sorted(sections, key=text.index) == sections

    sites = {" ".join(s["site"].split()): s for host in report["hosts"].values() for s in host["sites"]}
    headings = browser.evaluate("[...document.querySelectorAll('main article h3')].map(h => h.innerText)")
    shown, days = [], {}
    for heading in headings:
        match = re.match(r"^(?:expired (\d+) days? ago|(\d+) days? left|days unknown) (.*) on \S+$", heading)
        if match:
            shown.append(match.group(3))
            days[match.group(3)] = -int(match.group(1)) if match.group(1) else \
                int(match.group(2)) if match.group(2) else None
    assert sorted(shown) == sorted(sites)  # every backend, once
    groups = [expected_group(sites[name]) for name in shown]
    assert groups == sorted(groups), list(zip(shown, groups))
    assert groups[0] == FAILING and groups[-1] == HEALTHY and set(groups) == {FAILING, INVALID, ATTENTION, HEALTHY}
    invalid = [days[name] for name, group in zip(shown, groups) if group == INVALID and days[name] is not None]
    assert len(invalid) > 3 and invalid == sorted(invalid)  # fewest days first

    rolled_back = next(name for name, s in sites.items() if s["rolled_back"])
    block = text[text.index("%s on " % rolled_back):]
    assert "FAILED (config test failed: nginx: [emerg] cannot load certificate key), rolled back" in block[:400]
    assert "Fix: push the renewed certificate, chain and key, test, reload, verify" in block[:1200]


def test_hostile_names_are_text_not_markup(browser, fleet):
    _report, path = fleet
    browser.open(path.as_uri(), **chromium.DESKTOP)
    text = browser.evaluate("document.body.innerText")
    for name in HOSTILE[:3]:
        assert name in text  # shown literally, so it was escaped
    assert "<script>alert('host')</script> & \"quoted\"" in text
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.querySelectorAll('img, iframe, object, b b').length") == 0


def test_no_horizontal_scrolling_on_a_phone(browser, fleet, tmp_path):
    _report, path = fleet
    browser.open(path.as_uri(), **chromium.PHONE)
    width, inner = browser.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert inner == 390
    assert width <= inner
    widest = browser.evaluate("Math.max(...[...document.querySelectorAll('body *')].map(e => "
                              "e.getBoundingClientRect().right))")
    assert widest <= inner + 0.5  # no element sticks out either (overflow hidden would hide it)
    png = browser.screenshot(tmp_path / "report-phone.png")
    assert png_size(png) == (390 * 2, 844 * 2)


def test_screenshot(browser, fleet, tmp_path):
    _report, path = fleet
    seconds = browser.open(path.as_uri(), **chromium.DESKTOP)
    assert seconds > 0
    target = ROOT / "docs" / "report-screenshot.png" if os.environ.get("CERTOPS_WRITE_SCREENSHOT") == "1" else \
        tmp_path / "report-screenshot.png"
    png = browser.screenshot(target)
    assert png_size(png) == (1280, 900)
    assert target.read_bytes() == png
