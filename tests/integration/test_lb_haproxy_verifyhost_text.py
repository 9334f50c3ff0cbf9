"""A wildcard in the name HAProxy verifies (`verifyhost *.test`, `check-sni`): HAProxy 2.6 compares it as text
(ssl_sock_srv_hostcheck: an exact match, or the certificate's own wildcard over it), and a backend whose leaf names
`*.test` is UP. The collection refused the name itself as no DNS name (PARSE_ERROR, "a wildcard stands for the whole
left-most label"): it judged an unreachable backend where HAProxy's checks find it UP (a differential hunt against a
real HAProxy, 2026-12-07). A load balancer's name rule now decides such a name alone, and the verdict says a WebPKI
client would refuse it.
"""

from __future__ import annotations

import contextlib

import pytest

from testlib import lbjudge, pki
from testlib.servers import HAProxyLB, ProtocolBackends, free_ports

ROOT = pki.issue("Verifyhost Text Root CA", ca=True, days=3650)
LEAVES = {"one_label": pki.issue("w", issuer=ROOT, names=["*.test"]),
          "wildcard": pki.issue("w", issuer=ROOT, names=["*.example.test"]),
          "plain": pki.issue("a.test", issuer=ROOT, names=["a.test"])}
# server: (backend, the name HAProxy verifies, HAProxy's check status)
CASES = {
    "same_text": ("one_label", "*.test", "UP"),
    "under_the_leafs_wildcard": ("wildcard", "a*.example.test", "UP"),
    "check_sni_text": ("one_label", None, "UP"),
    "a_name_it_does_not_carry": ("plain", "*.test", "DOWN"),
}


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "verifyhost-text")
    ca_file = pki.write(base / "root.pem", ROOT.pem)
    ports = dict(zip(LEAVES, free_ports(len(LEAVES))))
    sites = [{"name": name, "port": ports[name], "protocols": "TLSv1.2 TLSv1.3",
              "cert": pki.write(base / ("%s.crt" % name), leaf.pem),
              "key": pki.write(base / ("%s.key" % name), leaf.key_pem(), 0o600)} for name, leaf in LEAVES.items()]
    lines = "".join(
        "    server %s 127.0.0.1:%d ssl verify required ca-file %s %s check\n" % (
            server, ports[backend], ca_file, "verifyhost %s" % name if name else "check-sni *.test")
        for server, (backend, name, _status) in CASES.items())
    lb = HAProxyLB(base / "haproxy", lbjudge.haproxy_head() + "backend be_text\n" + lines)
    with contextlib.ExitStack() as running:
        running.enter_context(ProtocolBackends(base / "backends", sites))
        running.enter_context(lb)
        yield lb


def test_a_wildcard_haproxy_verifies_as_text_is_judged_as_haproxy_judges_it(haproxy):
    says = {server: status for server, (status, _check, _last) in lbjudge.haproxy_settled(haproxy).items()}
    assert says == {server: status for server, (_b, _n, status) in CASES.items()}, says
    result = lbjudge.read({"haproxy": haproxy})
    verdicts = lbjudge.judged(result)
    seen = {}
    for index, item in enumerate(result["lb_backends"]):
        verdict = verdicts.get(index)
        findings = (verdict or {}).get("findings", [])
        seen[item["server"]] = (lbjudge.accepted(item, verdict), sorted(
            (f["code"], f["severity"]) for f in findings if f["code"] == "HOSTNAME_MISMATCH"))
    assert {server: accepted for server, (accepted, _f) in seen.items()} == {
        server: status == "UP" for server, (_b, _n, status) in CASES.items()}, seen
    # what HAProxy takes, a WebPKI client would not: said, as a warning; what HAProxy refuses is the name's error
    assert seen["same_text"][1] == [("HOSTNAME_MISMATCH", "warning")], seen
    assert seen["a_name_it_does_not_carry"][1] == [("HOSTNAME_MISMATCH", "error")], seen
