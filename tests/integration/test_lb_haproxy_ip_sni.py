"""An SNI Python's ssl cannot send: HAProxy sends an IP address as SNI when its `check-sni` or `sni` is one (nginx
and Apache never do), and Python's ssl never does. The backend here serves another certificate for that SNI than for
none: the collection, probing without it, judged the wrong certificate (HOSTNAME_MISMATCH while HAProxy was UP, a
review of 2026-12-07). Now the chain that SNI gets is read with `openssl s_client -servername`.

One nginx backend port: `backend.test` by default (its first server block), `CN=127.0.0.1` (no SAN) for the SNI
127.0.0.1; a real HAProxy health-checks it with `check-sni 127.0.0.1` (and verifies that name: HAProxy 2.6 matches it
against the CN), and, with a name it serves no block for, `check-sni backend.test` for comparison.
"""

from __future__ import annotations

import contextlib

import pytest

from testlib import lbjudge, pki
from testlib.servers import HAProxyLB, ProtocolBackends, free_ports

ROOT = pki.issue("IP SNI Root CA", ca=True, days=3650)
NAMED = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])
BY_IP = pki.issue("127.0.0.1", issuer=ROOT, names=[])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "ipsni")
    ca_file = pki.write(base / "root.pem", ROOT.pem)
    port, strict = free_ports(2)
    # `strict`: its default server refuses a handshake without a name it knows (ssl_reject_handshake): the probe's
    # own handshake, without SNI, fails there (and the view kept that failure for a while, a review of 2026-12-07)
    sites = [{"name": name, "fqdn": fqdn, "port": port_, "protocols": "TLSv1.2 TLSv1.3",
              "cert": pki.write(base / ("%s.crt" % name), leaf.pem),
              "key": pki.write(base / ("%s.key" % name), leaf.key_pem(), 0o600),
              "extra": "        ssl_reject_handshake on;\n" if name == "strict_default" else ""}
             for name, fqdn, leaf, port_ in (("named", "backend.test", NAMED, port),
                                             ("by_ip", "127.0.0.1", BY_IP, port),
                                             ("strict_default", "default.invalid", NAMED, strict),
                                             ("strict_ip", "127.0.0.1", BY_IP, strict))]
    haproxy = HAProxyLB(base / "haproxy", lbjudge.haproxy_head() + "backend be_sni\n" + "".join(
        "    server %s 127.0.0.1:%d ssl verify required ca-file %s check check-sni %s\n" % (name, port_, ca_file, sni)
        for name, sni, port_ in (("ip", "127.0.0.1", port), ("name", "backend.test", port),
                                 ("strict", "127.0.0.1", strict))))
    with contextlib.ExitStack() as running:
        for server in (ProtocolBackends(base / "backends", sites), haproxy):
            running.enter_context(server)
        yield {"haproxy": haproxy}


def test_the_ip_address_haproxy_sends_as_sni_is_sent(world):
    says = {name: status for name, (status, _check, _last) in lbjudge.haproxy_settled(world["haproxy"]).items()}
    assert says == {"ip": "UP", "name": "UP", "strict": "UP"}, says
    result = lbjudge.read({"haproxy": world["haproxy"]})
    verdicts = lbjudge.judged(result)
    seen = {}
    for index, item in enumerate(result["lb_backends"]):
        seen[item["server"]] = (lbjudge.accepted(item, verdicts.get(index)), (item["endpoint"]["chain"] or [None])[0])
    fingerprints = {fp["fingerprint_sha256"]: fp["subject"] for fp in result["certificates"]}
    assert {server: (ok, fingerprints.get(leaf)) for server, (ok, leaf) in seen.items()} == {
        "ip": (True, "CN=127.0.0.1"), "name": (True, "CN=backend.test"), "strict": (True, "CN=127.0.0.1")}, seen
    assert result["lb_backends"][0]["endpoint"]["server_name"] == "127.0.0.1"
