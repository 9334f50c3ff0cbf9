"""A backend serving a chain whose names hold a PrintableString with '&' (testlib/printable.py, as DigiCert issued
for "Wells Fargo & Company"), behind a real HAProxy that verifies it: HAProxy's health check says UP, and so must the
collection -- lb_backend_info's probe from the load balancer's view, judged by cert_chain_verify with profile openssl
as lb_verify_items groups it. Before, cryptography could not read the served certificates: PARSE_ERROR, "down".

A second server line checks a name the leaf does not carry: HAProxy marks it DOWN and the collection says invalid,
so the agreement is not one verdict given to everything.
"""

from __future__ import annotations

import time

import pytest

from ansible_collections.certops.backend_tls.plugins.filter import lb_view
from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify, lb_backend_info
from testlib import pki, printable
from testlib.module_runner import run_main
from testlib.servers import HAProxyLB, Nginx, free_ports, have

NAME = "amp.printable.test"

pytestmark = pytest.mark.skipif(not (have("nginx") and have("haproxy")), reason="needs nginx and haproxy")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("printable")
    root, inter, leaf = printable.chain(NAME)
    cert = pki.write(base / "chain.pem", leaf.pem + inter.pem)
    key = pki.write(base / "key.pem", leaf.key_pem(), 0o600)
    ca_file = pki.write(base / "ca.pem", root.pem)
    port, = free_ports(1)
    site = {"name": "amp", "port": port, "server_names": [NAME], "cert": str(cert), "key": str(key)}
    nginx = Nginx(base / "nginx", [site])
    nginx.start()
    config = (
        "global\n    stats socket @SOCKET@ mode 600 level admin\n\n"
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\n"
        "backend be_amp\n"
        "    server amp 127.0.0.1:%(port)d ssl verify required ca-file %(ca)s sni str(%(name)s) check check-ssl "
        "check-sni %(name)s inter 500ms\n"
        "    server othername 127.0.0.1:%(port)d ssl verify required ca-file %(ca)s sni str(%(other)s) check "
        "check-ssl check-sni %(other)s inter 500ms\n"
        % {"port": port, "ca": ca_file, "name": NAME, "other": "other.printable.test"})
    haproxy = HAProxyLB(base / "haproxy", config)
    try:
        haproxy.start()
        yield {"haproxy": haproxy, "leaf": leaf, "inter": inter, "root": root}
    finally:
        haproxy.stop()
        nginx.stop()


def settled(haproxy, wait=20):
    """{server: status} once every server's health check has run (no INI/ nor * in its check status)."""
    deadline = time.monotonic() + wait
    while True:
        stat = haproxy.stat()
        if all(s[1] and not s[1].startswith(("INI", "*")) for s in stat.values()) or time.monotonic() > deadline:
            return {name: s[0] for name, s in stat.items()}
        time.sleep(0.2)


def test_the_load_balancer_and_the_collection_agree(world):
    says = settled(world["haproxy"])
    assert says == {"amp": "UP", "othername": "DOWN"}, says  # the reference: HAProxy's own checks
    result = run_main(lb_backend_info.main, {"lb_type": ["haproxy"], "config": {"haproxy": str(world["haproxy"].conf)}})
    servers = [b["server"] for b in result["lb_backends"]]
    for item in result["lb_backends"]:
        assert item["endpoint"]["ok"], item["endpoint"]
        assert item["endpoint"]["chain"] == [world["leaf"].fingerprint, world["inter"].fingerprint]  # own bytes
    judged = {}
    for group in lb_view.lb_verify_items(result):
        out = run_main(cert_chain_verify.main, {"items": group["chains"], "profile": "openssl",
                                                "ca_content": group["ca_content"]})
        judged.update(zip(group["backends"], out["results"]))
    verdicts = {servers[i]: ("UP" if r["valid"] else "DOWN") for i, r in judged.items()}
    assert verdicts == says, {servers[i]: r["findings"] for i, r in judged.items()}
    amp = judged[servers.index("amp")]
    assert {f["code"] for f in amp["findings"]} == {"PARSE_ERROR"}  # named, as warnings
    assert all(f["severity"] == "warning" and "PrintableString" in f["message"] for f in amp["findings"])
    other = judged[servers.index("othername")]
    assert [f["code"] for f in other["findings"] if f["severity"] == "error"] == ["HOSTNAME_MISMATCH"]
