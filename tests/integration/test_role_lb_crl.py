"""The role judged by the load balancer's certificate revocation lists, on the lab (tests/lab/lab.py).

Each test starts the lab with one backend that HAProxy finds healthy (a pool backend: valid chain, right name, about
ten days left; the inventory's cert_remediation_min_days is set below that, so it is not due for renewal) and gives
the load balancer's `server` line a `crl-file`: one PEM file holding the lab intermediate's CRL (about leaves) and the
lab root's CRL (about the intermediate), built here with cryptography's CertificateRevocationListBuilder and signed
by the lab CA's own keys (saved by the lab in <lab>/ca). HAProxy checks the whole chain against it (its `crl-file`
is crl_check chain). HAProxy reloads as the lab reloads its HAProxy backends: a new process with `-sf <old pids>`.

1. nginx backend: with both CRLs current and nothing revoked HAProxy keeps it UP (the control); with the served
   leaf's serial in the intermediate's CRL HAProxy marks it DOWN, and diagnose says its `before.lb` line is invalid
   with REVOKED and its action is `push`. A newly issued certificate put in the role's source directory
   (<source>/<site>/{cert,chain,key}.pem) is pushed by remediate: done, served, HAProxy UP, and a diagnose after
   says valid -- with the same CRL file, which still revokes the old leaf.
2. Apache backend: the renewed material in the source is revoked by that CRL as well. Remediate's pre-flight, which
   judges it with the load balancer's CRLs, refuses it and names REVOKED for the load balancer's check; nothing on
   the host changed (the files byte for byte, the served leaf, no backup made), and HAProxy still says DOWN.
3. HAProxy backend: the intermediate's CRL is past its nextUpdate. HAProxy marks the backend DOWN although nothing
   about its certificate changed; diagnose says action `manual` with reasons starting with CRL_EXPIRED and the
   fix text of a load-balancer-side fault (the plan's `lb_side`), naming the CRL file; remediate changes nothing on
   the host. Refreshing the CRL file alone brings HAProxy back UP, and the collection to valid.

At every step HAProxy's own verdict (its health check status over the stats socket, settled: not INI) is asserted
next to the collection's, and both change between steps, so their agreement cannot be vacuous.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lab import lab as labctl
from testlib import pki
from testlib.ansible_run import ROLE_PLAY, run_playbook, served_leaf

TARGET = Path(__file__).parent / "targets" / "cert_remediation" / "all_hosts.yml"
MIN_DAYS = labctl.POOL_DAYS_LEFT // 2  # a pool backend (about POOL_DAYS_LEFT days left) is not due for renewal
NGINX, APACHE, HAPROXY = labctl.pool(3)  # pool1 nginx, pool2 Apache, pool3 HAProxy: healthy for the LB
UP_CHECK, TLS_REFUSED = "L7OK", "L6RSP"  # HAProxy's check status: HTTP answered; the TLS handshake failed


@pytest.fixture
def lab_of(tmp_path):
    """lab_of(backend): the lab started with that one backend, its inventory (min_days below its days left)."""
    directory = tmp_path / "lab"

    def start(backend):
        state = labctl.up(directory, backends=[backend])
        data = json.loads((directory / "inventory.yml").read_text())
        data["backends"]["vars"]["cert_remediation_min_days"] = MIN_DAYS
        state["inventory"] = directory / "inventory-crl.yml"
        state["inventory"].write_text(json.dumps(data, indent=2))
        state["reports"] = tmp_path / "reports"
        state["reports"].mkdir()
        state["ca"] = pki.CA.load(directory / "ca")
        (state["backend"],) = state["backends"]
        return state

    yield start
    labctl.down(directory)


def crl(issuer, revoked=(), *, last=-1, following=7):
    """A PEM CRL signed by issuer's key: the revoked serials, lastUpdate and nextUpdate in days from now."""
    return pki.crl_pem(pki.crl(issuer, revoked, last=last, following=following))


def reload_lb(lab):
    """HAProxy's configuration checked, then reloaded as the lab reloads its HAProxy backends (-sf the old pids);
    the old process is waited for (and ended by its pid if it lingers), so the lab's down() ends every one."""
    conf, pidfile = lab["lb"]["conf"], lab["lb"]["pidfile"]
    check = subprocess.run(["haproxy", "-c", "-q", "-f", conf], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    old = [int(pid) for pid in Path(pidfile).read_text().split()]
    proc = subprocess.run(["haproxy", "-f", conf, "-D", "-p", pidfile, "-sf", *map(str, old)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deadline = time.monotonic() + 10
    for pid in old:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 15)
                break
            time.sleep(0.05)


def give_lb_crls(lab, *crls):
    """The CRLs, in one PEM file, as the `crl-file` of the backend's server line; HAProxy reloaded."""
    path = Path(lab["dir"]) / "lb" / "crls.pem"
    path.write_text("".join(crls))
    conf = Path(lab["lb"]["conf"])
    text = conf.read_text()
    name = lab["backend"]["name"]
    if " crl-file " not in text:
        text, count = re.subn(r"^( +server %s .*)$" % re.escape(name), r"\1 crl-file %s" % path, text, flags=re.M)
        assert count == 1, text
        conf.write_text(text)
    reload_lb(lab)


def haproxy_says(lab, want):
    """(status, check status) of the backend in HAProxy's own view once it settled on want (or 15 s passed)."""
    (row,) = labctl.wait_view(lab["dir"], want)
    return row["status"], row["check"].split(":")[0]


def run(lab, mode, play=TARGET):
    """The role on the lab's inventory; (the process, report.json of this very run)."""
    report = lab["reports"] / "report.json"
    if report.exists():
        report.unlink()
    proc = run_playbook(play, inventory=lab["inventory"], extra_vars={
        "cert_remediation_mode": mode, "cert_remediation_report_dir": str(lab["reports"]),
        "cert_remediation_report_formats": ["json"]})
    assert report.exists(), proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc, json.loads(report.read_text())


def site_of(lab, report):
    (site,) = report["hosts"]["backend-" + lab["backend"]["name"]]["sites"]
    return site


def lb_line(site):
    (line,) = site["before"]["lb"]
    return line["backend"], line["valid"], line["codes"]


def served_cert(lab):
    """The leaf in the backend's certificate file, checked to be the one it serves now."""
    backend = lab["backend"]
    leaf = x509.load_pem_x509_certificate(Path(backend["cert_path"]).read_bytes())
    assert served_leaf(backend["port"], backend["fqdn"]) == leaf.fingerprint(hashes.SHA256()).hex()
    return leaf


def files_of(lab):
    backend = lab["backend"]
    return {path: Path(path).read_bytes() for path in (backend["cert_path"], backend["key_path"])}


def error_findings(verdict):
    return {f["code"]: f["message"] for f in verdict["findings"] if f["severity"] == "error"}


def test_a_revoked_backend_is_down_for_haproxy_pushed_by_the_role_then_up(lab_of):
    lab = lab_of(NGINX)
    ca, backend = lab["ca"], lab["backend"]
    served = served_cert(lab)
    pool = "be_%s/%s" % (backend["name"], backend["name"])

    # control: HAProxy checks the CRL file (both CRLs current, nothing revoked) and keeps the backend UP
    give_lb_crls(lab, crl(ca.intermediate), crl(ca.root))
    assert haproxy_says(lab, "UP") == ("UP", UP_CHECK)

    # the served leaf revoked by the intermediate's CRL: HAProxy refuses the handshake
    give_lb_crls(lab, crl(ca.intermediate, [served.serial_number]), crl(ca.root))
    assert haproxy_says(lab, "DOWN") == ("DOWN", TLS_REFUSED)
    proc, report = run(lab, "diagnose")
    assert proc.returncode == 0, proc.stdout[-6000:]
    site = site_of(lab, report)
    assert lb_line(site) == (pool, False, ["REVOKED"]), site["before"]["lb"]
    assert (site["action"], site["reasons"], site["status"]) == ("push", ["REVOKED"], "planned"), site
    assert site["before"]["served"]["fingerprint"] == served.fingerprint(hashes.SHA256()).hex()
    assert "revoked by CN=Lab Intermediate CA" in error_findings(site["before"]["served"])["REVOKED"], site

    # a newly issued certificate, not revoked, in the role's source directory: <source>/<site>/{cert,chain,key}.pem
    renewed = ca.leaf(backend["fqdn"], days=90)
    source = Path(backend["source"])
    pki.write(source / "cert.pem", renewed.pem)
    pki.write(source / "chain.pem", ca.intermediate.pem)
    pki.write(source / "key.pem", renewed.key_pem(), 0o600)
    proc, report = run(lab, "remediate")
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    site = site_of(lab, report)
    assert (site["status"], site["action"], site["rolled_back"]) == ("done", "push", False), site
    assert (site["after"]["valid"], site["after"]["fingerprint"]) == (True, renewed.fingerprint), site["after"]
    assert served_leaf(backend["port"], backend["fqdn"]) == renewed.fingerprint
    assert haproxy_says(lab, "UP") == ("UP", UP_CHECK)

    # judged again with the same CRL file (which still revokes the old leaf): valid, nothing to do
    proc, report = run(lab, "diagnose")
    assert proc.returncode == 0, proc.stdout[-6000:]
    site = site_of(lab, report)
    assert lb_line(site) == (pool, True, []), site["before"]["lb"]
    assert (site["action"], site["reasons"], site["before"]["served"]["fingerprint"]) == (
        "none", [], renewed.fingerprint), site


def test_pre_flight_refuses_renewed_material_the_load_balancers_crl_revokes(lab_of):
    lab = lab_of(APACHE)
    ca, backend = lab["ca"], lab["backend"]
    served = served_cert(lab)
    renewed = x509.load_pem_x509_certificate((Path(backend["source"]) / "cert.pem").read_bytes())
    assert renewed.serial_number != served.serial_number
    give_lb_crls(lab, crl(ca.intermediate, [served.serial_number, renewed.serial_number]), crl(ca.root))
    assert haproxy_says(lab, "DOWN") == ("DOWN", TLS_REFUSED)
    before = files_of(lab)

    proc, report = run(lab, "remediate")
    assert proc.returncode != 0, proc.stdout[-8000:]
    host = "backend-" + backend["name"]
    fatal = next((line for line in proc.stdout.splitlines()
                  if line.startswith("fatal: [%s]:" % host) and "pre-flight" in line), None)
    assert fatal is not None, proc.stdout[-8000:]
    assert "pre-flight refused the renewed material; nothing was changed on %s." % host in fatal, fatal
    # one "<item>: <codes>." per check the material was judged by: the load balancer's (its CRLs) says REVOKED
    verdicts = dict(re.findall(r"(%s(?: \(load balancer \d+\))?): ([^.]*)\." % backend["name"], fatal))
    assert verdicts.get("%s (load balancer 1)" % backend["name"]) == "REVOKED", fatal
    assert set(verdicts.values()) <= {"ok", "REVOKED"}, fatal
    site = site_of(lab, report)
    assert site["action"] == "push" and site["reasons"] == ["REVOKED"], site
    assert site["status"].startswith("FAILED (pre-flight refused the renewed material"), site
    assert (site["rolled_back"], site["after"]) == (False, None), site
    # nothing touched: the files byte for byte, what is served, no backup begun
    assert files_of(lab) == before
    assert served_leaf(backend["port"], backend["fqdn"]) == served.fingerprint(hashes.SHA256()).hex()
    assert not (Path(lab["dir"]) / "backups" / backend["name"]).exists()
    assert haproxy_says(lab, "DOWN") == ("DOWN", TLS_REFUSED)


def test_a_stale_crl_on_the_load_balancer_is_a_manual_fix_and_nothing_is_pushed(lab_of):
    lab = lab_of(HAPROXY)
    ca, backend = lab["ca"], lab["backend"]
    served = served_cert(lab)
    pool = "be_%s/%s" % (backend["name"], backend["name"])
    # The all_hosts target fails any host whose site needs a person; the role alone says what it did.
    play = Path(lab["dir"]) / "role.yml"
    play.write_text(ROLE_PLAY)

    # the intermediate's CRL expired yesterday (the root's is current): HAProxy refuses every chain it covers
    give_lb_crls(lab, crl(ca.intermediate, last=-10, following=-1), crl(ca.root))
    assert haproxy_says(lab, "DOWN") == ("DOWN", TLS_REFUSED)
    before = files_of(lab)
    proc, report = run(lab, "diagnose", play)
    assert proc.returncode == 0, proc.stdout[-6000:]
    site = site_of(lab, report)
    backend_name, valid, codes = lb_line(site)
    assert (backend_name, valid, codes[:1]) == (pool, False, ["CRL_EXPIRED"]), site["before"]["lb"]
    assert site["action"] == "manual" and site["reasons"][:1] == ["CRL_EXPIRED"], site
    assert site["status"] == "needs a person", site
    # lb_side: the fix of a fault on the load balancer's side, naming its CRL file, not a push
    assert "CRL file" in site["fix"] and "no certificate push fixes" in site["fix"], site["fix"]
    assert "CN=Lab Intermediate CA" in error_findings(site["before"]["served"])["CRL_EXPIRED"], site

    proc, report = run(lab, "remediate", play)
    assert proc.returncode == 0, proc.stdout[-8000:]
    site = site_of(lab, report)
    assert (site["action"], site["status"], site["after"], site["rolled_back"]) == (
        "manual", "needs a person", None, False), site
    assert files_of(lab) == before
    assert served_leaf(backend["port"], backend["fqdn"]) == served.fingerprint(hashes.SHA256()).hex()
    assert not (Path(lab["dir"]) / "backups").exists()
    assert haproxy_says(lab, "DOWN") == ("DOWN", TLS_REFUSED)

    # the fault was the CRL file's: refreshed (nothing pushed), HAProxy and the collection take the backend again
    give_lb_crls(lab, crl(ca.intermediate), crl(ca.root))
    assert haproxy_says(lab, "UP") == ("UP", UP_CHECK)
    proc, report = run(lab, "diagnose", play)
    assert proc.returncode == 0, proc.stdout[-6000:]
    site = site_of(lab, report)
    assert lb_line(site) == (pool, True, []) and site["action"] == "none", site
