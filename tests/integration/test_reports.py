"""The role's three report files from real runs on the lab (issue 11): report.json, report.html, backend_tls.prom.

One diagnose run writes all three and they agree (same backends, same verdicts, same days); the Prometheus file
passes promtool's parser; a --limit run keeps the other hosts' series; after a remediation every series says so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import lab as labctl
from testlib import chromium
from testlib.ansible_run import run_playbook

TARGET = Path(__file__).parent / "targets" / "cert_remediation" / "all_hosts.yml"
SERIES = re.compile(r'^(\w+)\{(.*)\} (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@pytest.fixture
def lab(tmp_path):
    state = labctl.up(tmp_path / "lab")
    state["reports"] = tmp_path / "reports"
    state["metrics"] = tmp_path / "textfile"
    state["reports"].mkdir()
    state["metrics"].mkdir()
    yield state
    labctl.down(tmp_path / "lab")


def run(state, mode="diagnose", args=()):
    proc = run_playbook(TARGET, inventory=Path(state["dir"]) / "inventory.yml", args=args, extra_vars={
        "cert_remediation_mode": mode, "cert_remediation_report_dir": str(state["reports"]),
        "cert_remediation_metrics_dir": str(state["metrics"])})
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    # the role warns about nothing on a run like this (a loop variable shadowing a fact did once)
    assert "[WARNING]" not in proc.stdout + proc.stderr, re.findall(r"\[WARNING\].*", proc.stdout + proc.stderr)
    return proc


def metrics(state):
    """{(metric, host, site, extra label): value} from backend_tls.prom, and the file's text."""
    text = (state["metrics"] / "backend_tls.prom").read_text()
    out = {}
    for line in text.splitlines():
        match = SERIES.match(line)
        if match:
            labels = dict(LABEL.findall(match.group(2)))
            out[(match.group(1), labels.get("host"), labels.get("site"),
                 labels.get("code") or labels.get("result"))] = float(match.group(3))
    return out, text


def sites(state):
    report = json.loads((state["reports"] / "report.json").read_text())
    return report, {(host, site["site"]): site for host, entry in report["hosts"].items() for site in entry["sites"]}


def promtool_problems(text):
    """promtool's findings on the file; only its lint on the days metric's unit (a contract name) is accepted."""
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 3), proc.stdout + proc.stderr  # 1: the file does not parse
    return [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and 'backend_cert_days_remaining use base unit "seconds"' not in line]


def test_one_diagnose_writes_three_reports_that_agree(lab):
    run(lab)
    report, by_site = sites(lab)
    assert report["schema_version"] == 2 and report["mode"] == "diagnose"
    assert len(by_site) == 4
    series, text = metrics(lab)
    if shutil.which("promtool"):
        assert promtool_problems(text) == []
    for (host, name), site in by_site.items():
        served = site["before"]["served"]
        assert series[("backend_cert_valid", host, name, None)] == (1 if served["valid"] else 0), (host, served)
        # same days; a verdict without days (no verified chain to date) has no series, never an invented value
        assert series.get(("backend_cert_days_remaining", host, name, None)) == served["days_remaining"]
        codes = {key[3] for key in series if key[:3] == ("backend_cert_finding", host, name)}
        assert codes >= set(served["codes"]), (host, codes, served["codes"])
        assert ("backend_cert_last_run_timestamp_seconds", host, None, None) in series
        assert site["endpoint"]["server_name"] in text
    assert sorted(v for k, v in series.items() if k[0] == "backend_cert_valid") == [0, 0, 0, 0]  # the lab is broken

    html = (lab["reports"] / "report.html").read_text()
    for (host, name), site in by_site.items():
        assert host in html and name in html
        days = site["before"]["served"]["days_remaining"]
        if days is not None and days < 0:
            assert "expired %d day" % -days in html
    if chromium.missing():
        pytest.skip("no chromium: the JSON and Prometheus files were checked, the page only as text")
    with chromium.Browser() as browser:
        browser.open((lab["reports"] / "report.html").as_uri())
        visible = browser.evaluate("document.body.innerText")
    for host, name in by_site:
        assert name in visible and host in visible


def test_a_limited_run_keeps_the_other_hosts_series_and_remediation_is_counted(lab):
    run(lab)
    before = metrics(lab)[0]
    run(lab, mode="remediate", args=["--limit", "backend-shop"])
    after, text = metrics(lab)
    report, by_site = sites(lab)
    assert list(report["hosts"]) == ["backend-shop"]
    assert by_site[("backend-shop", "shop")]["status"] == "done"
    # shop's series are this run's; every other host's are the ones the file held
    assert after[("backend_cert_valid", "backend-shop", "shop", None)] == 1
    assert after[("backend_cert_remediation_total", "backend-shop", "shop", "done")] == 1
    others = {k: v for k, v in before.items() if k[1] != "backend-shop"}
    assert others and {k: after.get(k) for k in others} == others
    if shutil.which("promtool"):
        assert promtool_problems(text) == []
