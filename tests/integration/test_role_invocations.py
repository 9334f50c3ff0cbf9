"""cert_remediation as plays invoke it: a per-host `when` on the role, the role twice in one serial play, and a play
that ignores a host's errors (tests/lab, real servers).

Each host's settings reach the batch's verification inside its collect's registered result (tasks/collect.yml), and
what a host's remediation leaves is read only when it carries the mark of that host's collect in this run of the
role. A review of that change (2026-12-05) found each case below judged differently from the role before it: a host
the role's `when` skipped reported failed ("no TLS site found"); in a serial play running the role twice, the second
run (diagnose) failing a host again with the first run's pre-flight refusal and reporting the first run's `after`;
and a host whose collect failed under `ignore_errors` dropped from the report.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from lab import lab as labctl
from testlib import pki
from testlib.ansible_run import run_playbook


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    directory = tmp_path_factory.mktemp("invocations") / "lab"
    state = labctl.up(directory)
    yield state
    labctl.down(directory)


def inventory(state, path, **hosts):
    """The lab inventory with per-host variables {host name: {var: value}}."""
    data = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
    for host, extra in hosts.items():
        data["backends"]["hosts"][host].update(extra)
    path.write_text(json.dumps(data))
    return path


def run(state, tmp_path, play, inv=None, **extra):
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    playbook = tmp_path / "play.yml"
    playbook.write_text(play)
    proc = run_playbook(playbook, inventory=inv or Path(state["dir"]) / "inventory.yml",
                        extra_vars=dict({"cert_remediation_report_dir": str(reports),
                                         "cert_remediation_report_formats": ["json"]}, **extra))
    report = reports / "report.json"
    assert report.exists(), proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc, json.loads(report.read_text())


def said(proc, what):
    """{host: text} of the play's `debug` lines "<what> <host> <text>"."""
    return dict(re.findall(r'"msg": "%s (\S+) (.*)"$' % what, proc.stdout, re.MULTILINE))


def test_a_host_the_roles_when_skips_is_not_judged(lab, tmp_path):
    play = ("- name: The role on every backend but one\n  hosts: backends\n  gather_facts: false\n  roles:\n"
            "    - role: certops.backend_tls.cert_remediation\n      when: inventory_hostname != 'backend-api'\n")
    proc, report = run(lab, tmp_path, play, cert_remediation_mode="diagnose")
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert set(report["hosts"]) == {"backend-shop", "backend-edge", "backend-blog"}, report["hosts"].get("backend-api")
    assert all(entry["failed"] is None for entry in report["hosts"].values()), report["hosts"]


def test_a_host_whose_collect_failed_under_ignore_errors_is_reported_failed(lab, tmp_path):
    broken = {"backend-api": {"ansible_python_interpreter": "/nonexistent/python"}}
    inv = inventory(lab, tmp_path / "inv.json", **broken)
    play = ("- name: The role, errors ignored\n  hosts: backends\n  gather_facts: false\n  tasks:\n"
            "    - name: The role\n      ansible.builtin.import_role:\n"
            "        name: certops.backend_tls.cert_remediation\n      ignore_errors: true\n")
    proc, report = run(lab, tmp_path, play, inv, cert_remediation_mode="diagnose")
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert set(report["hosts"]) == {"backend-shop", "backend-api", "backend-edge", "backend-blog"}
    assert report["hosts"]["backend-api"]["failed"], report["hosts"]["backend-api"]
    assert report["hosts"]["backend-shop"]["failed"] is None


TWICE = """\
- name: The role twice, one host at a time
  hosts: backends
  serial: 1
  gather_facts: false
  tasks:
    - name: Remediate
      block:
        - name: Remediate
          ansible.builtin.import_role:
            name: certops.backend_tls.cert_remediation
          vars:
            cert_remediation_mode: remediate
      rescue:
        - name: Note the failure
          ansible.builtin.debug:
            msg: "RESCUED {{ inventory_hostname }} first"
    - name: Diagnose
      block:
        - name: Diagnose
          ansible.builtin.import_role:
            name: certops.backend_tls.cert_remediation
          vars:
            cert_remediation_mode: diagnose
      rescue:
        - name: Note the failure
          ansible.builtin.debug:
            msg: "RESCUED {{ inventory_hostname }} second"
    - name: Say what the diagnose found
      ansible.builtin.debug:
        msg: "SECOND {{ inventory_hostname }} failure={{ __cert_remediation_failure }}"
"""


def test_the_role_twice_in_a_serial_play_reads_nothing_of_the_first_run(lab, tmp_path):
    # edge (the third batch) gets an expired renewed certificate: its pre-flight refuses it in the first run
    ca = pki.CA.load(Path(lab["dir"]) / "ca")
    source = tmp_path / "bad-source" / "edge"
    source.mkdir(parents=True)
    expired = ca.leaf("edge.lab.test", days=10, start_days=-20)
    pki.write(source / "cert.pem", expired.pem)
    pki.write(source / "chain.pem", ca.intermediate.pem)
    pki.write(source / "key.pem", expired.key_pem(), 0o600)
    inv = inventory(lab, tmp_path / "inv.json",
                    **{"backend-edge": {"cert_remediation_source_dir": str(tmp_path / "bad-source")}})
    proc, report = run(lab, tmp_path, TWICE, inv)
    assert re.findall(r'"msg": "RESCUED (\S+) (\w+)"', proc.stdout) == [("backend-edge", "first")], proc.stdout[-8000:]
    hosts = ("backend-shop", "backend-api", "backend-edge", "backend-blog")
    assert said(proc, "SECOND") == {host: "failure=" for host in hosts}
    # report.json is the last run's (diagnose): nothing of the remediation in it
    assert all(entry["failed"] is None for entry in report["hosts"].values()), report["hosts"]
    for host in ("backend-api", "backend-edge", "backend-blog"):
        (site,) = report["hosts"][host]["sites"]
        status = "planned" if host == "backend-edge" else "ok"  # edge's renewal was refused: still to push
        assert (site["status"], site["after"], site["error"]) == (status, None, None), site


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
