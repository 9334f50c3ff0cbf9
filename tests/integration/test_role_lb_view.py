"""The role judged by the load balancer's own view (issue 10, cert_remediation_lb_hosts) on the lab.

The lab's inventory names its HAProxy load balancer; the role reads it with lb_backend_info, maps each backend to its
inventory host and judges each site as HAProxy does. Here the declared CA path is deliberately wrong (a CA HAProxy
does not trust): without the load balancer's own anchors every verdict and the pre-flight would be wrong. The
collection's verdict must equal HAProxy's own check status for every backend, broken and fixed; a backend no host
answers for is reported; a load balancer whose configuration cannot be read leaves the declared values in charge.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import lab as labctl
from testlib import pki
from testlib.ansible_run import run_playbook
from testlib.servers import free_port

TARGET = Path(__file__).parent / "targets" / "cert_remediation" / "all_hosts.yml"


@pytest.fixture
def lab(tmp_path):
    state = labctl.up(tmp_path / "lab")
    state["reports"] = tmp_path / "reports"
    state["reports"].mkdir()
    yield state
    labctl.down(tmp_path / "lab")


def inventory(state, *, drop=(), **overrides):
    """The lab's inventory with backend hosts dropped and group variables overridden, written beside it."""
    data = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
    hosts = data["backends"]["hosts"]
    for host in drop:
        del hosts[host]
    data["backends"]["vars"].update(overrides)
    path = Path(state["dir"]) / ("inventory-%d.yml" % len(list(Path(state["dir"]).glob("inventory-*.yml"))))
    path.write_text(json.dumps(data, indent=2))
    return path


def run(state, inv, mode="diagnose", ok=True):
    proc = run_playbook(TARGET, inventory=inv, extra_vars={
        "cert_remediation_mode": mode, "cert_remediation_report_dir": str(state["reports"]),
        "cert_remediation_report_formats": ["json"]})
    assert (proc.returncode == 0) is ok, proc.stdout[-6000:] + proc.stderr[-2000:]
    return json.loads((state["reports"] / "report.json").read_text()) if ok else proc.stdout + proc.stderr


def haproxy_says(state, want):
    return {row["backend"]: row["status"].startswith("UP") for row in labctl.wait_view(state["dir"], want)}


def judged(report):
    """{backend name: (the collection's verdict, codes, matched by)} from each site's before.lb."""
    out = {}
    for entry in report["hosts"].values():
        for site in entry["sites"]:
            (line,) = site["before"]["lb"]
            out[line["backend"].split("/")[1]] = (line["valid"], line["codes"], line["matched_by"])
    return out


def test_the_load_balancer_judges_and_its_anchors_fix_what_the_declared_ca_would_not(lab, tmp_path):
    wrong = pki.CA("Not The LB's")
    wrong_ca = pki.write(tmp_path / "wrong-ca.pem", wrong.root.pem)
    inv = inventory(lab, drop=["backend-edge"], cert_remediation_ca_path=str(wrong_ca))

    before = run(lab, inv)
    lb_up = haproxy_says(lab, "DOWN")
    verdicts = judged(before)
    assert set(verdicts) == {"shop", "api", "blog"}
    assert {name: v[0] for name, v in verdicts.items()} == {name: lb_up[name] for name in verdicts}
    assert {name: v[1] for name, v in verdicts.items()} == {
        "shop": ["EXPIRED"], "api": ["INCOMPLETE_CHAIN"], "blog": ["EXPIRED"]}
    assert {v[2] for v in verdicts.values()} == {"endpoint"}
    # nobody in this inventory answers for edge: reported, not guessed
    assert [(b["lb_host"], b["backend"]) for b in before["unclaimed_backends"]] == [("lb", "be_edge/edge")]
    assert before["load_balancers"][0]["error"] is None and before["load_balancers"][0]["backends"] == 4
    actions = {site["site"]: site["action"] for e in before["hosts"].values() for site in e["sites"]}
    assert actions == {"shop": "push", "api": "push", "blog": "reload"}

    # Pre-flight and re-verification use HAProxy's CA file, not the wrong declared one: the fix goes through.
    fixed = run(lab, inv, "remediate")
    statuses = {site["site"]: site["status"] for e in fixed["hosts"].values() for site in e["sites"]}
    assert statuses == {"shop": "done", "api": "done", "blog": "done"}, fixed
    lb_up = haproxy_says(lab, "UP")
    assert {name: lb_up[name] for name in ("shop", "api", "blog")} == {"shop": True, "api": True, "blog": True}
    after = judged(run(lab, inv))
    assert {name: v[0] for name, v in after.items()} == {"shop": True, "api": True, "blog": True}
    assert lb_up["edge"] is False  # the unclaimed backend was left alone


def test_a_load_balancer_that_cannot_be_read_leaves_the_declared_values_in_charge(lab):
    inv = inventory(lab, cert_remediation_lb_config={"haproxy": str(Path(lab["dir"]) / "missing.cfg")})
    report = run(lab, inv)
    (balancer,) = report["load_balancers"]
    assert balancer["backends"] == 0 and balancer["configs"][0]["error"], balancer
    sites = {site["site"]: site for e in report["hosts"].values() for site in e["sites"]}
    assert all("lb" not in site["before"] for site in sites.values())
    # the declared CA (the lab's, right) judges as before: each fault found
    assert {name: site["reasons"][0] for name, site in sites.items()} == {
        "shop": "EXPIRED", "api": "INCOMPLETE_CHAIN", "blog": "EXPIRED", "edge": "HOSTNAME_MISMATCH"}
    assert report["unclaimed_backends"] == []


def test_a_load_balancer_host_missing_from_the_inventory_stops_the_play_before_anything(lab):
    output = run(lab, inventory(lab, cert_remediation_lb_hosts=["lb", "lb-typo"]), "remediate", ok=False)
    assert "pre-check failed; nothing was touched on any host of the play" in output
    assert "cert_remediation_lb_hosts: lb-typo is not a host of the inventory" in output


def test_after_the_reload_the_load_balancers_own_probe_decides_and_a_refusal_rolls_back(lab):
    """The last proof is the load balancer's: after the reload each one probes the site again from where it stands,
    with its own settings. Here the reload also makes HAProxy offer only TLS 1.0-1.1 to shop (its configuration
    file changes, as a concurrent change would): the backend's own probe still sees the new certificate, the load
    balancer could not connect, so the site is rolled back byte for byte and the reason is named."""
    shop = next(b for b in lab["backends"] if b["name"] == "shop")
    files = {path: Path(path).read_bytes() for path in (shop["cert_path"], shop["key_path"])}
    conf = lab["lb"]["conf"]
    data = json.loads((Path(lab["dir"]) / "inventory.yml").read_text())
    site = data["backends"]["hosts"]["backend-shop"]["cert_remediation_sites"][0]
    site["reload_command"] += " && sed -i 's/^\\( *server shop .*\\)$/\\1 ssl-max-ver TLSv1.1/' %s" % conf
    inv = Path(lab["dir"]) / "inventory-shop.yml"
    inv.write_text(json.dumps(data))
    proc = run_playbook(TARGET, inventory=inv, args=["--limit", "backend-shop"], extra_vars={
        "cert_remediation_mode": "remediate", "cert_remediation_report_dir": str(lab["reports"]),
        "cert_remediation_report_formats": ["json"]})
    assert proc.returncode != 0, proc.stdout[-12000:]
    assert "ssl-max-ver TLSv1.1" in Path(conf).read_text()  # the reload did run
    fatal = next(line for line in proc.stdout.splitlines() if line.startswith("fatal: [backend-shop]:")
                 and "rolled back" in line)
    assert "load balancers cannot complete a handshake with be_shop/shop: NO_COMMON_PROTOCOL" in fatal, fatal
    assert {path: Path(path).read_bytes() for path in files} == files
    report = json.loads((lab["reports"] / "report.json").read_text())
    (entry,) = report["hosts"]["backend-shop"]["sites"]
    assert entry["rolled_back"] is True and entry["status"].startswith("FAILED"), entry


def test_an_unreachable_load_balancer_host_is_reported_and_takes_no_backend_down(lab):
    """A load balancer host that cannot be reached (here: ssh to a closed port) is a line in the report; every
    backend host is still judged, by the load balancer that answered."""
    data = json.loads((Path(lab["dir"]) / "inventory.yml").read_text())
    data["load_balancers"]["hosts"]["lb-down"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1",
                                                  "ansible_port": free_port(), "ansible_user": "nobody"}
    data["backends"]["vars"]["cert_remediation_lb_hosts"] = ["lb", "lb-down"]
    inv = Path(lab["dir"]) / "inventory-down.yml"
    inv.write_text(json.dumps(data))
    report = run(lab, inv)
    balancers = {b["host"]: b for b in report["load_balancers"]}
    assert balancers["lb"]["error"] is None and balancers["lb"]["backends"] == 4
    assert balancers["lb-down"]["error"], balancers["lb-down"]
    assert set(report["hosts"]) == {"backend-shop", "backend-api", "backend-edge", "backend-blog"}
    assert set(judged(report)) == {"shop", "api", "edge", "blog"}


REMEDIATE = Path(__file__).resolve().parents[2] / "playbooks" / "remediate.yml"


def test_a_serial_play_reads_every_backend_once_then_only_each_batchs_own(lab):
    """playbooks/remediate.yml runs one host at a time (serial 1). The first batch reads the load balancer whole; each
    later batch probes again only its own host's backend (one backend, not all of them, per batch: with 200 backends
    and serial 1 that was 200 whole reads), and is still judged and fixed by the load balancer's view."""
    inv = inventory(lab, drop=["backend-edge"])
    proc = run_playbook(REMEDIATE, inventory=inv, extra_vars={
        "cert_remediation_report_dir": str(lab["reports"]), "cert_remediation_report_formats": ["json"]})
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    reads = [line.split("(item=", 1)[1].rsplit(")", 1)[0] for line in proc.stdout.splitlines()
             if line.startswith(("ok: [", "changed: [")) and "(item=lb: " in line]
    assert reads[0] == "lb: every backend", reads
    assert sorted(reads[1:]) == ["lb: be_api/api", "lb: be_blog/blog"], reads  # the two later batches, each its own
    report = json.loads((lab["reports"] / "report.json").read_text())
    statuses = {site["site"]: site["status"] for e in report["hosts"].values() for site in e["sites"]}
    assert statuses == {"shop": "done", "api": "done", "blog": "done"}, report
    judged_by = {name: v[2] for name, v in judged(report).items()}
    assert judged_by == {"shop": "endpoint", "api": "endpoint", "blog": "endpoint"}  # every batch saw the LB's view
    # the first read's summary and its unclaimed backend stand for the whole play
    assert report["load_balancers"][0]["backends"] == 4 and report["load_balancers"][0]["error"] is None
    assert [(b["lb_host"], b["backend"]) for b in report["unclaimed_backends"]] == [("lb", "be_edge/edge")]
    lb_up = haproxy_says(lab, "UP")
    assert {name: lb_up[name] for name in ("shop", "api", "blog")} == {"shop": True, "api": True, "blog": True}
