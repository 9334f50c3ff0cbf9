"""HAProxy's server cipher list where `no-ssl` and `no-check-ssl` stand (HAProxy 2.6 cfgparse-ssl.c): `no-check-ssl`
drops the list given before it, and `no-ssl` does too on a server TLS is not yet on for; `ssl` and `check-ssl` then
give a server without a list ssl-default-server-ciphers, where they stand, and a list dropped after them leaves
OpenSSL's default. The collection probed with the dropped list, or with the global one where HAProxy has none: it
said NO_COMMON_CIPHER for backends HAProxy's checks found UP, and VALID for one they found DOWN (a differential hunt
against a real HAProxy, 2026-12-07).

Backends (one nginx, TLS 1.2 only): `ecdsa` serves an ECDSA certificate (no ECDHE-RSA suite can reach it), `rsa`
an RSA one and only AES256-GCM-SHA384 and AES128-SHA (no ECDHE at all). Two real HAProxy load balancers check them
over TLS: one without ssl-default-server-ciphers, one with `ssl-default-server-ciphers ECDHE-RSA-AES256-GCM-SHA384`.
"""

from __future__ import annotations

import contextlib

import pytest

from testlib import lbjudge, pki
from testlib.servers import HAProxyLB, ProtocolBackends, free_ports

ROOT = pki.issue("Cipher Keywords Root CA", ca=True, days=3650)
LEAVES = {"ecdsa": pki.issue("ecdsa.test", issuer=ROOT),
          "rsa": pki.issue("rsa.test", issuer=ROOT, key=pki.new_key("rsa"))}
RSA_SUITE = "ECDHE-RSA-AES256-GCM-SHA384"

# server name: (backend, server line words after the address, HAProxy's check status)
PLAIN = {
    "dropped_by_no_ssl": ("ecdsa", "ciphers %s no-ssl ssl verify none check" % RSA_SUITE, "UP"),
    "dropped_by_no_check_ssl": ("ecdsa", "ssl verify none ciphers %s no-check-ssl check-ssl check" % RSA_SUITE, "UP"),
    "kept_where_ssl_was_on": ("ecdsa", "ssl ciphers %s no-ssl ssl verify none check" % RSA_SUITE, "DOWN"),
    "kept": ("ecdsa", "ssl verify none ciphers %s check" % RSA_SUITE, "DOWN"),
}
GLOBAL = {
    "global_after_no_ssl": ("rsa", "ciphers AES128-SHA no-ssl ssl verify none check", "DOWN"),
    "own_list": ("rsa", "ciphers AES128-SHA ssl verify none check", "UP"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "cipher-keywords")
    picked = free_ports(2)
    ports = dict(zip(LEAVES, picked))
    sites = []
    for name, leaf in LEAVES.items():
        cert = pki.write(base / ("%s.crt" % name), leaf.pem + ROOT.pem)
        key = pki.write(base / ("%s.key" % name), leaf.key_pem(), 0o600)
        sites.append({"name": name, "port": ports[name], "protocols": "TLSv1.2", "cert": cert, "key": key,
                      "extra": "        ssl_ciphers AES256-GCM-SHA384:AES128-SHA;\n" if name == "rsa" else ""})

    def servers(table):
        return "".join("    server %s 127.0.0.1:%d %s\n" % (server, ports[backend], words)
                       for server, (backend, words, _status) in table.items())

    plain = HAProxyLB(base / "plain", lbjudge.haproxy_head() + "backend be_plain\n" + servers(PLAIN)
                      + "backend be_default_server\n    default-server ciphers %s no-ssl\n"
                        "    server from_default_server 127.0.0.1:%d ssl verify none check\n"
                      % (RSA_SUITE, ports["ecdsa"]))
    with_global = HAProxyLB(base / "global", lbjudge.haproxy_head("    ssl-default-server-ciphers %s\n" % RSA_SUITE)
                            + "backend be_global\n" + servers(GLOBAL))
    with contextlib.ExitStack() as running:
        for server in (ProtocolBackends(base / "backends", sites), plain, with_global):
            running.enter_context(server)
        yield {"plain": plain, "global": with_global}


def _collection(haproxy):
    """{server: (accepted, the endpoint's error code)} as the collection judges each."""
    result = lbjudge.read({"haproxy": haproxy})
    verdicts = lbjudge.judged(result)
    return {item["server"]: (lbjudge.accepted(item, verdicts.get(index)),
                             ((item["endpoint"] or {}).get("error") or {}).get("code"))
            for index, item in enumerate(result["lb_backends"])}


CHECKED = {"plain": dict(PLAIN, from_default_server=("ecdsa", "", "UP")), "global": GLOBAL}


@pytest.mark.parametrize("lb", sorted(CHECKED))
def test_the_collection_finds_what_haproxys_checks_find(world, lb):
    table = CHECKED[lb]
    says = {server: status for server, (status, _check, _last) in lbjudge.haproxy_settled(world[lb]).items()}
    assert says == {server: status for server, (_b, _w, status) in table.items()}, says
    seen = _collection(world[lb])
    assert {server: accepted for server, (accepted, _code) in seen.items()} == {
        server: status == "UP" for server, (_b, _w, status) in table.items()}, seen
    assert all(code == "NO_COMMON_CIPHER" for server, (accepted, code) in seen.items() if not accepted), seen
