"""HAProxy 2.6's environment variable forms, unsetenv / resetenv, a later global section and the no-* keywords it
does not have, against real HAProxy processes (a review, 2026-12-07). lb_backend_info read "${VAR-default}",
"${VAR[*]}" and "${.SECTION}" as written, ignored unsetenv and resetenv (defined() stayed true), applied a global
section's ssl-server-verify only to the servers after it and ssl-default-server-options to every server (HAProxy
gives a server the protocol range where its `ssl` keyword stands), and read no-sni and the like as "unset", where
HAProxy refuses the configuration.

Backends (nginx): `good` serves a certificate for backend.test from the CA HAProxy trusts, `stray` one from a CA
nobody trusts, `old` the good certificate over TLS 1.2 only. Two HAProxy load balancers check them over TLS; for
each server HAProxy's health check (UP / DOWN) and the collection's verdict must agree. A third configuration, with
no-sni, is only written: `haproxy -c` refuses it, and the collection says INVALID_CONFIG.
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import HAProxyLB, ProtocolBackends, free_ports

ROOT = pki.issue("Env Late Global Root CA", ca=True, days=3650)
OTHER = pki.issue("Env Late Global Other CA", ca=True, days=3650)
LEAVES = {"good": pki.issue("backend.test", issuer=ROOT, names=["backend.test"]),
          "stray": pki.issue("backend.test", issuer=OTHER, names=["backend.test"]),
          "old": pki.issue("backend.test", issuer=ROOT, names=["backend.test"])}
PROTOCOLS = {"good": "TLSv1.2 TLSv1.3", "stray": "TLSv1.2 TLSv1.3", "old": "TLSv1.2"}

# (server name: HAProxy's check status); the lines below
ENV = {"split_good": "UP", "split_stray": "DOWN", "dflt_known": "UP", "dflt_unset": "UP",
       "unsetenv_if": "DOWN", "section": "UP", "reset_kept": "UP"}
LATE = {"verify_later": "UP", "ssl_before_global": "UP", "ssl_after_global": "DOWN"}


def _env_config(p):
    return lbjudge.haproxy_head(
        '    setenv CT_TLS "ssl verify required ca-file %(ca)s"\n    setenv CT_NAME backend.test\n'
        '    setenv CT_STRICT 1\n    unsetenv CT_STRICT\n    setenv CT_GONE x\n'
        '    setenv CT_KEPT backend.test\n    resetenv CT_TLS CT_NAME CT_KEPT\n' % p) + """
backend be
    server split_good 127.0.0.1:%(good)d "${CT_TLS[*]}" check
    server split_stray 127.0.0.1:%(stray)d "${CT_TLS[*]}" check
    server dflt_known 127.0.0.1:%(good)d ssl verify required ca-file %(ca)s check verifyhost "${CT_NAME-x}"
    server dflt_unset 127.0.0.1:%(good)d ssl verify required ca-file %(ca)s check verifyhost "${CT_GONE-backend.test}"
.if defined(CT_STRICT)
    server unsetenv_if 127.0.0.1:%(stray)d ssl verify none check
.else
    server unsetenv_if 127.0.0.1:%(stray)d ssl verify required ca-file %(ca)s check
.endif
    server reset_kept 127.0.0.1:%(good)d ssl verify required ca-file %(ca)s check check-sni "${CT_KEPT}"

backend backend.test
    server section 127.0.0.1:%(good)d ssl verify required ca-file %(ca)s check verifyhost "${.SECTION}"
""" % p


def _late_config(p):
    return lbjudge.haproxy_head() + """
backend be1
    server verify_later 127.0.0.1:%(stray)d ssl ca-file %(ca)s check

defaults withssl
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    default-server inter 400ms fall 1 rise 1 ssl verify none check

global
    ssl-default-server-options ssl-min-ver TLSv1.3

backend be2 from withssl
    server ssl_before_global 127.0.0.1:%(old)d
    server ssl_after_global 127.0.0.1:%(old)d ssl

global
    ssl-server-verify none
""" % p


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "env-late-global")
    ports = dict(zip(LEAVES, free_ports(len(LEAVES))))
    sites = [{"name": name, "port": ports[name], "protocols": PROTOCOLS[name],
              "cert": pki.write(base / ("%s.crt" % name), leaf.pem),
              "key": pki.write(base / ("%s.key" % name), leaf.key_pem(), 0o600)}
             for name, leaf in LEAVES.items()]
    values = dict(ports, ca=pki.write(base / "R.pem", ROOT.pem))
    env = HAProxyLB(base / "env", _env_config(values))
    late = HAProxyLB(base / "late", _late_config(values))
    refused = HAProxyLB(base / "refused", lbjudge.haproxy_head() + "backend be\n    server no_sni 127.0.0.1:%d ssl "
                        "verify required ca-file %s sni str(backend.test) no-sni check\n"
                        "    server fine 127.0.0.1:%d ssl verify required ca-file %s check\n"
                        % (ports["good"], values["ca"], ports["good"], values["ca"])).write()
    with contextlib.ExitStack() as running:
        for server in (ProtocolBackends(base / "backends", sites), env, late):
            running.enter_context(server)
        yield {"env": env, "late": late, "refused": refused}


def _collection(haproxy):
    """{server: (accepted, the item)} as the collection judges each."""
    result = lbjudge.read({"haproxy": haproxy})
    verdicts = lbjudge.judged(result)
    return {item["server"]: (lbjudge.accepted(item, verdicts.get(index)), item)
            for index, item in enumerate(result["lb_backends"])}


@pytest.mark.parametrize("lb, table", [("env", ENV), ("late", LATE)])
def test_the_collection_finds_what_haproxys_checks_find(world, lb, table):
    says = {server: status for server, (status, _check, _last) in lbjudge.haproxy_settled(world[lb]).items()
            if server not in ("FRONTEND", "BACKEND")}
    assert says == table, says
    seen = _collection(world[lb])
    assert {server: accepted for server, (accepted, _item) in seen.items()} == {
        server: status == "UP" for server, status in table.items()}, seen
    if lb == "env":  # the split variable gave the server its TLS settings, as HAProxy's L6 checks show
        assert all(seen[s][1]["tls"] and seen[s][1]["verify"] for s in ("split_good", "split_stray")), seen


def test_a_no_keyword_haproxy_does_not_have_is_a_configuration_it_refuses(world):
    lb = world["refused"]
    check = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False)
    assert check.returncode != 0 and "unknown keyword 'no-sni'" in check.stdout + check.stderr, check
    items = {item["server"]: item for item in lbjudge.read({"haproxy": lb})["lb_backends"]}
    assert items["no_sni"]["error"]["code"] == "INVALID_CONFIG", items["no_sni"]
    assert items["fine"]["error"] is None, items["fine"]
