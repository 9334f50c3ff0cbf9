"""The playbooks over a real SSH transport: key login as an unprivileged user, `become` (sudo) to root.

One lab backend (shop: nginx serving an expired certificate) is reached through a real OpenSSH
server on loopback (tests/testlib/sshd.py) as `certops-ssh`, the way AWX reaches a fleet. The
lab's files and servers belong to root (its directory is 0700 root, the key file 0600 root), so
nothing works without become. Needs hack/setup-ssh.sh (openssh-server, sudo, the user); skipped
with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from lab import lab as labctl
from testlib import sshd
from testlib.ansible_run import ROOT, recap, run_playbook

HOST = "backend-shop"
NAME = "shop"
TARGET_PYTHON = "/usr/bin/python3"  # Debian's, with python3-cryptography; the venv under /root is not reachable
REMEDIATE = ROOT / "playbooks" / "remediate.yml"

MISSING = sshd.missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

# The diagnose playbook exactly as AWX would run it, then a play asking who the tasks ran as.
DIAGNOSE_AND_WHOAMI = """\
- name: Diagnose
  ansible.builtin.import_playbook: certops.backend_tls.diagnose

- name: Who the tasks ran as, over the same connection
  hosts: backends
  gather_facts: false
  tasks:
    - name: As the role's tasks run (become from the inventory)
      ansible.builtin.command: id -un
      register: __whoami_become
      changed_when: false

    - name: As the SSH login user (no become)
      ansible.builtin.command: id -un
      vars:
        ansible_become: false  # the inventory's variable beats a `become: false` keyword
      register: __whoami_login
      changed_when: false

    - name: Show both
      ansible.builtin.debug:
        msg: "WHOAMI become={{ __whoami_become.stdout }} login={{ __whoami_login.stdout }}"
"""


def _close_control_masters(control_dir):
    """Ansible's ssh ControlPersist masters outlive the run: ask each one we made to exit."""
    for sock in Path(control_dir).iterdir():
        subprocess.run(["ssh", "-o", "ControlPath=%s" % sock, "-O", "exit", "certops-ssh@127.0.0.1"],
                       capture_output=True, timeout=30, check=False)


@pytest.fixture
def over_ssh(tmp_path):
    """The lab, an sshd for it, a client key, and an inventory with one backend reached over ssh."""
    server = sshd.Sshd()
    control_dir = server.dir / "cp"  # short: a unix socket path must stay under 108 bytes
    control_dir.mkdir(mode=0o700)
    try:
        state = labctl.up(tmp_path / "lab")
        client_key = tmp_path / "id_ed25519"
        fingerprint = sshd.keygen(client_key)
        server.authorize(str(client_key) + ".pub")
        server.start()
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())  # the host key is ours: checked strictly

        whole = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
        lab_inventory = whole["backends"]
        group_vars = {k: v for k, v in lab_inventory["vars"].items() if not k.startswith("ansible_")}
        host_vars = dict(lab_inventory["hosts"][HOST], **{
            "ansible_connection": "ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": server.port,
            "ansible_user": sshd.USER,
            "ansible_ssh_private_key_file": str(client_key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s "
                                       "-o IdentitiesOnly=yes -o BatchMode=yes" % known_hosts,
            "ansible_control_path_dir": str(control_dir),
            "ansible_become": True,
            "ansible_become_method": "sudo",
            "ansible_python_interpreter": TARGET_PYTHON,
        })
        inventory = tmp_path / "inventory.json"
        # the lab's load balancer stays a local host of the inventory: the role reads its view there
        inventory.write_text(json.dumps({"backends": {"hosts": {HOST: host_vars}, "vars": group_vars},
                                         "load_balancers": whole["load_balancers"]}))
        reports = tmp_path / "reports"
        reports.mkdir()
        yield {"state": state, "server": server, "fingerprint": fingerprint, "inventory": inventory,
               "reports": reports}
    finally:
        try:
            _close_control_masters(control_dir)
        finally:
            try:
                server.stop()
            finally:
                labctl.down(tmp_path / "lab")
                server.cleanup()


def _report(reports):
    return {s["site"]: s for s in json.loads((reports / "report.json").read_text())["hosts"][HOST]["sites"]}[NAME]


def _wait_backend(directory, name, want, timeout=15.0):
    """labctl.wait_view for one backend (the others stay DOWN here): {backend: view row}."""
    deadline = time.monotonic() + timeout
    view = {v["backend"]: v for v in labctl.lb_view(directory)}
    while time.monotonic() < deadline and not view[name]["status"].startswith(want):
        time.sleep(0.25)
        view = {v["backend"]: v for v in labctl.lb_view(directory)}
    return view


def _sessions(log):
    """Commands run over the connection (one per remote step of a task; a persisted connection serves many)."""
    return len(re.findall(r"Starting session: command for %s from 127\.0\.0\.1" % sshd.USER, log))


def _accepted(log):
    return re.findall(r"Accepted publickey for (\S+) from 127\.0\.0\.1 port \d+ ssh2: ED25519 (\S+)", log)


def test_diagnose_and_remediate_over_ssh_with_become(over_ssh):
    state, server, reports = over_ssh["state"], over_ssh["server"], over_ssh["reports"]
    shop = next(b for b in state["backends"] if b["name"] == NAME)

    # become is needed: the site's key is root's alone, under a directory the login user cannot enter.
    key = os.stat(shop["key_path"])
    assert (key.st_uid, stat.S_IMODE(key.st_mode)) == (0, 0o600)
    probe = subprocess.run(["runuser", "-u", sshd.USER, "--", TARGET_PYTHON, "-c",
                            "import cryptography, sys; open(sys.argv[1]).read()", shop["key_path"]],
                           capture_output=True, text=True, check=False)
    assert probe.returncode == 1 and "PermissionError" in probe.stderr, probe.stderr

    view = {v["backend"]: v for v in labctl.lb_view(state["dir"])}
    assert view[NAME]["status"].startswith("DOWN"), view

    # 1. diagnose: read-only, reports the fault; the modules ran as root via sudo over ssh.
    wrapper = over_ssh["inventory"].parent / "diagnose_whoami.yml"
    wrapper.write_text(DIAGNOSE_AND_WHOAMI)
    proc = run_playbook(wrapper, inventory=over_ssh["inventory"],
                        extra_vars={"cert_remediation_report_dir": str(reports)})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert recap(proc.stdout)[HOST]["failed"] == 0
    # Through ssh: sshd accepted our key for the unprivileged user, and ran commands for it.
    accepted = _accepted(server.read_log())
    assert accepted and set(accepted) == {(sshd.USER, over_ssh["fingerprint"])}, server.read_log()
    assert _sessions(server.read_log()) > 0
    # As root: sudo from the login user, which is the unprivileged one.
    assert "WHOAMI become=root login=%s" % sshd.USER in proc.stdout, proc.stdout[-3000:]
    entry = _report(reports)
    assert entry["action"] == "push", entry
    assert "EXPIRED" in json.dumps(entry["reasons"]), entry
    # Reading the 0600 root key took root: it was read, and it belongs to the certificate on disk.
    assert entry["before"]["key_matches_cert"] is True, entry["before"]

    # 2. remediate, the playbook as it is: renewed material pushed, nginx reloaded, as root.
    sessions_before = _sessions(server.read_log())
    proc = run_playbook(REMEDIATE, inventory=over_ssh["inventory"],
                        extra_vars={"cert_remediation_report_dir": str(reports)})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert recap(proc.stdout)[HOST]["failed"] == 0
    assert recap(proc.stdout)[HOST]["changed"] > 0
    assert _sessions(server.read_log()) > sessions_before, "remediate ran nothing over ssh"
    assert set(_accepted(server.read_log())) == {(sshd.USER, over_ssh["fingerprint"])}
    entry = _report(reports)
    assert entry["status"] == "done", entry
    # Written as root (a directory the login user cannot enter), key still 0600 root, renewed leaf served.
    key = os.stat(shop["key_path"])
    assert (key.st_uid, stat.S_IMODE(key.st_mode)) == (0, 0o600)
    renewed = x509.load_pem_x509_certificate((Path(shop["source"]) / "cert.pem").read_bytes())
    served = _probe.probe("127.0.0.1", shop["port"], server_name=shop["fqdn"], timeout=5)
    assert served["ok"] and served["chain_der"][0] == renewed.public_bytes(serialization.Encoding.DER), served

    view = _wait_backend(state["dir"], NAME, "UP")
    assert view[NAME]["status"].startswith("UP"), view
    # Only the host in this inventory was touched: the others still fail their checks.
    assert all(v["status"].startswith("DOWN") for name, v in view.items() if name != NAME), view
