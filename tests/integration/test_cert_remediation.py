"""cert_remediation on the lab: real servers, real reloads, real rollbacks (tests/lab)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe, _verify
from lab import lab as labctl
from testlib import pki
from testlib.ansible_run import ROOT, recap, run_playbook

TARGET = Path(__file__).parent / "targets" / "cert_remediation" / "all_hosts.yml"
REMEDIATE = ROOT / "playbooks" / "remediate.yml"
HOSTS = ["shop", "api", "edge", "blog"]


@pytest.fixture
def lab(tmp_path):
    state = labctl.up(tmp_path / "lab")
    state["reports"] = str(tmp_path / "reports")
    os.makedirs(state["reports"])
    yield state
    labctl.down(tmp_path / "lab")


def backend(state, name):
    return next(b for b in state["backends"] if b["name"] == name)


def snapshot(state):
    """{path: (sha256, mode)} of every live cert, key and chain file."""
    out = {}
    for b in state["backends"]:
        for path in {b["cert_path"], b["key_path"], b["chain_path"]} - {None}:
            data = Path(path).read_bytes()
            out[path] = (hashlib.sha256(data).hexdigest(), oct(os.stat(path).st_mode & 0o777))
    return out


def served(state, name):
    b = backend(state, name)
    result = _probe.probe("127.0.0.1", b["port"], server_name=b["fqdn"], timeout=5)
    assert result["ok"], result
    return hashlib.sha256(result["chain_der"][0]).hexdigest()


def inventory(state, tmp_path, **host_vars):
    """The lab inventory with extra variables per host (backend name -> dict)."""
    data = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
    hosts = data["backends"]["hosts"]
    for name, extra in host_vars.items():
        site_extra = extra.pop("site", {})
        hosts["backend-" + name]["cert_remediation_sites"][0].update(site_extra)
        hosts["backend-" + name].update(extra)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(data))
    return path


def run(state, inv, playbook=TARGET, mode="remediate", args=(), **extra):
    extra_vars = {"cert_remediation_mode": mode, "cert_remediation_report_dir": state["reports"]}
    extra_vars.update(extra)
    return run_playbook(playbook, inventory=inv, extra_vars=extra_vars, args=args)


def report(state, name):
    hosts = json.loads((Path(state["reports"]) / "report.json").read_text())["hosts"]
    return {s["site"]: s for s in hosts["backend-%s" % name]["sites"]}[name]


def task_lines(stdout, name):
    """The default callback's per-host lines ("ok: [host]", "skipping: [host]", ...) under the role's task `name`."""
    block = stdout.split("TASK [certops.backend_tls.cert_remediation : %s]" % name, 1)[1].split("\nTASK [", 1)[0]
    return re.findall(r"^(\w+): \[([^\]]+)\]", block, re.MULTILINE)


def source_fingerprint(state, name):
    return pki.Issued(pki.x509.load_pem_x509_certificate(
        (Path(state["dir"]) / "source" / name / "cert.pem").read_bytes()), None).fingerprint


def test_check_then_remediate_then_idempotent(lab, tmp_path):
    inv = inventory(lab, tmp_path)
    before = snapshot(lab)
    served_before = {h: served(lab, h) for h in HOSTS}

    checked = run(lab, inv, args=["--check"])
    assert checked.returncode == 0, checked.stdout[-5000:]
    # every host would change, blog too, whose fix is a reload only (no file to write)
    assert all(counts["changed"] > 0 for counts in recap(checked.stdout).values()), recap(checked.stdout)
    assert snapshot(lab) == before, "--check changed a file"
    assert not Path(lab["dir"], "backups").exists()
    assert {h: served(lab, h) for h in HOSTS} == served_before

    # -vvv: whatever Ansible prints, no line of any private key may appear.
    proc = run(lab, inv, args=["-vvv"])
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    key_lines = set()
    for key in Path(lab["dir"]).rglob("*"):
        if key.is_file():
            for block in re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END", key.read_text(errors="ignore"),
                                    re.DOTALL):
                key_lines.update(line for line in block.split() if line)
    assert len(key_lines) > 20
    output = proc.stdout + proc.stderr
    leaked = [line for line in key_lines if line in output]
    assert leaked == [], "private key material in the output"

    ca = _verify.load_anchors(ca_path=lab["ca_file"])
    for host in HOSTS:
        b = backend(lab, host)
        assert report(lab, host)["status"] == "done"
        # What is served now: the renewed leaf, valid for the load balancer's CA and name.
        probe = _probe.probe("127.0.0.1", b["port"], server_name=b["fqdn"], timeout=5)
        chain = [(der, _verify.x509.load_der_x509_certificate(der)) for der in probe["chain_der"]]
        verdict = _verify.Verifier(ca).verify(chain, server_names=[b["fqdn"]])
        assert verdict["valid"], verdict["findings"]
        if host != "blog":  # blog was fixed by a reload of the files it already had
            assert hashlib.sha256(probe["chain_der"][0]).hexdigest() == source_fingerprint(lab, host)
        assert oct(os.stat(b["key_path"]).st_mode & 0o777) == "0o600"
    for backup in Path(lab["dir"], "backups").rglob("*"):
        mode = os.stat(backup).st_mode & 0o777
        if backup.is_dir():
            assert mode == 0o700, backup
        elif "PRIVATE KEY" in backup.read_text():
            assert mode == 0o600, backup
    view = labctl.wait_view(lab["dir"], "UP")
    assert [v["status"] for v in view] == ["UP"] * 4, view

    again = run(lab, inv)
    assert again.returncode == 0
    assert all(c["changed"] == 0 for c in recap(again.stdout).values()), recap(again.stdout)
    # remediate with nothing left to do: one skip for the batch, where the first run included the work per host
    assert task_lines(again.stdout, "Remediate this host's sites") == [("skipping", "backend-shop")]


def _bad_sources(lab, tmp_path):
    """Renewed material with one fault per backend, issued by the lab CA."""
    ca = pki.CA.load(Path(lab["dir"]) / "ca")
    source = tmp_path / "bad-source"
    shutil.copytree(Path(lab["dir"]) / "source", source)
    expired = ca.leaf("shop.lab.test", days=10, start_days=-20)
    pki.write(source / "shop" / "cert.pem", expired.pem)
    pki.write(source / "shop" / "key.pem", expired.key_pem(), 0o600)
    wrong = ca.leaf("not-api.lab.test")
    pki.write(source / "api" / "cert.pem", wrong.pem)
    pki.write(source / "api" / "key.pem", wrong.key_pem(), 0o600)
    pki.write(source / "edge" / "key.pem", ca.leaf("edge.lab.test").key_pem(), 0o600)  # not the cert's key
    (source / "blog" / "chain.pem").unlink()  # leaf without its intermediate
    return source


def test_preflight_refuses_bad_material_and_touches_nothing(lab, tmp_path):
    source = _bad_sources(lab, tmp_path)
    inv = inventory(lab, tmp_path, blog={"cert_remediation_force": True})
    before, served_before = snapshot(lab), {h: served(lab, h) for h in HOSTS}
    proc = run(lab, inv, cert_remediation_source_dir=str(source))
    assert proc.returncode != 0
    counts = recap(proc.stdout)
    assert all(counts["backend-" + h]["failed"] == 1 for h in HOSTS), counts
    for host, code in (("shop", "EXPIRED"), ("api", "HOSTNAME_MISMATCH"), ("edge", "KEY_MISMATCH"),
                       ("blog", "INCOMPLETE_CHAIN")):
        message = re.search(r"fatal: \[backend-%s\].*" % host, proc.stdout).group(0)
        assert "pre-flight refused" in message and code in message, message
        # the report says each site FAILED, with why (it said "not reached", and the metric's alert never fired)
        entry = report(lab, host)
        assert entry["status"].startswith("FAILED (pre-flight refused") and code in entry["error"], entry
        assert entry["rolled_back"] is False and entry["after"] is None, entry
    prom = (Path(lab["reports"]) / "backend_tls.prom").read_text()
    failed = re.findall(r'^backend_cert_remediation_total\{[^}]*host="backend-(\w+)"[^}]*result="failed"[^}]*\} 1$',
                        prom, re.MULTILINE)
    assert sorted(failed) == sorted(HOSTS), prom
    assert not re.search(r'result="not_reached"\} 1$', prom, re.MULTILINE), prom
    assert snapshot(lab) == before
    assert not Path(lab["dir"], "backups").exists()
    assert {h: served(lab, h) for h in HOSTS} == served_before


def test_one_verification_for_the_batch_judges_each_host_by_its_own_settings(lab, tmp_path):
    # blog alone trusts another CA: in the one controller-side verification of the batch it must be judged by
    # that CA (its renewed files are then no good either: push, not reload), the others by the lab's.
    # Declared values only: the load balancer's own view (the lab's default) would judge blog by HAProxy's CA.
    other = pki.write(tmp_path / "other-ca.pem", pki.CA("Other").root.pem)
    declared_only = {"cert_remediation_lb_hosts": []}
    inv = inventory(lab, tmp_path, blog=dict(declared_only, cert_remediation_ca_path=str(other)),
                    **{name: dict(declared_only) for name in ("shop", "api", "edge")})
    proc = run(lab, inv, mode="diagnose")
    assert proc.returncode == 0, proc.stdout[-5000:]
    verify_task = "TASK [certops.backend_tls.cert_remediation : Verify the served and on-disk chains of every host"
    assert proc.stdout.count(verify_task) == 1
    # One cert_chain_verify call per distinct CA: two calls, one task, run once for the batch.
    calls = re.findall(r"\(item=(\d+) chains, CA (\S+)\)", proc.stdout)
    assert sorted(calls) == sorted([("6", lab["lb_ca_file"]), ("2", str(other))]), calls
    # Nothing to remediate (diagnose) and no host failed: the last two tasks are one skip each, not one per host.
    assert task_lines(proc.stdout, "Remediate this host's sites") == [("skipping", "backend-shop")]
    assert task_lines(proc.stdout, "Fail the host with the reason (a serial rollout stops here)") == [
        ("skipping", "backend-shop")]
    blog = report(lab, "blog")
    assert blog["action"] == "push", blog
    assert {"UNTRUSTED_ROOT", "INCOMPLETE_CHAIN"} & set(blog["before"]["disk"]["codes"]), blog
    expected = {"shop": "EXPIRED", "api": "INCOMPLETE_CHAIN", "edge": "HOSTNAME_MISMATCH"}
    for name, code in expected.items():
        entry = report(lab, name)
        assert entry["action"] == "push" and code in entry["reasons"], entry


def test_a_host_with_no_tls_site_fails_after_the_batch_is_reported(lab, tmp_path):
    # shop declares nothing and discovers no TLS site (HAProxy's packaged configuration has none, or none is
    # there): it fails with the reason, after the report; the rest of the batch is judged as usual.
    inv = inventory(lab, tmp_path, shop={"cert_remediation_sites": [], "cert_remediation_discover": ["haproxy"]})
    proc = run(lab, inv, mode="diagnose", args=["--limit", "backend-shop,backend-api"])
    assert proc.returncode != 0
    counts = recap(proc.stdout)
    assert counts["backend-shop"]["failed"] == 1 and counts["backend-api"]["failed"] == 0, counts
    message = re.search(r"fatal: \[backend-shop\].*", proc.stdout).group(0)
    assert "no TLS site found on backend-shop" in message, message
    # a host failed: the task that fails it runs for each host of the batch
    assert sorted(task_lines(proc.stdout, "Fail the host with the reason (a serial rollout stops here)")) == [
        ("fatal", "backend-shop"), ("skipping", "backend-api")]
    hosts = json.loads((Path(lab["reports"]) / "report.json").read_text())["hosts"]
    assert hosts["backend-shop"]["sites"] == [] and "no TLS site found" in hosts["backend-shop"]["failed"]
    assert hosts["backend-api"]["failed"] is None and report(lab, "api")["action"] == "push"


def test_a_missing_source_file_is_named_and_nothing_is_touched(lab, tmp_path):
    source = tmp_path / "partial-source"
    shutil.copytree(Path(lab["dir"]) / "source", source)
    (source / "shop" / "cert.pem").unlink()
    before, served_before = snapshot(lab), served(lab, "shop")
    proc = run(lab, inventory(lab, tmp_path), args=["--limit", "backend-shop"],
               cert_remediation_source_dir=str(source))
    assert proc.returncode != 0
    message = re.search(r"fatal: \[backend-shop\].*", proc.stdout).group(0)
    # The reason, not Ansible's "One or more items failed" for the loop that read the sources.
    assert str(source / "shop" / "cert.pem") in message and "One or more items failed" not in message, message
    assert snapshot(lab) == before and served(lab, "shop") == served_before


def test_runtime_failures_roll_back_byte_for_byte(lab, tmp_path):
    inv = inventory(lab, tmp_path,
                    shop={"site": {"test_command": "false"}},                    # config test fails
                    api={"site": {"reload_command": "false"}},                    # reload fails
                    edge={"site": {"reload_command": "true"}, "cert_remediation_reload_wait": 3})  # never reloads
    before, served_before = snapshot(lab), {h: served(lab, h) for h in HOSTS}
    proc = run(lab, inv)
    counts = recap(proc.stdout)
    assert [counts["backend-" + h]["failed"] for h in HOSTS] == [1, 1, 1, 0], counts
    after = snapshot(lab)
    for host in ("shop", "api", "edge"):
        b = backend(lab, host)
        for path in sorted({b["cert_path"], b["key_path"]}):
            assert after[path] == before[path], "%s not restored byte for byte" % path
        assert served(lab, host) == served_before[host]
        entry = report(lab, host)
        assert entry["rolled_back"] is True and entry["after"]["serving_old"] is True, entry
        assert entry["status"].startswith("FAILED"), entry
    assert "still serves %s instead of the new certificate" % served_before["edge"] in report(lab, "edge")["error"]
    assert report(lab, "blog")["status"] == "done"  # the healthy host is not held back by the others


def test_serial_run_stops_at_the_first_failing_host(lab, tmp_path):
    source = _bad_sources(lab, tmp_path)
    inv = inventory(lab, tmp_path)
    before, served_before = snapshot(lab), {h: served(lab, h) for h in HOSTS}
    proc = run(lab, inv, playbook=REMEDIATE, cert_remediation_source_dir=str(source))
    assert proc.returncode != 0
    counts = recap(proc.stdout)
    assert counts["backend-shop"]["failed"] == 1
    assert set(counts) == {"backend-shop"}, counts  # the other hosts never ran
    assert snapshot(lab) == before
    assert {h: served(lab, h) for h in HOSTS} == served_before


def test_a_chain_path_naming_the_cert_file_is_a_full_chain_there_and_one_naming_the_key_file_is_refused(lab, tmp_path):
    """A chain_path naming the site's certificate file (here through a symlink, and HAProxy's combined PEM declared
    with all three paths) is the full chain written there: the role wrote the leaf alone and then the intermediates
    over it (the server then failed its config test, and the push was rolled back). One naming the key file alone has no
    layout to write: pre-flight refuses it and nothing is touched. Run with --diff: no material file is diffed (the
    combined PEM's diff showed its key, a review of 2026-12-07)."""
    shop, edge, api = backend(lab, "shop"), backend(lab, "edge"), backend(lab, "api")
    assert shop["chain_path"] is None is api["chain_path"] and edge["key_path"] == edge["cert_path"]
    fullchain = Path(shop["cert_path"]).with_name("fullchain.pem")  # shop names its cert file through a link
    fullchain.symlink_to(shop["cert_path"])
    inv = inventory(lab, tmp_path, shop={"site": {"chain_path": str(fullchain)}},
                    edge={"site": {"chain_path": edge["cert_path"]}},
                    api={"site": {"chain_path": api["key_path"]}})
    before, served_before = snapshot(lab), served(lab, "api")
    keys_before = {name: Path(backend(lab, name)["key_path"]).read_text() for name in ("shop", "edge", "api")}
    proc = run(lab, inv, args=["--diff"])
    counts = recap(proc.stdout)
    assert {h: counts["backend-" + h]["failed"] for h in HOSTS} == {"shop": 0, "api": 1, "edge": 0, "blog": 0}, \
        proc.stdout[-6000:]
    message = re.search(r"fatal: \[backend-api\].*", proc.stdout).group(0)
    assert "pre-flight refused" in message and "api: its chain_path %s is its key file" % api["key_path"] in message
    after = snapshot(lab)
    assert {p: after[p] for p in (api["cert_path"], api["key_path"])} == {
        p: before[p] for p in (api["cert_path"], api["key_path"])}
    assert served(lab, "api") == served_before

    ca = pki.CA.load(Path(lab["dir"]) / "ca")
    for name in ("shop", "edge"):
        assert served(lab, name) == source_fingerprint(lab, name), name
        text = Path(backend(lab, name)["cert_path"]).read_text()
        assert text.count("-----BEGIN CERTIFICATE-----") == 2 and ca.intermediate.pem in text, name
        assert report(lab, name)["status"] == "done", report(lab, name)
    assert "PRIVATE KEY-----" in Path(edge["cert_path"]).read_text()  # still the combined PEM, with its new key
    assert fullchain.is_symlink() and fullchain.resolve() == Path(shop["cert_path"]).resolve()

    # --diff showed no material file, and no key line of any key, old or renewed
    material = {p for b in lab["backends"] for p in (b["cert_path"], b["key_path"], b["chain_path"]) if p}
    assert [p for p in material if "--- before: %s" % p in proc.stdout] == []
    texts = list(keys_before.values()) + [Path(backend(lab, n)["key_path"]).read_text() for n in ("shop", "edge")]
    lines = {line for text in texts for line in text.splitlines() if len(line) >= 16 and "-----" not in line}
    assert len(lines) >= 6 and [line for line in lines if line in proc.stdout] == []
