"""Issue 12's acceptance on the lab: an expired backend with no renewed material anywhere is renewed from an ACME
CA (Pebble) by one remediate run of the role, the load balancer (HAProxy, trusting Pebble's root) sees it UP, and a
second run orders nothing. Also: check mode orders nothing and touches nothing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from lab import lab as labctl
from testlib import pebble as pebble_lib
from testlib import pki
from testlib.ansible_run import COLLECTIONS, ROOT, run_playbook
from testlib.servers import free_port

REMEDIATE = ROOT / "playbooks" / "remediate.yml"
SHOP = [b for b in labctl.BACKENDS if b["name"] == "shop"]

pytestmark = [
    pytest.mark.skipif(not pebble_lib.available(), reason="Pebble is not installed (Debian package pebble)"),
    pytest.mark.skipif(not any(Path(p, "ansible_collections", "community", "crypto").is_dir()
                               for p in [str(COLLECTIONS)] + sys.path),
                       reason="community.crypto is not installed (pip install -r requirements-acme.txt)"),
]


@pytest.fixture
def acme_lab(tmp_path):
    """The lab's expired nginx backend (shop) behind HAProxy, its renewed material removed, and Pebble (validation
    switched off: the HTTP-01 round trip through a real webroot is tests/integration/test_acme.py's)."""
    state = labctl.up(tmp_path / "lab", backends=SHOP)
    try:
        shutil.rmtree(Path(state["dir"]) / "source" / "shop")  # no renewed material anywhere
        with pebble_lib.Pebble(tmp_path / "pebble", http_port=free_port(), always_valid=True,
                               blocked=["blocked.lab.test"]) as ca:
            # The load balancer trusts Pebble's issuing root too, from its next (re)start.
            lb = state["lb"]
            with open(state["lb_ca_file"], "a") as anchors:
                anchors.write(ca.issuing_root_pem())
            subprocess.run("haproxy -f %s -D -p %s -sf $(cat %s)" % (lb["conf"], lb["pidfile"], lb["pidfile"]),
                           shell=True, check=True)
            webroot = tmp_path / "webroot"
            webroot.mkdir()
            yield state, ca, {
                "cert_remediation_acme_enabled": True, "cert_remediation_acme_directory": ca.directory_url,
                "cert_remediation_acme_api_ca_path": str(ca.api_ca_file), "cert_remediation_acme_terms_agreed": True,
                "cert_remediation_acme_webroot": str(webroot), "cert_remediation_report_dir": str(tmp_path)}
    finally:
        labctl.down(tmp_path / "lab")


def served_leaf(state):
    b = state["backends"][0]
    probe = _probe.probe("127.0.0.1", b["port"], server_name=b["fqdn"], timeout=5)
    assert probe["ok"], probe
    return probe["chain_der"]


def files(state):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(state["dir"], "shop", "certs").rglob("*")
            if p.is_file()}


def test_an_expired_backend_with_nothing_renewed_is_renewed_from_acme_and_the_lb_sees_it_up(acme_lab):
    state, ca, acme = acme_lab
    inventory = Path(state["dir"]) / "inventory.yml"
    assert labctl.wait_view(state["dir"], "DOWN")[0]["status"].startswith("DOWN")
    before, served_before = files(state), served_leaf(state)

    checked = run_playbook(REMEDIATE, inventory=inventory, extra_vars=acme, args=["--check"])
    assert checked.returncode == 0, checked.stdout[-5000:] + checked.stderr[-2000:]
    assert len(re.findall(r"POST /order-plz", ca.log)) == 0, "check mode placed an order"
    assert files(state) == before and served_leaf(state) == served_before
    assert not (Path(state["dir"]) / "source" / "shop" / "cert.pem").exists()

    proc = run_playbook(REMEDIATE, inventory=inventory, extra_vars=acme)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert len(re.findall(r"POST /order-plz", ca.log)) == 1
    chain = served_leaf(state)
    leaf = pki.x509.load_der_x509_certificate(chain[0])
    intermediate = pki.x509.load_pem_x509_certificate(ca.issuing_intermediate_pem().encode())
    assert leaf.issuer == intermediate.subject  # issued by Pebble, served with its chain
    assert [v["status"] for v in labctl.wait_view(state["dir"], "UP")] == ["UP"]
    key = Path(state["dir"]) / "source" / "shop" / "key.pem"
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    key_lines = [line for line in key.read_text().splitlines() if "-----" not in line]
    assert key_lines and not [line for line in key_lines if line in proc.stdout + proc.stderr]

    again = run_playbook(REMEDIATE, inventory=inventory, extra_vars=acme)
    assert again.returncode == 0, again.stdout[-4000:]
    assert len(re.findall(r"POST /order-plz", ca.log)) == 1, "the second run ordered again"
    assert served_leaf(state) == chain


@pytest.mark.parametrize("fault", ["wrong directory", "rejected order"])
def test_a_failed_order_fails_the_host_with_the_reason_and_touches_nothing(acme_lab, tmp_path, fault):
    """Through the role: the order fails before pre-flight, so the backend serves what it served before, its files
    are byte for byte what they were, no challenge file is left, and the report names the reason."""
    state, ca, acme = acme_lab
    before, served_before = files(state), served_leaf(state)
    if fault == "wrong directory":
        acme = dict(acme, cert_remediation_acme_directory=ca.directory_url.replace("/dir", "/no-such-directory"))
    else:  # a name the CA's policy refuses (Pebble's domainBlocklist): rejectedIdentifier
        acme = dict(acme, cert_remediation_sites=[dict(
            _inventory_site(state), server_names=["shop.lab.test", "blocked.lab.test"])])
    proc = run_playbook(REMEDIATE, inventory=Path(state["dir"]) / "inventory.yml", extra_vars=acme)
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert files(state) == before and served_leaf(state) == served_before
    assert not list(Path(acme["cert_remediation_acme_webroot"]).rglob("*.*")), "a challenge file was left"
    assert not (Path(state["dir"]) / "source" / "shop" / "cert.pem").exists()
    report = (tmp_path / "report.json").read_text()
    failed = json.loads(report)["hosts"]["backend-shop"]["failed"]
    want = "is not an ACME directory" if fault == "wrong directory" else "rejectedIdentifier"
    assert want in failed, failed
    assert labctl.wait_view(state["dir"], "DOWN")[0]["status"].startswith("DOWN")


def _inventory_site(state):
    inventory = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
    return inventory["backends"]["hosts"]["backend-shop"]["cert_remediation_sites"][0]
