"""The playbooks through ansible-runner, the engine AWX/Tower runs jobs with, against the lab (tests/lab).

Laid out as AWX lays out a job: a private data directory with the project (this checkout) under project/, the
inventory, extra variables as a survey would pass them, and the artifacts AWX reads afterwards: status, rc, the
per-host stats, the events (the set_stats data is the playbook_on_stats event's artifact_data) and the report files
the role writes on the controller.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import ansible_runner
import pytest

from lab import lab as labctl
from testlib.ansible_run import BIN, COLLECTIONS, ROOT

HOSTS = ["backend-shop", "backend-api", "backend-edge", "backend-blog"]
SITES = {"backend-shop": "shop", "backend-api": "api", "backend-edge": "edge", "backend-blog": "blog"}
# What the lab's faults need (tests/lab/lab.py): blog's files were renewed on disk and never reloaded.
ACTIONS = {"shop": "push", "api": "push", "edge": "push", "blog": "reload"}


@pytest.fixture
def lab(tmp_path):
    state = labctl.up(tmp_path / "lab")
    yield state
    labctl.down(tmp_path / "lab")


@pytest.fixture
def job(lab, tmp_path):
    """An AWX-like private data directory: project/ is this checkout, inventory/ the lab's."""
    pdd = tmp_path / "runner"
    (pdd / "inventory").mkdir(parents=True)
    os.symlink(ROOT, pdd / "project")
    shutil.copy(Path(lab["dir"]) / "inventory.yml", pdd / "inventory" / "lab.yml")
    reports = tmp_path / "reports"
    reports.mkdir()
    return {"pdd": pdd, "reports": reports}


def run(job, ident, playbook, **extravars):
    """ansible_runner.run as AWX starts a job template's playbook; returns (runner, artifacts dir, events)."""
    envvars = {
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),  # in AWX: the execution environment's collections
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PATH": "%s:%s" % (BIN, os.environ.get("PATH", "/usr/bin:/bin")),
    }
    extra = {"cert_remediation_report_dir": str(job["reports"])}
    extra.update(extravars)
    runner = ansible_runner.run(
        private_data_dir=str(job["pdd"]), ident=ident, playbook=playbook,
        inventory=str(job["pdd"] / "inventory" / "lab.yml"), envvars=envvars, extravars=extra,
        quiet=True, timeout=600)
    artifacts = job["pdd"] / "artifacts" / ident
    events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"))]
    return runner, artifacts, events


def stats_event(events):
    found = [e for e in events if e.get("event") == "playbook_on_stats"]
    assert len(found) == 1, [e.get("event") for e in events]
    return found[0]["event_data"]


def tail(artifacts):
    return (artifacts / "stdout").read_text()[-6000:]


def report_json(job):
    return json.loads((job["reports"] / "report.json").read_text())


def sites_of(report_hosts):
    """{site name: entry} over every host of report.json's hosts (or the set_stats data, the same shape)."""
    out = {}
    for host, entry in report_hosts.items():
        for site in entry["sites"] if isinstance(entry, dict) else entry:
            out[site["site"]] = dict(site, host=host)
    return out


def check_optional_reports(job, want_sites, valid):
    """report.html and backend_tls.prom, when the role writes them (DESIGN.md: Reports and metrics); valid is what
    backend_cert_valid must say for every site (0 or 1)."""
    html = job["reports"] / "report.html"
    if html.exists():
        text = html.read_text()
        assert "<html" in text.lower(), text[:200]
        for site in want_sites:
            assert "backend-%s" % site in text and "%s.lab.test" % site in text, "report.html lacks %s" % site
    prom = job["reports"] / "backend_tls.prom"
    if prom.exists():
        lines = [line for line in prom.read_text().splitlines() if line and not line.startswith("#")]
        valid_lines = [line for line in lines if line.startswith("backend_cert_valid{")]
        for site in want_sites:
            mine = [line for line in valid_lines if 'site="%s"' % site in line]
            assert mine and all(line.rsplit(" ", 1)[1] == str(valid) for line in mine), (site, valid_lines)
        return {line.split("{", 1)[0] for line in lines}
    return None


def test_awx_job_diagnose_then_remediate(lab, job):
    assert [v["status"] for v in labctl.wait_view(lab["dir"], "DOWN")] == ["DOWN"] * 4

    # A job whose survey answer is wrong (a report directory that does not exist): AWX shows it failed, and the
    # role's up-front check stopped it before any host was touched.
    bad, artifacts, events = run(job, "precheck", "playbooks/remediate.yml",
                                 cert_remediation_report_dir=str(job["reports"] / "missing"))
    assert bad.status == "failed" and bad.rc != 0, tail(artifacts)
    assert (artifacts / "status").read_text() == "failed" and (artifacts / "rc").read_text() == str(bad.rc)
    assert sum(bad.stats["failures"].values()) >= 1 and bad.stats["changed"] == {}, bad.stats
    assert "missing" in tail(artifacts)
    assert not (Path(lab["dir"]) / "backups").exists()

    # diagnose is read-only: on a lab where every backend is broken it succeeds (what is wrong is data, in the
    # report and set_stats), changes nothing, and the load balancer still sees every backend DOWN.
    diag, artifacts, events = run(job, "diagnose", "playbooks/diagnose.yml")
    assert diag.status == "successful" and diag.rc == 0, tail(artifacts)
    assert (artifacts / "status").read_text() == "successful" and (artifacts / "rc").read_text() == "0"
    assert sorted(diag.stats["ok"]) == sorted(HOSTS), diag.stats
    assert diag.stats["changed"] == {} and diag.stats["failures"] == {} and diag.stats["dark"] == {}, diag.stats
    stats = stats_event(events)
    assert stats["failures"] == {} and stats["changed"] == {}
    awx = stats["artifact_data"]["cert_remediation_report"]
    assert sorted(awx) == sorted(HOSTS), awx
    sites = sites_of(awx)
    assert {name: site["action"] for name, site in sites.items()} == ACTIONS, sites
    for name, site in sites.items():
        assert site["host"] == "backend-" + name
        assert site["status"] == "planned" and site["rolled_back"] is False, site
        assert site["before"] and not site.get("after"), site
    on_disk = report_json(job)
    assert on_disk["mode"] == "diagnose" and on_disk["check_mode"] is False, on_disk
    assert sorted(on_disk["hosts"]) == sorted(HOSTS)
    assert all(entry["failed"] is None for entry in on_disk["hosts"].values()), on_disk["hosts"]
    assert {n: s["action"] for n, s in sites_of(on_disk["hosts"]).items()} == ACTIONS
    check_optional_reports(job, ACTIONS, valid=0)
    assert not (Path(lab["dir"]) / "backups").exists()
    assert [v["status"] for v in labctl.wait_view(lab["dir"], "DOWN")] == ["DOWN"] * 4

    # remediate: every host changed, none failed, every site done and verified, the report rewritten. Two hosts
    # per batch (the survey's cert_remediation_serial): two batches, whose set_stats AWX must see aggregated.
    fix, artifacts, events = run(job, "remediate", "playbooks/remediate.yml", cert_remediation_serial=2)
    assert fix.status == "successful" and fix.rc == 0, tail(artifacts)
    assert (artifacts / "status").read_text() == "successful"
    assert sorted(fix.stats["changed"]) == sorted(HOSTS), fix.stats
    assert all(fix.stats["changed"][h] >= 1 for h in HOSTS), fix.stats
    assert fix.stats["failures"] == {} and fix.stats["dark"] == {}, fix.stats
    stats = stats_event(events)
    awx = stats["artifact_data"]["cert_remediation_report"]
    assert sorted(awx) == sorted(HOSTS), awx
    sites = sites_of(awx)
    assert {name: site["action"] for name, site in sites.items()} == ACTIONS, sites
    for site in sites.values():
        assert site["status"] == "done" and site["rolled_back"] is False and site["error"] is None, site
        assert site["after"], site
    on_disk = report_json(job)
    assert on_disk["mode"] == "remediate" and sorted(on_disk["hosts"]) == sorted(HOSTS), on_disk
    assert all(s["status"] == "done" for s in sites_of(on_disk["hosts"]).values())
    metrics = check_optional_reports(job, ACTIONS, valid=1)
    if metrics is not None:
        assert "backend_cert_valid" in metrics, metrics
    view = labctl.wait_view(lab["dir"], "UP")
    assert [v["status"] for v in view] == ["UP"] * 4, view
