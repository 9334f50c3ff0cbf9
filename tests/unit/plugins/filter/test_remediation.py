"""The cert_remediation role's decisions and chain assembly (plugins/filter/remediation.py)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certops.backend_tls.plugins.filter import remediation
from testlib import pki

CA = pki.CA("Filter")
LEAF = CA.leaf("site.f.test")
DEEP = pki.issue("Filter Deep", issuer=CA.intermediate, ca=True, path_length=0)
DEEP_LEAF = pki.issue("deep.f.test", issuer=DEEP)


def collected(matches=True, key_ok=True):
    endpoint = {"host": "127.0.0.1", "port": 8443, "server_name": "site.f.test"}
    return {
        "sites": [{"name": "site", "server_type": "nginx", "cert_file": "/c.pem", "key_file": "/k.pem",
                   "chain_file": None, "server_names": ["site.f.test"], "endpoint": endpoint,
                   "served_matches_disk": matches, "key_matches_cert": key_ok, "error": None}],
        "endpoints": [dict(endpoint, chain=["servedfp"], chain_pem=["SERVED"])],
        "files": [{"path": "/c.pem", "chain_pem": ["DISK"]}],
    }


def verdict(valid, codes=(), days=60, fp="fp"):
    return {"valid": valid, "days_remaining": days, "verified_chain": [{"fingerprint_sha256": fp}],
            "findings": [{"code": c, "severity": "error"} for c in codes]}


@pytest.mark.parametrize("served,disk,matches,key_ok,force,action,reasons", [
    (verdict(True), verdict(True), True, True, False, "none", []),
    (verdict(True, days=10), verdict(True, days=10), True, True, False, "push", ["EXPIRES_SOON"]),
    (verdict(False, ["EXPIRED"]), verdict(False, ["EXPIRED"]), True, True, False, "push", ["EXPIRED"]),
    (verdict(False, ["EXPIRED"]), verdict(True), False, True, False, "reload", ["EXPIRED", "SERVED_DIFFERS_FROM_DISK"]),
    (verdict(False, ["EXPIRED"]), verdict(True), False, False, False, "push",
     ["EXPIRED", "SERVED_DIFFERS_FROM_DISK", "KEY_MISMATCH"]),
    (verdict(True), verdict(False, ["INCOMPLETE_CHAIN"]), False, True, False, "push", ["SERVED_DIFFERS_FROM_DISK"]),
    (verdict(True), verdict(True), True, True, True, "push", ["FORCED"]),
    (None, verdict(True), None, True, False, "push", ["NOT_SERVED"]),
])
def test_plan(served, disk, matches, key_ok, force, action, reasons):
    results = [dict(v, name=n) for n, v in (("site|served", served), ("site|disk", disk)) if v is not None]
    declared = [{"name": "site", "source": {"cert": "/src/c.pem"}, "owner": "www"}]
    (entry,) = remediation.remediation_plan(collected(matches, key_ok), {"results": results}, declared,
                                            min_days=30, force=force)
    assert (entry["action"], entry["reasons"]) == (action, reasons)
    assert entry["source"] == {"cert": "/src/c.pem"} and entry["owner"] == "www"  # declared keys kept
    assert entry["cert_path"] == "/c.pem" and entry["key_path"] == "/k.pem"


def test_the_plan_names_the_files_each_path_names_on_the_host():
    # live_files: backend_cert_info's files[].realpath of each path, so pre-flight finds sites sharing one file
    # through different paths (a symlink); a path the result did not read stays as it is
    result = collected()
    result["sites"][0]["chain_file"] = "/ch.pem"
    result["files"] = [{"path": "/c.pem", "realpath": "/archive/c1.pem", "chain_pem": ["DISK"]},
                       {"path": "/k.pem", "realpath": "/archive/k1.pem", "chain_pem": []}]
    (entry,) = remediation.remediation_plan(result, {"results": []}, None)
    assert entry["live_files"] == {"cert": "/archive/c1.pem", "key": "/archive/k1.pem", "chain": "/ch.pem"}
    result["sites"][0]["chain_file"] = None
    (entry,) = remediation.remediation_plan(result, {"results": []}, None)
    assert entry["live_files"]["chain"] is None


@pytest.mark.parametrize("paths,realpaths,layout", [
    (("/c.pem", "/k.pem", None), {}, "fullchain"),
    (("/c.pem", "/k.pem", "/c.pem"), {}, "fullchain"),  # a chain path naming the cert file: a full chain there
    (("/c.pem", "/k.pem", "/live/c.pem"), {"/live/c.pem": "/c.pem"}, "fullchain"),  # ... through a symlink
    (("/c.pem", "/k.pem", "/ch.pem"), {}, "chain_file"),
    (("/c.pem", "/c.pem", None), {}, "combined"),
    (("/c.pem", "/live/c.pem", None), {"/live/c.pem": "/c.pem"}, "combined"),  # the key path a link to the cert file
    (("/c.pem", "/c.pem", "/c.pem"), {}, "combined"),
    (("/c.pem", "/c.pem", "/ch.pem"), {}, "combined_chain_file"),
    (("/c.pem", "/k.pem", "/k.pem"), {}, "chain_in_key"),
    (("/c.pem", "/k.pem", "/live/k.pem"), {"/live/k.pem": "/k.pem"}, "chain_in_key"),
    ((None, None, None), {}, None),
])
def test_the_plan_gives_each_site_the_layout_its_files_are_written_in(paths, realpaths, layout):
    result = collected()
    site = result["sites"][0]
    site["cert_file"], site["key_file"], site["chain_file"] = paths
    result["files"] = [{"path": path, "realpath": realpaths.get(path, path), "chain_pem": []}
                       for path in set(paths) if path]
    (entry,) = remediation.remediation_plan(result, {"results": []}, None)
    assert entry["layout"] == layout


@pytest.mark.parametrize("served,action,reasons,status", [
    (verdict(False, ["EXPIRED"]), "manual", ["EXPIRED", "DYNAMIC_PATH"], "needs a person"),
    (verdict(True), "none", [], "ok"),  # a healthy dynamic site is simply healthy
])
def test_a_site_whose_path_is_dynamic_is_never_pushed(served, action, reasons, status):
    site = collected(matches=None, key_ok=None)
    site["sites"][0].update(cert_file=None, key_file=None,
                            error={"code": "DYNAMIC_PATH", "message": "ssl_certificate $ssl_server_name.crt"})
    (entry,) = remediation.remediation_plan(site, {"results": [dict(served, name="site|served")]}, [],
                                            min_days=30, force=False)
    assert (entry["action"], entry["reasons"], entry["cert_path"]) == (action, reasons, None)
    (report,) = remediation.remediation_report([entry], {}, "remediate")
    assert report["status"] == status and report["action"] == action
    if action == "manual":
        assert "fix by hand" in report["summary"]


def test_every_name_of_a_site_is_checked():
    # server_name a.f.test b.f.test *.w.f.test; while the certificate covers a.f.test only: not healthy.
    from ansible_collections.certops.backend_tls.plugins.module_utils import _verify

    leaf = CA.leaf("a.f.test")
    site = collected()
    site["sites"][0]["server_names"] = ["a.f.test", "b.f.test", "*.w.f.test", "~^regex$"]
    site["endpoints"][0]["chain_pem"] = [leaf.pem, CA.intermediate.pem]
    site["files"][0]["chain_pem"] = [leaf.pem, CA.intermediate.pem]
    items = remediation.site_verify_items(site)
    assert [i["server_names"] for i in items] == [["a.f.test", "b.f.test", "*.w.f.test"]] * 2
    verified = _verify.verify_batch(items, ca_content=CA.root.pem, profile="openssl")
    (entry,) = remediation.remediation_plan(site, verified, [], min_days=30, force=False)
    assert entry["action"] == "push" and entry["reasons"] == ["HOSTNAME_MISMATCH"]
    assert entry["server_names"] == ["a.f.test", "b.f.test", "*.w.f.test"]
    messages = [f["message"] for f in verified["results"][0]["findings"] if f["code"] == "HOSTNAME_MISMATCH"]
    assert [m.split(" ")[0] for m in messages] == ["b.f.test", "*.w.f.test"]


def test_a_plan_entry_names_its_subject_alt_names_by_type():
    # What a renewed certificate must hold, as x509_certificate_info writes names: an address (nginx's
    # proxy_ssl_name defaults to the upstream's) is an IP name, and an ACME order asks for it as an IP identifier
    # (RFC 8738; a CA refuses a DNS identifier holding an address). tasks/acme.yml orders these as they are.
    site = collected()
    site["sites"][0]["server_names"] = ["A.F.test", ".w.f.test", "127.0.0.1", "[2001:DB8:0::1]", "_", "~^x$",
                                        "www.f.*"]
    (entry,) = remediation.remediation_plan(site, {"results": []}, [], min_days=30, force=False)
    assert entry["server_names"] == ["a.f.test", "w.f.test", "*.w.f.test", "127.0.0.1", "2001:db8::1"]
    assert entry["subject_alt_names"] == ["DNS:a.f.test", "DNS:w.f.test", "DNS:*.w.f.test", "IP:127.0.0.1",
                                          "IP:2001:db8::1"]


def test_site_verify_items():
    items = remediation.site_verify_items(collected())
    assert items == [{"name": "site|served", "chain": ["SERVED"], "server_names": ["site.f.test"]},
                     {"name": "site|disk", "chain": ["DISK"], "server_names": ["site.f.test"]}]


def test_site_verify_items_from_a_default_result_find_each_pem_by_fingerprint():
    # backend_cert_info returns each certificate's PEM once (certificates[].pem); chains name them.
    result = collected()
    result["endpoints"][0] = {k: v for k, v in result["endpoints"][0].items() if k != "chain_pem"}
    result["endpoints"][0]["chain"] = ["leaf", "int"]
    result["files"] = [{"path": "/c.pem", "chain": ["leaf", "int"]}]
    result["certificates"] = [{"fingerprint_sha256": "leaf", "pem": "LEAF"},
                              {"fingerprint_sha256": "int", "pem": "INT"}]
    assert remediation.site_verify_items(result) == [
        {"name": "site|served", "chain": ["LEAF", "INT"], "server_names": ["site.f.test"]},
        {"name": "site|disk", "chain": ["LEAF", "INT"], "server_names": ["site.f.test"]}]


@pytest.mark.parametrize("cert,chain,expected", [
    (DEEP_LEAF.pem, DEEP.pem + CA.intermediate.pem, [DEEP_LEAF, DEEP, CA.intermediate]),
    (DEEP_LEAF.pem, CA.intermediate.pem + DEEP.pem, [DEEP_LEAF, DEEP, CA.intermediate]),  # reordered
    (DEEP_LEAF.pem + DEEP.pem, DEEP.pem + CA.intermediate.pem + CA.root.pem,
     [DEEP_LEAF, DEEP, CA.intermediate]),  # duplicate removed, root left out
    (LEAF.pem, "", [LEAF]),
    (LEAF.pem, DEEP.pem, [LEAF]),  # an unrelated certificate is not pushed
])
def test_assemble_chain(cert, chain, expected):
    assert remediation.assemble_chain(cert, chain) == [c.pem for c in expected]


def test_assemble_chain_rejects_garbage():
    with pytest.raises(AnsibleFilterError):
        remediation.assemble_chain("no pem here", "")


def test_pem_fingerprint():
    assert remediation.pem_fingerprint(LEAF.pem + CA.intermediate.pem) == LEAF.fingerprint
    assert remediation.pem_fingerprint("-----BEGIN CERTIFICATE-----\n" + LEAF.pem) == LEAF.fingerprint  # cut off


@pytest.mark.parametrize("text", ["", "no pem", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                                  "-----BEGIN CERTIFICATE-----\n" * 5000])
def test_pem_fingerprint_refuses_what_is_no_certificate(text):
    with pytest.raises(AnsibleFilterError):
        remediation.pem_fingerprint(text)


def test_backup_plan_and_report():
    live = [{"__cert_remediation_file": "/etc/x/site.crt",
             "stat": {"exists": True, "path": "/etc/x/site.crt", "mode": "0644", "pw_name": "root", "gr_name": "ssl"}},
            {"__cert_remediation_file": "/etc/x/chain.crt", "stat": {"exists": False}}]
    plan = remediation.backup_plan(live, "/b/site/T")
    assert plan == [
        {"path": "/etc/x/site.crt", "existed": True, "backup": "/b/site/T/0-site.crt", "mode": "0644",
         "owner": "root", "group": "ssl", "link": None},
        {"path": "/etc/x/chain.crt", "existed": False, "backup": "/b/site/T/1-chain.crt", "mode": None,
         "owner": None, "group": None, "link": None}]
    # a live path that is a symlink to nothing is written, and rolled back, at its target; the link stays
    links = [{"__cert_remediation_file": "/etc/x/chain.crt", "stat": {
        "exists": True, "islnk": True, "lnk_source": "/etc/archive/chain1.crt", "lnk_target": "../archive/chain1.crt"}}]
    dangling = remediation.backup_plan(live, "/b/site/T", links)
    assert dangling[0] == plan[0]
    assert dangling[1] == dict(plan[1], path="/etc/archive/chain1.crt", link="/etc/x/chain.crt")
    # a missing path that is no link at all stays as it was
    no_link = [{"__cert_remediation_file": "/etc/x/chain.crt", "stat": {"exists": False}}]
    assert remediation.backup_plan(live, "/b/site/T", no_link) == plan
    # an owner and group with no passwd or group entry: their numbers, as text (before: null, so the restored file
    # was left to the user Ansible runs as)
    unnamed = remediation.backup_plan([{"__cert_remediation_file": "/etc/x/site.key", "stat": {
        "exists": True, "path": "/etc/x/site.key", "mode": "0600", "uid": 4242, "gid": 4243}}], "/b/site/T")
    assert (unnamed[0]["owner"], unnamed[0]["group"]) == ("4242", "4243")
    named = remediation.backup_plan(live[:1], "/b")
    assert (named[0]["owner"], named[0]["group"]) == ("root", "ssl")
    entries = [{"name": "a", "action": "push", "reasons": ["EXPIRED"]}, {"name": "b", "action": "none", "reasons": []},
               {"name": "c", "action": "reload", "reasons": ["SERVED_DIFFERS_FROM_DISK"]}]
    results = {"a": {"after": {"valid": True}, "rolled_back": False, "error": None},
               "c": {"after": {"serving_old": True}, "rolled_back": True, "error": "config test failed"}}
    report = remediation.remediation_report(entries, results, "remediate")
    assert [r["status"] for r in report] == ["done", "ok", "FAILED (config test failed), rolled back"]
    assert report[0]["summary"].startswith("a | EXPIRED | push")
    checked = remediation.remediation_report(entries, {}, "remediate", True)
    assert [r["status"] for r in checked] == ["planned", "ok", "planned"]


def test_report_carries_what_the_fleet_reports_render():
    """Schema 2: the leaf's not_after, the findings with their messages, the fix in words, endpoint and names."""
    served = dict(verdict(False, ["EXPIRED"]), leaf={"not_after": "2026-11-12T15:41:51Z"})
    served["findings"] = [{"code": "EXPIRED", "severity": "error", "message": "the leaf expired", "extra": 1},
                          {"code": "WEAK", "severity": "info", "message": "not shown"}]
    plan = remediation.remediation_plan(collected(), {"results": [dict(served, name="site|served")]})
    (entry,) = remediation.remediation_report(plan)
    assert entry["before"]["served"]["not_after"] == "2026-11-12T15:41:51Z"
    assert entry["before"]["served"]["findings"] == [
        {"code": "EXPIRED", "severity": "error", "message": "the leaf expired"}]
    assert entry["before"]["disk"] == {"valid": False, "codes": ["NOT_SERVED"], "days_remaining": None,
                                       "fingerprint": None, "not_after": None, "findings": []}
    assert entry["fix"] == "push the renewed certificate, chain and key, test, reload, verify"
    assert entry["endpoint"] == {"host": "127.0.0.1", "port": 8443, "server_name": "site.f.test"}
    assert entry["server_names"] == ["site.f.test"]


# --- the fleet: every host of a batch verified in one call, each host's plan derived from it ----------------

def request(host, ca_path="/lb/ca.pem", min_days=30, profile="openssl", matches=True, **extra):
    return dict({"host": host, "collected": collected(matches), "sites": [], "ca_path": ca_path,
                 "min_days": min_days, "profile": profile, "force": False}, **extra)


def test_fleet_verify_items_one_call_per_trust_policy():
    requests = [request("web1"), request("web2"), request("web3", ca_path="/other/ca.pem"),
                request("web4", min_days="30")]  # a templated number is the same policy
    calls = remediation.fleet_verify_items(requests)
    assert [(c["ca_path"], c["min_days"], c["profile"]) for c in calls] == [
        ("/lb/ca.pem", 30, "openssl"), ("/other/ca.pem", 30, "openssl")]
    assert [item["name"] for item in calls[0]["chains"]] == [
        "web1 site (served)", "web1 site (disk)", "web2 site (served)", "web2 site (disk)",
        "web4 site (served)", "web4 site (disk)"]
    assert calls[1]["chains"][0] == {"name": "web3 site (served)", "chain": ["SERVED"], "server_names": ["site.f.test"]}


def test_fleet_plan_gives_each_host_its_own_verdicts():
    requests = [request("web1"), request("web2", matches=False), request("web3", ca_path="/other/ca.pem"),
                {"host": "empty", "collected": {"sites": [], "discovery": [{"server_type": "nginx"}]},
                 "ca_path": "/lb/ca.pem", "min_days": 30, "profile": "openssl"}]
    good, expired, renewed = verdict(True), verdict(False, ["EXPIRED"]), verdict(True, fp="new")
    # Position for position with fleet_verify_items: web1 served, disk; web2 served, disk | web3 served, disk.
    verified = {"results": [{"results": [good, good, expired, renewed]}, {"results": [good, verdict(True, days=5)]}]}
    plans = remediation.fleet_plan(requests, verified)
    assert sorted(plans) == ["empty", "web1", "web2", "web3"]
    assert [(e["action"], e["reasons"]) for e in plans["web1"]["sites"]] == [("none", [])]
    assert [(e["action"], e["reasons"]) for e in plans["web2"]["sites"]] == [
        ("reload", ["EXPIRED", "SERVED_DIFFERS_FROM_DISK"])]
    assert plans["web2"]["sites"][0]["before"]["disk"]["fingerprint"] == "new"
    assert plans["web3"]["sites"][0]["before"]["disk"]["days_remaining"] == 5
    assert plans["web1"]["problem"] is None
    assert plans["empty"] == {"sites": [], "problem": 'no TLS site found on empty: declare cert_remediation_sites '
                                                      'or check discovery [{"server_type": "nginx"}]'}


@pytest.mark.parametrize("verified,says", [
    ({"results": []}, "0 verification calls for 1 groups"),
    ({"results": [{"results": [verdict(True)]}]}, "returned 1 results for 2 chains"),
    ({"results": [{"failed": True, "msg": "INVALID_ARGUMENT: no"}]},
     "returned 0 results for 2 chains: INVALID_ARGUMENT"),
])
def test_fleet_plan_refuses_a_verify_result_of_other_requests(verified, says):
    with pytest.raises(AnsibleFilterError, match=says):
        remediation.fleet_plan([request("web1")], verified)


def test_fleet_verify_items_refuses_what_is_no_request():
    with pytest.raises(AnsibleFilterError, match="a request is not"):
        remediation.fleet_verify_items([{"collected": {}}])


def test_the_role_filters_import_without_cryptography():
    # Ansible imports every filter file of the collection in each forked worker (each host, each task): the
    # role's filters must not pay for cryptography there.
    code = ("import sys\n"
            "from ansible_collections.certops.backend_tls.plugins.filter import remediation, json_query\n"
            "assert remediation.remediation_report([], {}) == []\n"
            "print(sorted(m for m in sys.modules if m.startswith('cryptography')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("force,reasons", [("false", []), ("no", []), (False, []), ("true", ["FORCED"]),
                                           ("yes", ["FORCED"]), (True, ["FORCED"])])
def test_fleet_plan_reads_force_as_a_boolean_even_from_text(force, reasons):
    """An AWX survey has no boolean type: cert_remediation_force arrives as "false", which must not force."""
    plans = remediation.fleet_plan([request("web1", force=force)],
                                   {"results": [{"results": [verdict(True), verdict(True)]}]})
    assert plans["web1"]["sites"][0]["reasons"] == reasons


def test_fleet_plan_refuses_a_force_that_is_not_a_boolean():
    with pytest.raises(AnsibleFilterError, match=r"fleet_plan|fleet_verify_items"):
        remediation.fleet_plan([request("web1", force="maybe")], {"results": [{"results": [verdict(True)] * 2}]})


def test_fleet_plan_from_compact_results_is_the_plan_from_full_ones():
    """The role verifies compactly (valid chains without their path): each site's plan, the fingerprints it
    names included, is the one the full results give."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _verify

    expired = pki.issue("site.f.test", issuer=CA.intermediate, start_days=-30, days=29)
    requests = []
    for host, served, disk in (("web1", LEAF, LEAF), ("web2", expired, LEAF), ("web3", expired, expired)):
        site = collected(matches=served is disk)
        site["endpoints"][0].update(chain_pem=[served.pem, CA.intermediate.pem],
                                    chain=[served.fingerprint, CA.intermediate.fingerprint])
        site["files"][0]["chain_pem"] = [disk.pem, CA.intermediate.pem]
        requests.append(request(host, collected=site, ca_path=None, profile="webpki"))
    plans = {}
    # one validation time for both: an expired leaf's days_remaining moves when the clock crosses a second between them
    at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for compact in (False, True):
        verified = {"results": [dict(_verify.verify_batch(call["chains"], ca_content=CA.root.pem, compact=compact,
                                                          at=at))
                                for call in remediation.fleet_verify_items(requests)]}
        plans[compact] = remediation.fleet_plan(requests, verified)
    assert plans[True] == plans[False]
    assert [(e["action"], e["before"]["served"]["fingerprint"], e["before"]["disk"]["fingerprint"])
            for host in ("web1", "web2", "web3") for e in plans[True][host]["sites"]] == [
        ("none", LEAF.fingerprint, LEAF.fingerprint), ("reload", expired.fingerprint, LEAF.fingerprint),
        ("push", expired.fingerprint, expired.fingerprint)]


def test_the_disk_verdict_names_its_leaf_when_there_is_no_path():
    """The files hold the leaf without its intermediate: no path to an anchor (verified_chain empty), and the
    report's before.disk.fingerprint was null though the leaf was known (a review of the RETURN docs, 2026-12-03)."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _verify

    disk = _verify.verify_single({"chain": LEAF.pem, "server_names": ["site.f.test"]}, ca_content=CA.root.pem)
    assert disk["valid"] is False and disk["verified_chain"] == [], disk
    served = _verify.verify_single({"chain": LEAF.pem + CA.intermediate.pem, "server_names": ["site.f.test"]},
                                   ca_content=CA.root.pem, compact=True)
    assert served["valid"] is True and "verified_chain" not in served
    results = [dict(served, name="site|served"), dict(disk, name="site|disk")]
    (entry,) = remediation.remediation_plan(collected(), {"results": results})
    assert entry["before"]["disk"]["codes"] == ["INCOMPLETE_CHAIN"]
    assert entry["before"]["disk"]["fingerprint"] == LEAF.fingerprint
    assert entry["before"]["served"]["fingerprint"] == "servedfp"  # the endpoint's first certificate, as before
