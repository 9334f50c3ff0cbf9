"""A load balancer's TLS 1.3 cipher suites (HAProxy `ciphersuites`, nginx `proxy_ssl_conf_command Ciphersuites`),
which Python's ssl cannot restrict: the collection said VALID for a backend the load balancer cannot reach (a review
of 2026-12-07). A handshake over TLS 1.3 with a suite outside them is asked again by `openssl s_client
-ciphersuites`, offering only those.

Backends (one nginx, TLS 1.3 only, each with its own suites): `chacha` takes only CHACHA20 (no suite in common with
the load balancers' AES-128), `aes128` only AES-128, `both` AES-256 and AES-128 (the probe's own handshake picks
AES-256, outside the load balancers' list; offered AES-128 alone it takes that). The load balancers' answers: a real
HAProxy's health checks, and a request through a real nginx.
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import HAProxyLB, NginxLB, ProtocolBackends, free_ports, http_status

ROOT = pki.issue("Suites Root CA", ca=True, days=3650)
LEAF = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])
SUITES = {"chacha": "TLS_CHACHA20_POLY1305_SHA256", "aes128": "TLS_AES_128_GCM_SHA256",
          "both": "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"}
LB_SUITES = "TLS_AES_128_GCM_SHA256"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "suites")
    ca_file = pki.write(base / "root.pem", ROOT.pem)
    cert, key = pki.write(base / "leaf.crt", LEAF.pem), pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    picked = free_ports(len(SUITES) + 1)
    ports, nginx_port = dict(zip(SUITES, picked)), picked[-1]
    sites = [{"name": name, "port": ports[name], "protocols": "TLSv1.3", "cert": cert, "key": key,
              "extra": "        ssl_conf_command Ciphersuites %s;\n" % suites} for name, suites in SUITES.items()]
    haproxy = HAProxyLB(base / "haproxy", lbjudge.haproxy_head() + "backend be_suites\n" + "".join(
        "    server %s 127.0.0.1:%d ssl verify required ca-file %s ciphersuites %s sni str(backend.test) check "
        "check-ssl check-sni backend.test\n" % (name, ports[name], ca_file, LB_SUITES) for name in SUITES))
    nginx = NginxLB(base / "nginx", nginx_port, "    proxy_ssl_verify on;\n    proxy_ssl_trusted_certificate %s;\n"
                    "    proxy_ssl_name backend.test;\n    proxy_ssl_server_name on;\n"
                    "    proxy_ssl_session_reuse off;\n    proxy_ssl_protocols TLSv1.2 TLSv1.3;\n"
                    "    proxy_ssl_conf_command Ciphersuites %s;\n"
                    "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (
                        ca_file, LB_SUITES, nginx_port, "".join(
                            "        location /%s { proxy_pass https://127.0.0.1:%d/; }\n" % (name, ports[name])
                            for name in SUITES)))
    with contextlib.ExitStack() as running:
        for server in (ProtocolBackends(base / "backends", sites), haproxy, nginx):
            running.enter_context(server)
        yield {"haproxy": haproxy, "nginx": nginx, "ports": ports, "nginx_port": nginx_port, "ca_file": ca_file}


def _answers(result, key):
    """{key(item): (accepted, its endpoint's error code, the cipher it negotiated)}."""
    verdicts = lbjudge.judged(result)
    out = {}
    for index, item in enumerate(result["lb_backends"]):
        endpoint = item["endpoint"] or {}
        out[key(item)] = (lbjudge.accepted(item, verdicts.get(index)), (endpoint.get("error") or {}).get("code"),
                          endpoint.get("cipher"))
    return out


def test_haproxy_ciphersuites_as_its_health_checks_find_them(world):
    says = {name: status for name, (status, _check, _last) in lbjudge.haproxy_settled(world["haproxy"]).items()}
    assert says == {"chacha": "DOWN", "aes128": "UP", "both": "UP"}, says
    seen = _answers(lbjudge.read({"haproxy": world["haproxy"]}), lambda item: item["server"])
    assert seen == {"chacha": (False, "NO_COMMON_CIPHER", "TLS_CHACHA20_POLY1305_SHA256"),
                    "aes128": (True, None, LB_SUITES), "both": (True, None, LB_SUITES)}, seen


def test_nginx_ciphersuites_as_a_proxied_request_finds_them(world):
    port, ports = world["nginx_port"], world["ports"]
    statuses = {name: http_status("http://127.0.0.1:%d/%s" % (port, name)) for name in SUITES}
    assert statuses == {"chacha": 502, "aes128": 200, "both": 200}, statuses
    result = lbjudge.read({"nginx": world["nginx"]})
    by_port = {port_: name for name, port_ in ports.items()}
    seen = _answers(result, lambda item: by_port[item["port"]])
    assert {name: (accepted, code) for name, (accepted, code, _cipher) in seen.items()} == {
        "chacha": (False, "NO_COMMON_CIPHER"), "aes128": (True, None), "both": (True, None)}, seen
    message = next(item["endpoint"]["error"]["message"] for item in result["lb_backends"]
                   if by_port[item["port"]] == "chacha")
    assert "ciphersuites %s" % LB_SUITES in message and "TLS_CHACHA20_POLY1305_SHA256" in message, message


def test_ciphersuites_openssl_does_not_know_are_a_configuration_haproxy_refuses(world, tmp_path):
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head() + (
        "backend be_bogus\n    server s 127.0.0.1:%d ssl verify required ca-file %s ciphersuites TLS_NO_SUCH_SUITE "
        "sni str(backend.test)\n" % (world["ports"]["both"], world["ca_file"]))).write()
    checked = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False)
    assert checked.returncode == 1, checked
    (item,) = lbjudge.read({"haproxy": lb})["lb_backends"]
    error = item["endpoint"]["error"]
    assert error["code"] == "INVALID_CONFIG" and "ciphersuites TLS_NO_SUCH_SUITE" in error["message"], item
