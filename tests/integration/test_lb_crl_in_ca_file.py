"""CRLs a load balancer's CA file holds, against a real nginx (from the CRL hunt of 2026-12-07).

OpenSSL loads a CA file's CRLs into the store the CRL file's CRLs go to (X509_load_cert_crl_file), and where CRLs
are checked they count. The hunt saw HAProxy, nginx and Apache all refuse a backend whose leaf a newer CRL in the
CA file revokes while the CRL file (an older CRL of the same CA) passes it; the collection read the CRL file alone
and accepted the backend. nginx here: one location trusting a CA file with that CRL in it, one trusting the root
alone (the control), both with the same `proxy_ssl_crl`; each answers a proxied request, and the collection's verdict
(lb_backend_info, lb_verify_items, cert_chain_verify) must be nginx's, under both profiles.
"""

from __future__ import annotations

import contextlib

import pytest

from testlib import lbjudge, pki
from testlib.servers import KindBackends, NginxLB, _run, free_ports, http_status

NAME = "ca-file-crl.test"
ROOT = pki.issue("CA File CRL Root CA", ca=True, days=3650)
INTERMEDIATE = pki.issue("CA File CRL Intermediate CA", issuer=ROOT, ca=True, days=1825)
LEAF = pki.issue(NAME, issuer=INTERMEDIATE)
LOCATIONS = ("revoked_in_ca_file", "control")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "crl-in-ca-file")
    cert = pki.write(base / "leaf.crt", LEAF.pem + INTERMEDIATE.pem)
    key = pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    newer = pki.crl(INTERMEDIATE, [LEAF], last=-1)  # revokes the leaf
    older, root_crl = pki.crl(INTERMEDIATE, last=-3), pki.crl(ROOT)  # nothing revoked
    trusted = {"revoked_in_ca_file": pki.write(base / "trusted-with-crl.pem", ROOT.pem + pki.crl_pem(newer)),
               "control": pki.write(base / "trusted.pem", ROOT.pem)}
    crls = pki.write(base / "crls.pem", pki.crl_pem(older) + pki.crl_pem(root_crl))
    *backend_ports, lb_port = free_ports(len(LOCATIONS) + 1)
    ports = dict(zip(LOCATIONS, backend_ports))
    locations = "".join(
        "        location /%s/ {\n            proxy_pass https://127.0.0.1:%d/;\n            proxy_ssl_verify on;\n"
        "            proxy_ssl_trusted_certificate %s;\n            proxy_ssl_crl %s;\n"
        "            proxy_ssl_name %s;\n            proxy_ssl_session_reuse off;\n        }\n" % (
            location, ports[location], trusted[location], crls, NAME) for location in LOCATIONS)
    nginx = NginxLB(base / "nginx", lb_port, "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (
        lb_port, locations))
    nginx.write_config()
    _run(nginx.test_command)
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (KindBackends(base / "backends", {"leaf": backend_ports}, {"leaf": (cert, key)}), nginx):
            running.enter_context(server)
        yield {"nginx": nginx, "lb_port": lb_port, "ports": ports}


def test_a_crl_in_the_ca_file_counts_as_nginx_counts_it(world):
    said = {location: http_status("http://127.0.0.1:%d/%s/" % (world["lb_port"], location))
            for location in LOCATIONS}
    assert said == {"revoked_in_ca_file": 502, "control": 200}, said  # the cases are what they stand for
    result = lbjudge.read({"nginx": world["nginx"]})
    for profile in ("openssl", "webpki"):
        verdicts = lbjudge.judged(result, profile)
        for index, item in enumerate(result["lb_backends"]):
            location = item["location"].split()[-1].strip("/")
            accepted = lbjudge.accepted(item, verdicts.get(index))
            assert accepted == (said[location] == 200), (profile, location, item, verdicts.get(index))
            if not accepted:
                assert lbjudge.error_codes(verdicts[index]) == ["REVOKED"], (profile, verdicts[index])
