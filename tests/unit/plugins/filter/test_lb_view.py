"""The load balancer's view in the role's decisions: lb_verify_items, lb_backend_map, and fleet_verify_items /
fleet_plan given that map. Certificates are generated here and every verdict comes from the real verifier (profile
openssl runs the machine's `openssl verify`); only the lb_backend_info results are written by hand, in the shape the
module returns (tests/integration/test_lb_backend_info.py checks that shape against real load balancers)."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError
from cryptography.hazmat.primitives import serialization

from ansible_collections.certops.backend_tls.plugins.filter import lb_view, remediation
from ansible_collections.certops.backend_tls.plugins.module_utils import _verify
from testlib import pki

LB_CA = pki.CA("LB Trusted")
OTHER_CA = pki.CA("LB Other")  # a CA the load balancer does not trust
GOOD = LB_CA.leaf("app1.lb.test")
EXPIRED = LB_CA.leaf("app2.lb.test", days=5, start_days=-30)
FOREIGN = OTHER_CA.leaf("app3.lb.test")


def fp(issued):
    return issued.fingerprint


def backend(server, port, leaf=None, *, pool="be_app", verify=True, name=None, error=None, address="127.0.0.1"):
    chain = [leaf, LB_CA.intermediate] if leaf is not None and leaf is not FOREIGN else \
        ([leaf, OTHER_CA.intermediate] if leaf is FOREIGN else [])
    endpoint = {"ok": bool(chain), "chain": [fp(c) for c in chain],
                "error": error if not chain else None}
    return {"lb_type": "haproxy", "pool": pool, "server": server, "address": address, "port": port, "tls": True,
            "verify": verify, "error": None, "ca_fingerprints": [fp(LB_CA.root)] if verify else None,
            "verify_options": {"server_names": [name or "%s.lb.test" % server] if verify else [],
                               "name_rule": "haproxy" if verify else None, "verify_depth": None,
                               "check_chain": verify, "check_expiry": verify},
            "endpoint": endpoint}


def lb_result(*backends):
    certs = [GOOD, EXPIRED, FOREIGN, LB_CA.intermediate, OTHER_CA.intermediate, LB_CA.root]
    return {"lb_backends": list(backends),
            "certificates": [{"fingerprint_sha256": fp(c), "pem": c.pem} for c in certs]}


def judge(groups, key="chains"):
    """Each group verified as the role does: one real cert_chain_verify batch per group."""
    out = []
    for group in groups:
        ca = group.get("ca_content") or None
        out.append(_verify.verify_batch(group[key], ca_content=ca, profile=group.get("profile") or "openssl",
                                        min_days_remaining=group.get("min_days") or 0,
                                        crl_content=group.get("crl_content") or None))
    return out


def test_lb_verify_items_judges_each_backend_as_its_load_balancer():
    result = lb_result(backend("app1", 9001, GOOD), backend("app2", 9002, EXPIRED), backend("app3", 9003, FOREIGN),
                       backend("app4", 9004, FOREIGN, pool="be_open", verify=False),
                       backend("app5", 9005, None, error={"code": "NO_COMMON_PROTOCOL", "message": "x"}))
    groups = lb_view.lb_verify_items(result)
    assert [len(g["chains"]) for g in groups] == [3, 1]  # the verifying pool's anchors; the open pool needs none
    assert groups[0]["ca_content"] == LB_CA.root.pem and groups[1]["ca_content"] is None
    assert groups[0]["backends"] == [0, 1, 2] and groups[1]["backends"] == [3]
    valid = {}
    for judged in judge(groups):
        valid.update((r["name"], (r["valid"], sorted({f["code"] for f in r["findings"] if f["severity"] == "error"})))
                     for r in judged["results"])
    assert valid == {"be_app/app1": (True, []), "be_app/app2": (False, ["EXPIRED"]),
                     "be_app/app3": (False, ["UNTRUSTED_ROOT"]) if valid["be_app/app3"][1] == ["UNTRUSTED_ROOT"]
                     else (False, ["INCOMPLETE_CHAIN"]),
                     "be_open/app4": (True, [])}  # not verified: an unknown CA is no reason for this pool
    with pytest.raises(AnsibleFilterError):
        lb_view.lb_verify_items({"query_result": []})


def test_map_rules_in_order_and_nothing_guessed():
    result = lb_result(*(backend(server, 9000 + n, GOOD, address="10.0.0.%d" % n)
                         for n, server in enumerate(("app1", "app2", "web-3", "app4", "app5"), start=1)))
    hosts = [{"host": "h1", "addresses": ["10.0.0.1"]},
             {"host": "h2", "claims": ["be_app/app2"], "addresses": ["10.0.0.99"]},
             {"host": "web-3"},
             {"host": "h4a", "addresses": ["10.0.0.4"]}, {"host": "h4b", "addresses": ["10.0.0.4"]},
             {"host": "h5", "endpoints": [{"host": "10.0.0.5", "port": 9005}], "addresses": ["10.0.0.77"]}]
    mapped = lb_view.lb_backend_map([{"lb_host": "lb1", "result": result}], hosts)
    assert {(b["label"], b["host"], b["matched_by"]) for b in mapped["backends"]} == {
        ("be_app/app1", "h1", "address"), ("be_app/app2", "h2", "claim"), ("be_app/web-3", "web-3", "name"),
        ("be_app/app5", "h5", "endpoint")}
    assert [(b["label"], b["candidates"]) for b in mapped["ambiguous"]] == [("be_app/app4", ["h4a", "h4b"])]
    assert mapped["unclaimed"] == []
    only_claims = lb_view.lb_backend_map([{"lb_host": "lb1", "result": result}], hosts, ["claim"])
    assert [b["label"] for b in only_claims["backends"]] == ["be_app/app2"]
    assert len(only_claims["unclaimed"]) == 4
    with pytest.raises(AnsibleFilterError, match="unknown match rule"):
        lb_view.lb_backend_map([{"lb_host": "lb1", "result": result}], hosts, ["dns"])


def collected(port, served_leaf, names):
    """What backend_cert_info returns for one site on this host (the host's own probe and files)."""
    endpoint = {"host": "127.0.0.1", "port": port, "server_name": names[0]}
    chain = [served_leaf.pem, LB_CA.intermediate.pem] if served_leaf is not FOREIGN else \
        [served_leaf.pem, OTHER_CA.intermediate.pem]
    return {"sites": [{"name": "site%d" % port, "server_type": "nginx", "cert_file": "/c.pem", "key_file": "/k.pem",
                       "chain_file": None, "server_names": names, "endpoint": endpoint, "served_matches_disk": True,
                       "key_matches_cert": True, "error": None}],
            "endpoints": [dict(endpoint, chain=[hashlib.sha256(b"x").hexdigest()], chain_pem=chain)],
            "files": [{"path": "/c.pem", "chain_pem": chain}]}


def test_the_load_balancer_judges_the_sites_it_maps():
    """The LB's verdict is the site's: a site the LB refuses is pushed, a backend the LB cannot negotiate with is
    manual (no certificate fixes that), an LB-healthy site is left alone; the LB's anchors and names reach
    pre-flight (the host plan's ca_content, the site's server_names)."""
    lb = lb_result(backend("app1", 9001, GOOD), backend("app3", 9003, FOREIGN),
                   backend("app5", 9005, None, error={"code": "NO_COMMON_PROTOCOL", "message": "x"}))
    hosts = [{"host": h, "endpoints": [{"host": "127.0.0.1", "port": p}]}
             for h, p in (("h1", 9001), ("h3", 9003), ("h5", 9005))]
    mapped = lb_view.lb_backend_map([{"lb_host": "lb1", "result": lb}], hosts)
    requests = [{"host": h, "collected": collected(p, leaf, ["%s.lb.test" % s, "www.%s.lb.test" % s]), "sites": [],
                 "ca_path": "", "min_days": 0, "profile": "openssl", "force": False}
                for h, p, leaf, s in (("h1", 9001, GOOD, "app1"), ("h3", 9003, FOREIGN, "app3"),
                                      ("h5", 9005, GOOD, "app5"))]
    groups = remediation.fleet_verify_items(requests, mapped)
    # the sites' own chains are verified with the LB's anchors, for the LB's name too; the LB's view as it checks
    anchors = {item["name"]: g["ca_content"] for g in groups for item in g["chains"]}
    assert {name: ca == LB_CA.root.pem for name, ca in anchors.items()} == {
        "h1 site9001 (served)": True, "h1 site9001 (disk)": True, "h1 site9001 (lb1 be_app/app1)": True,
        "h1 site9001 (lb1 be_app/app1, disk)": True,
        "h3 site9003 (served)": True, "h3 site9003 (disk)": True, "h3 site9003 (lb1 be_app/app3)": True,
        "h3 site9003 (lb1 be_app/app3, disk)": True,
        # the LB never reached h5: nothing of its own to judge with, so h5's declared values (here: none)
        "h5 site9005 (served)": False, "h5 site9005 (disk)": False}
    (h3_lb,) = [item for g in groups for item in g["chains"] if item["name"] == "h3 site9003 (lb1 be_app/app3)"]
    assert h3_lb["name_rule"] == "haproxy" and h3_lb["server_names"] == ["app3.lb.test"]
    verified = {"results": [dict(judged) for judged in judge(
        groups)]}
    plans = remediation.fleet_plan(requests, verified, mapped)
    actions = {h: (p["sites"][0]["action"], p["sites"][0]["reasons"]) for h, p in plans.items()}
    assert actions["h1"] == ("none", [])
    assert actions["h3"][0] == "push" and {"UNTRUSTED_ROOT", "INCOMPLETE_CHAIN"} & set(actions["h3"][1])
    # the LB reached nothing: a person, and the site's own verdict is kept beside the LB's reason
    assert actions["h5"][0] == "manual" and actions["h5"][1][0] == "NO_COMMON_PROTOCOL", actions["h5"]
    assert plans["h1"]["sites"][0]["ca_content"] == LB_CA.root.pem and plans["h1"]["lb_unplaced"] == []
    assert plans["h1"]["sites"][0]["lb_checks"] == [{"ca_content": LB_CA.root.pem, "crl_content": "", "options": {
        "server_names": ["app1.lb.test"], "name_rule": "haproxy", "verify_depth": None, "check_chain": True,
        "check_expiry": True}}]
    line = plans["h3"]["sites"][0]["before"]["lb"][0]
    seen = (line["lb_host"], line["backend"], line["matched_by"], line["valid"])
    assert seen == ("lb1", "be_app/app3", "endpoint", False)
    assert plans["h1"]["sites"][0]["server_names"] == ["app1.lb.test", "www.app1.lb.test"]
    # without the map, the same requests are judged by the declared values only (no CA: the system store)
    plain = remediation.fleet_plan(requests, {"results": judge(
        remediation.fleet_verify_items(requests))})
    assert "lb" not in plain["h3"]["sites"][0]["before"] and "ca_content" not in plain["h3"]["sites"][0]


def plan_for(backends, port=9001, leaf=GOOD, names=("app1.lb.test",), disk_leaf=None, crls=()):
    """One host with one site on port, judged by one load balancer with these backends (and these CRLs): its plan
    entry."""
    lb = dict(lb_result(*backends), crls=list(crls))
    mapped = lb_view.lb_backend_map([{"lb_host": "lb1", "result": lb}],
                                    [{"host": "h", "claims": [b["server"] for b in backends]}])
    coll = collected(port, leaf, list(names))
    if disk_leaf is not None:
        coll["files"][0]["chain_pem"] = disk_leaf
    requests = [{"host": "h", "collected": coll, "sites": [], "ca_path": "", "min_days": 0, "profile": "openssl",
                 "force": False}]
    verified = {"results": judge(remediation.fleet_verify_items(requests, mapped))}
    return remediation.fleet_plan(requests, verified, mapped)["h"]


def test_what_the_load_balancer_cannot_use_is_for_a_person_not_a_push():
    # it was served a good chain but shares no protocol with the backend: the chain is fine, the link is not
    no_protocol = backend("app1", 9001, GOOD)
    no_protocol["endpoint"]["error"] = {"code": "NO_COMMON_PROTOCOL", "message": "x"}
    no_protocol["endpoint"]["ok"] = False
    plan = plan_for([no_protocol])
    (site,) = plan["sites"]
    assert (site["action"], site["reasons"]) == ("manual", ["NO_COMMON_PROTOCOL"])
    (entry,) = remediation.remediation_report(plan["sites"])
    assert "no certificate push fixes" in entry["fix"]
    # its CA file cannot be read: it judges nothing, and a push would not change that
    broken_ca = backend("app1", 9001, GOOD)
    broken_ca["error"] = {"code": "NOT_FOUND", "message": "no CA file"}
    (site,) = plan_for([broken_ca])["sites"]
    assert site["action"] == "manual" and site["reasons"][0] == "NOT_FOUND", site


def test_a_backend_on_another_port_is_unplaced_not_given_to_the_only_site():
    plan = plan_for([backend("app1", 8443, GOOD)], port=9001)
    assert plan["lb_unplaced"] == [{"lb_host": "lb1", "backend": "be_app/app1", "address": "127.0.0.1", "port": 8443}]
    (site,) = plan["sites"]
    assert "lb" not in site["before"]


def test_files_the_load_balancer_would_refuse_are_pushed_not_reloaded():
    """Renewed on disk, never reloaded: reload only if the load balancer would take the files. Under nginx's depth
    of 1 a chain with two intermediates is CHAIN_TOO_LONG, though valid for a client without a depth limit."""
    first = pki.issue("LB Trusted First", issuer=LB_CA.root, ca=True, days=1000)
    second = pki.issue("LB Trusted Second", issuer=first, ca=True, days=1000)
    deep = pki.issue("app1.lb.test", issuer=second)
    disk = [deep.pem, second.pem, first.pem]
    depth_one = backend("app1", 9001, EXPIRED)
    depth_one["verify_options"]["verify_depth"] = 1
    shallow = backend("app1", 9001, EXPIRED)
    plans = {}
    for name, entry in (("depth 1", depth_one), ("no limit", shallow)):
        plans[name] = plan_for([entry], leaf=EXPIRED, disk_leaf=disk)["sites"][0]
    assert "CHAIN_TOO_LONG" in plans["depth 1"]["before"]["disk"]["codes"], plans["depth 1"]["before"]["disk"]
    assert plans["no limit"]["before"]["disk"]["valid"] is True, plans["no limit"]["before"]["disk"]


def test_load_balancers_that_share_a_root_share_anchors():
    with_int = backend("app1", 9001, GOOD)
    with_int["ca_fingerprints"] = [fp(LB_CA.root), fp(LB_CA.intermediate)]
    other = dict(backend("app1", 9001, GOOD), pool="be_other")
    lb = lb_result(with_int, other)
    mapped = lb_view.lb_backend_map([{"lb_host": "lb1", "result": lb}], [{"host": "h", "claims": ["app1"]}])
    assert len(mapped["backends"]) == 2
    entries = list(enumerate(mapped["backends"]))
    assert remediation._lb_anchors(entries) == LB_CA.root.pem


def _crl(ca, revoked=(), following=7):
    """A PEM CRL of ca's intermediate, with its sha256 as lb_backend_info names it."""
    made = pki.crl(ca.intermediate, revoked, following=following)
    return {"sha256": hashlib.sha256(made.public_bytes(serialization.Encoding.DER)).hexdigest(),
            "pem": pki.crl_pem(made)}


def with_crl(entry, crl, check="leaf", missing_ok=False):
    entry = dict(entry, crl_fingerprints=[crl["sha256"]] if crl else None, crl_check=check)
    entry["verify_options"] = dict(entry["verify_options"], crl_check=check, crl_missing_ok=missing_ok)
    return entry


def test_lb_verify_items_hands_over_each_backends_crls():
    """Backends are grouped by anchors and CRLs; a group's crl_content is what its load balancer checks them
    against, and the real verifier then refuses the revoked one and only it."""
    revoking, stale = _crl(LB_CA, [GOOD]), _crl(LB_CA, following=-1)
    other = LB_CA.leaf("app6.lb.test")
    name = "app6.lb.test"
    result = lb_result(with_crl(backend("app1", 9001, GOOD), revoking),
                       with_crl(backend("app6", 9006, other), revoking),
                       with_crl(backend("app7", 9007, other, name=name), stale),
                       with_crl(backend("app8", 9008, other, name=name), None, check="none"))
    result["certificates"].append({"fingerprint_sha256": fp(other), "pem": other.pem})
    result["crls"] = [revoking, stale]
    groups = lb_view.lb_verify_items(result)
    assert sorted((g["backends"], g["crl_content"]) for g in groups) == [
        ([0, 1], revoking["pem"]), ([2], stale["pem"]), ([3], None)]
    verdicts = {}
    for group, judged in zip(groups, [_verify.verify_batch(g["chains"], ca_content=g["ca_content"],
                                                           crl_content=g["crl_content"], profile="openssl")
                                      for g in groups]):
        for index, res in zip(group["backends"], judged["results"]):
            verdicts[index] = sorted(f["code"] for f in res["findings"] if f["severity"] == "error")
    assert verdicts == {0: ["REVOKED"], 1: [], 2: ["CRL_EXPIRED"], 3: []}
    # without the CRLs' PEM (include_pem false) a backend that needs them is left out, not judged without them
    for crl in result["crls"]:
        crl.pop("pem")
    assert [g["backends"] for g in lb_view.lb_verify_items(result)] == [[3]]


def test_a_revoked_certificate_is_pushed_and_a_stale_crl_is_the_load_balancers_to_fix():
    """The role hands each load balancer's CRLs to the verification and to pre-flight: a backend serving a revoked
    certificate gets the renewed one, judged again with those CRLs; an out-of-date CRL on the load balancer fails
    every backend it covers, and no push fixes that."""
    revoking, stale = _crl(LB_CA, [GOOD]), _crl(LB_CA, following=-1)
    plan = plan_for([with_crl(backend("app1", 9001, GOOD), revoking)], crls=[revoking])
    (site,) = plan["sites"]
    assert site["action"] == "push" and "REVOKED" in site["reasons"], site
    assert [check["crl_content"] for check in site["lb_checks"]] == [revoking["pem"]]
    assert site["lb_checks"][0]["options"]["crl_check"] == "leaf"
    plan = plan_for([with_crl(backend("app1", 9001, GOOD), stale)], crls=[stale])
    (site,) = plan["sites"]
    assert (site["action"], site["reasons"][0], site["lb_side"]) == ("manual", "CRL_EXPIRED", ["CRL_EXPIRED"]), site
    (entry,) = remediation.remediation_report(plan["sites"])
    assert "CRL file" in entry["fix"]
    # a backend whose load balancer checks no CRL: as before
    (site,) = plan_for([with_crl(backend("app1", 9001, GOOD), None, check="none")])["sites"]
    assert site["action"] == "none" and site["lb_checks"][0]["crl_content"] == "", site


def test_a_servers_certificates_of_two_key_types_each_get_the_verdict_of_the_one_served():
    """nginx with an RSA and an ECDSA certificate is two sites on one endpoint, told apart by the key type their
    probes ask for (`<site>+rsa`, `<site>+ec`). A load balancer's backend goes to the one whose own probe got the
    leaf the load balancer got (before: two sites on its address and port, so unplaced, and the expired certificate
    the load balancer refuses was nobody's); the other is judged by the same load balancer's checks on its own
    chain."""
    names = ["app1.lb.test"]
    sites, endpoints, files = [], [], []
    for kind, leaf in (("RSA", EXPIRED), ("EC", GOOD)):
        endpoint = {"host": "127.0.0.1", "port": 9001, "server_name": names[0], "key_type": kind}
        chain = [leaf.pem, LB_CA.intermediate.pem]
        path = "/%s.pem" % kind.lower()
        sites.append({"name": "site+%s" % kind.lower(), "server_type": "nginx", "cert_file": path, "key_file": path,
                      "chain_file": None, "server_names": names, "endpoint": endpoint, "served_matches_disk": True,
                      "key_matches_cert": True, "error": None})
        endpoints.append(dict(endpoint, chain=[fp(leaf), fp(LB_CA.intermediate)], chain_pem=chain))
        files.append({"path": path, "chain_pem": chain})
    coll = {"sites": sites, "endpoints": endpoints, "files": files}
    lb = lb_result(backend("app1", 9001, EXPIRED))
    mapped = lb_view.lb_backend_map([{"lb_host": "lb1", "result": lb}], [{"host": "h", "claims": ["app1"]}])
    assert mapped["backends"][0]["served"] == fp(EXPIRED)
    requests = [{"host": "h", "collected": coll, "sites": [], "ca_path": "", "min_days": 0, "profile": "openssl",
                 "force": False}]
    verified = {"results": judge(remediation.fleet_verify_items(requests, mapped))}
    plan = remediation.fleet_plan(requests, verified, mapped)["h"]
    assert plan["lb_unplaced"] == []
    by_name = {site["name"]: site for site in plan["sites"]}
    rsa, ec = by_name["site+rsa"], by_name["site+ec"]
    assert rsa["action"] == "push" and "EXPIRED" in rsa["reasons"], rsa
    assert [line["backend"] for line in rsa["before"]["lb"]] == ["be_app/app1"]
    # the ECDSA site, which the load balancer was not served, is judged as it would judge it (its anchors: the host
    # gave no CA), on the chain the site's own probe got
    assert ec["action"] == "none", ec
    assert [(line["backend"], line["valid"]) for line in ec["before"]["lb"]] == [("be_app/app1", True)]
    assert ec["ca_content"] == LB_CA.root.pem
    # each site is judged by its own probe's chain: the ECDSA one's served chain is the good leaf's
    assert ec["before"]["served"]["fingerprint"] == fp(GOOD) and rsa["before"]["served"]["fingerprint"] == fp(EXPIRED)


def test_a_backend_whose_key_type_sites_were_not_reached_goes_to_the_one_whose_file_holds_its_leaf():
    """Neither key-type site's own probe got a certificate (a TLS 1.3-only server behind a PROXY protocol header,
    which only s_client could ask by key type): the backend goes to the site whose file holds the leaf the load
    balancer was served, not unplaced."""
    names = ["app1.lb.test"]
    sites, endpoints, files = [], [], []
    for kind, leaf in (("RSA", GOOD), ("EC", EXPIRED)):
        endpoint = {"host": "127.0.0.1", "port": 9001, "server_name": names[0], "key_type": kind}
        path = "/%s.pem" % kind.lower()
        sites.append({"name": "site+%s" % kind.lower(), "server_type": "nginx", "cert_file": path, "key_file": path,
                      "chain_file": None, "server_names": names, "endpoint": endpoint, "served_matches_disk": None,
                      "key_matches_cert": True, "error": {"code": "UNSUPPORTED_SETTING", "message": "x"}})
        endpoints.append(dict(endpoint, ok=False, chain=[], chain_pem=[]))
        files.append({"path": path, "leaf": fp(leaf), "chain": [fp(leaf), fp(LB_CA.intermediate)],
                      "chain_pem": [leaf.pem, LB_CA.intermediate.pem]})
    lb = lb_result(backend("app1", 9001, EXPIRED))
    mapped = lb_view.lb_backend_map([{"lb_host": "lb1", "result": lb}], [{"host": "h", "claims": ["app1"]}])
    request = {"host": "h", "collected": {"sites": sites, "endpoints": endpoints, "files": files}}
    by_site, unplaced = remediation._lb_by_site(request, mapped)
    assert unplaced == [] and [entry["label"] for _i, entry in by_site["site+ec"]] == ["be_app/app1"]
    assert "site+rsa" not in by_site  # its own probe was served nothing: nothing to judge as the LB would
