"""A host lost before it reports (unreachable) is named in the report, and stops a serial rollout.

Ansible's max_fail_percentage counts failed hosts, not unreachable ones: with `cert_remediation_serial: 2` a rollout
whose first batch lost a host went on to the next batch, and the host was missing from report.json (a review of
2026-12-03). Real servers (tests/lab), a host made unreachable by pointing its SSH connection at a closed port.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from lab import lab as labctl
from testlib.ansible_run import ROOT, recap, run_playbook

REMEDIATE = ROOT / "playbooks" / "remediate.yml"
DIAGNOSE = ROOT / "playbooks" / "diagnose.yml"
LOST = "backend-pool1"


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed


@pytest.fixture(scope="module")
def pool_lab(tmp_path_factory):
    directory = tmp_path_factory.mktemp("unreached") / "lab"
    state = labctl.up(directory, backends=labctl.pool(4))
    yield state
    labctl.down(directory)


def inventory_with_lost_host(state, path):
    data = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
    ssh_args = "-o ConnectTimeout=5 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    data["backends"]["hosts"][LOST].update({
        "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed_port(),
        "ansible_user": "nobody", "ansible_ssh_common_args": ssh_args})
    path.write_text(json.dumps(data))
    return path


def live_files(state):
    return {p: Path(p).read_bytes() for b in state["backends"] for p in {b["cert_path"], b["key_path"],
                                                                         b["chain_path"]} - {None}}


def test_diagnose_names_the_unreached_host(pool_lab, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    proc = run_playbook(DIAGNOSE, inventory=inventory_with_lost_host(pool_lab, tmp_path / "inv.json"),
                        extra_vars={"cert_remediation_report_dir": str(reports)})
    assert recap(proc.stdout)[LOST]["unreachable"] == 1, proc.stdout[-3000:]
    report = json.loads((reports / "report.json").read_text())
    assert report["unreached_hosts"] == [LOST]
    assert sorted(report["hosts"]) == ["backend-pool2", "backend-pool3", "backend-pool4"]
    html = (reports / "report.html").read_text()
    assert "Failed hosts (1)" in html and LOST in html and "lost before it reported: unreachable" in html
    # the textfile does not claim a fresh run for it: the stale-run alert keeps firing
    prom = (reports / "backend_tls.prom").read_text()
    assert 'backend_cert_last_run_timestamp_seconds{host="%s"}' % LOST not in prom
    assert 'backend_cert_last_run_timestamp_seconds{host="backend-pool2"}' in prom


def test_a_rollout_stops_after_the_batch_that_lost_a_host(pool_lab, tmp_path):
    state = pool_lab
    before = live_files(state)
    reports = tmp_path / "reports"
    reports.mkdir()
    proc = run_playbook(REMEDIATE, inventory=inventory_with_lost_host(state, tmp_path / "inv.json"),
                        extra_vars={"cert_remediation_serial": 2, "cert_remediation_report_dir": str(reports)})
    counts = recap(proc.stdout)
    assert proc.returncode != 0
    assert counts[LOST]["unreachable"] == 1, counts
    # its batch mate finished its own transaction; the second batch never started
    assert counts["backend-pool2"]["failed"] == 0, counts
    assert "backend-pool3" not in counts and "backend-pool4" not in counts, counts
    for backend in state["backends"]:
        if backend["name"] in ("pool3", "pool4"):
            for path in {backend["cert_path"], backend["key_path"], backend["chain_path"]} - {None}:
                assert Path(path).read_bytes() == before[path], "%s was touched" % path
    report = json.loads((reports / "report.json").read_text())
    assert report["unreached_hosts"] == [LOST]
    assert sorted(report["hosts"]) == ["backend-pool2"]
