"""Run the collection through real ansible / ansible-playbook processes and read their results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTIONS = ROOT / "build" / "collections"


# A play applying the role to the `backends` group, for tests that write their own inventory.
ROLE_PLAY = """---
- name: Remediate the declared sites
  hosts: backends
  gather_facts: false
  roles:
    - role: certops.backend_tls.cert_remediation
"""


def served_leaf(port, server_name):
    """The SHA-256 fingerprint of the leaf a loopback endpoint serves now (a failed handshake fails the test)."""
    import hashlib

    from ansible_collections.certops.backend_tls.plugins.module_utils import _probe

    result = _probe.probe("127.0.0.1", port, server_name=server_name, timeout=5)
    assert result["ok"], result
    return hashlib.sha256(result["chain_der"][0]).hexdigest()


def openssl_leaf(port, server_name=None, host="127.0.0.1"):
    """The SHA-256 fingerprint of the leaf `openssl s_client` is served at host:port for this SNI (None: it sends
    none): the reference, independent of the collection's own probe."""
    import subprocess

    from testlib import pki

    args = ["-servername", server_name] if server_name else ["-noservername"]
    proc = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port)] + args,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)
    pem = proc.stdout.decode()
    assert "-----BEGIN CERTIFICATE-----" in pem, proc.stderr.decode()[-2000:]
    block = pem[pem.index("-----BEGIN CERTIFICATE-----"):pem.index("-----END CERTIFICATE-----") + 25]
    return pki.Issued(pki.x509.load_pem_x509_certificate(block.encode()), None).fingerprint


def env(**extra):
    out = dict(os.environ)
    out.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PATH": "%s:%s" % (BIN, out.get("PATH", "/usr/bin:/bin")),
    })
    out.update(extra)
    return out


def run_module(module, args, *, interpreter=None, check=False, timeout=300):
    """One ad-hoc module call on localhost; returns the module's result dict."""
    cmd = [str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % (interpreter or sys.executable),
           "-m", module if "." in module else "certops.backend_tls." + module, "-a", json.dumps(args), "-o"]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(), check=False)
    for line in proc.stdout.splitlines():  # oneline callback: "localhost | SUCCESS => {...}"
        if line.startswith("localhost | ") and " => {" in line:
            status, payload = line[len("localhost | "):].split(" => ", 1)
            result = json.loads(payload)
            if status.startswith("FAILED"):  # the oneline callback moves 'failed' into the status
                result["failed"] = True
            return result
    raise AssertionError("ansible printed no result (rc=%d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))


def run_playbook(playbook, *, extra_vars=None, inventory=None, args=(), timeout=900):
    """ansible-playbook with extra vars (written to a JSON file); returns the CompletedProcess."""
    cmd = [str(BIN / "ansible-playbook"), str(playbook)]
    if inventory:
        cmd += ["-i", str(inventory)]
    else:
        cmd += ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable]
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="certops-vars-") as varfile:
        json.dump(extra_vars or {}, varfile)
        varfile.flush()
        cmd += ["-e", "@%s" % varfile.name] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(), check=False)


def recap(stdout):
    """PLAY RECAP -> {host: {ok, changed, unreachable, failed, skipped, rescued, ignored}}."""
    import re

    out = {}
    for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.MULTILINE):
        out[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return out


def diagnose_sites(tmp_path, ca_pem, **extra_vars):
    """playbooks/diagnose.yml over localhost with these role variables (cert_remediation_discover or _sites) and a CA
    file of ca_pem: {site: its report entry}, from the JSON report (the run must succeed)."""
    reports = Path(tmp_path) / "reports"
    reports.mkdir(exist_ok=True)
    ca_path = Path(tmp_path) / "diagnose-ca.pem"
    ca_path.write_text(ca_pem)
    proc = run_playbook(ROOT / "playbooks" / "diagnose.yml", extra_vars=dict({
        "cert_remediation_hosts": "localhost", "cert_remediation_report_dir": str(reports),
        "cert_remediation_ca_path": str(ca_path)}, **extra_vars))
    assert proc.returncode == 0, proc.stdout[-5000:]
    return {s["site"]: s for s in json.loads((reports / "report.json").read_text())["hosts"]["localhost"]["sites"]}


def haproxy_judged_vars(tmp_path, lb_conf, **extra):
    """The role's variables for backends the HAProxy of host `lb` (its configuration lb_conf) judges: renewals under
    tmp_path/source, backups under tmp_path/backups, the JSON report in tmp_path, reloads by command; plus extra."""
    return dict({
        "cert_remediation_lb_hosts": ["lb"], "cert_remediation_lb_type": ["haproxy"],
        "cert_remediation_lb_config": {"haproxy": str(lb_conf)},
        "cert_remediation_source_dir": str(Path(tmp_path) / "source"),
        "cert_remediation_backup_dir": str(Path(tmp_path) / "backups"), "cert_remediation_report_dir": str(tmp_path),
        "cert_remediation_report_formats": ["json"], "cert_remediation_reload": "command",
        "cert_remediation_reload_wait": 10}, **extra)
