"""An nginx server named only by regular expressions (`server_name ~^(?<tenant>[a-z0-9-]+)\\.saas\\.test$;`, the
multi-tenant front) was probed without SNI, so it got its socket's default server's certificate: the site "did not
serve its files" and the role planned a reload that could change nothing. It is now probed with a name its
expression matches (a.saas.test), one no other server of the socket takes first (an exact or wildcard name, an
earlier expression); held here to REAL nginx 1.22, with `openssl s_client -servername` as the reference. An
expression Python's re would read otherwise than nginx's PCRE, or might backtrack on for minutes, is not walked.
"""

from __future__ import annotations

import pytest

from testlib import lbjudge, pki
from testlib.ansible_run import diagnose_sites, openssl_leaf, run_module
from testlib.servers import NginxLB, free_ports

CA = pki.CA("Regex Names")
# label -> (server_name as written, the name the probe must send, the names its certificate holds)
SERVERS = {
    "default": ("def.test", "def.test", ["def.test"]),
    "tenant": (r"~^(?<tenant>[a-z0-9-]+)\.saas\.test$", "a.saas.test", ["*.saas.test"]),
    "shop": (r"~^(www\.)?shop\.test$", "shop.test", ["shop.test", "www.shop.test"]),
    "api": (r"~^api-v[0-9]+\.b\.test$", "api-v0.b.test", ["*.b.test"]),
}
# servers no name is walked for (a POSIX class Python's re reads otherwise: it would have sent appd.example.test,
# which nginx routes to the default server), and one named `_` (a catch-all by convention only): none is its socket's
# default server, so a probe without SNI gets the default server's certificate. They are not probed (NO_PROBE_NAME);
# they were, and the role planned a reload that could change nothing. The second holds an RSA and an ECDSA
# certificate.
UNNAMED = {"posix": r"~^app[[:digit:]]*\.example\.test$", "dual": r"~^(a|b)+\.kt\.test$", "catchall": "_"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "regex-names")
    port, second = free_ports(2)
    body, leaves = "", {}
    for label, (written, _probe, names) in SERVERS.items():
        leaves[label] = CA.leaf(names[0], names=names)
        cert = pki.write(base / ("%s.crt" % label), CA.chain_pem(leaves[label]))
        key = pki.write(base / ("%s.key" % label), leaves[label].key_pem(), 0o600)
        body += ("    server {\n        listen 127.0.0.1:%d ssl%s;\n        server_name \"%s\";\n"
                 "        ssl_certificate %s;\n        ssl_certificate_key %s;\n        return 200;\n    }\n"
                 % (port, " default_server" if label == "default" else "", written, cert, key))
    for label, written in UNNAMED.items():
        certs = ""
        for kind in ("rsa", "ec") if label == "dual" else ("ec",):
            leaf = CA.leaf("%s.test" % label, key=pki.new_key(kind))
            certs += "        ssl_certificate %s;\n        ssl_certificate_key %s;\n" % (
                pki.write(base / ("%s-%s.crt" % (label, kind)), CA.chain_pem(leaf)),
                pki.write(base / ("%s-%s.key" % (label, kind)), leaf.key_pem(), 0o600))
        body += ("    server {\n        listen 127.0.0.1:%d ssl;\n        server_name \"%s\";\n%s        return 200;\n"
                 "    }\n" % (port, written, certs))
    # a server with no name at all, the first to listen on a second socket: its default server, probed there
    leaves["nameless"] = CA.leaf("nameless.test")
    body += ("    server {\n        listen 127.0.0.1:%d ssl;\n        listen 127.0.0.1:%d ssl;\n"
             "        ssl_certificate %s;\n        ssl_certificate_key %s;\n        return 200;\n    }\n"
             % (second, port, pki.write(base / "nameless.crt", CA.chain_pem(leaves["nameless"])),
                pki.write(base / "nameless.key", leaves["nameless"].key_pem(), 0o600)))
    with NginxLB(base / "nginx", (port, second), body) as nginx:
        yield {"nginx": nginx, "port": port, "second": second, "leaves": leaves}


def test_a_server_named_by_expressions_is_probed_with_a_name_they_match(world):
    result = run_module("backend_cert_info", {"discover": [{"type": "nginx", "config": str(world["nginx"].conf)}],
                                              "include_pem": False, "timeout": 15})
    sites = {s["cert_file"].rsplit("/", 1)[-1][:-4]: s for s in result["sites"]}
    unnamed = ["posix-ec", "dual-rsa", "dual-ec", "catchall-ec"]
    assert sorted(sites) == sorted(list(SERVERS) + unnamed + ["nameless"])
    # the reference: without a name, the first socket gives the default server's certificate, and the second the
    # nameless server's own
    assert openssl_leaf(world["port"]) == world["leaves"]["default"].fingerprint
    assert openssl_leaf(world["second"]) == world["leaves"]["nameless"].fingerprint
    for label in unnamed:
        assert sites[label]["endpoint"] is None, sites[label]
        assert sites[label]["error"]["code"] == "NO_PROBE_NAME", sites[label]
        assert sites[label]["served_matches_disk"] is None, sites[label]
    assert "server_name _" in sites["catchall-ec"]["error"]["message"]
    nameless = sites["nameless"]
    assert nameless["endpoint"]["port"] == world["second"] and nameless["endpoint"]["server_name"] is None
    assert nameless["served_matches_disk"] is True and nameless["error"] is None, nameless
    for label, (_written, probe, _names) in SERVERS.items():
        site = sites[label]
        assert site["endpoint"]["server_name"] == probe, site["endpoint"]
        # the reference: nginx sends this server's certificate for that name
        assert openssl_leaf(world["port"], probe) == world["leaves"][label].fingerprint, label
        assert site["served_matches_disk"] is True and site["error"] is None, site


def test_diagnose_leaves_them_alone(world, tmp_path):
    sites = diagnose_sites(tmp_path, CA.root.pem,
                           cert_remediation_discover=[{"type": "nginx", "config": str(world["nginx"].conf)}])
    assert len(sites) == len(SERVERS) + 5
    named = {"nginx-" + written for written, _probe, _names in SERVERS.values()} | {"nginx-nameless.crt"}
    assert [(name, sites[name]["action"]) for name in named if sites[name]["action"] != "none"] == [], sites
    # the servers no probe can reach are a person's: no push or reload could be verified (it was `reload`)
    unreached = sorted(name for name in sites if name not in named)
    assert unreached == ["nginx-_", "nginx-~^(a|b)+\\.kt\\.test$+ec", "nginx-~^(a|b)+\\.kt\\.test$+rsa",
                         "nginx-~^app[[:digit:]]*\\.example\\.test$"], sites
    assert {(sites[name]["action"], sites[name]["reasons"][0]) for name in unreached} == {("manual", "NO_PROBE_NAME")}


def test_names_a_probe_cannot_send_and_listens_on_host_names(tmp_path_factory):
    """From a review against real nginx: `server_name $hostname` is this machine's name (it was sent as the text
    `$hostname`), an IP address as server_name is no SNI a probe sends (Python sends none: it got the default
    server's certificate), and a server alone on `listen localhost:PORT` is its socket's default, probed with no SNI
    (the host name was sent as one). The reference: `openssl s_client` against the running nginx."""
    import socket

    base = lbjudge.workdir(tmp_path_factory, "sni-names")
    port, alone, shared = free_ports(3)
    leaves, body = {}, ""
    for label, listen, name in (("default", "127.0.0.1:%d ssl default_server" % port, "def.test"),
                                ("host", "127.0.0.1:%d ssl" % port, "$hostname"),
                                ("ip", "127.0.0.1:%d ssl" % port, "127.0.0.1"),
                                ("alone", "localhost:%d ssl" % alone, ""),
                                # localhost:SHARED is 127.0.0.1:SHARED: the wildcard's servers are not reached there
                                ("lh", "localhost:%d ssl" % shared, "lh.test"),
                                ("wild-default", "%d ssl" % shared, ""), ("wild-named", "%d ssl" % shared, "wn.test")):
        leaves[label] = CA.leaf("%s.test" % label)
        body += ("    server {\n        listen %s;\n        server_name \"%s\";\n        ssl_certificate %s;\n"
                 "        ssl_certificate_key %s;\n        return 200;\n    }\n" % (
                     listen, name, pki.write(base / ("%s.crt" % label), CA.chain_pem(leaves[label])),
                     pki.write(base / ("%s.key" % label), leaves[label].key_pem(), 0o600)))
    with NginxLB(base / "nginx", (port, alone, shared), body) as nginx:
        result = run_module("backend_cert_info", {"discover": [{"type": "nginx", "config": str(nginx.conf)}],
                                                  "include_pem": False, "timeout": 15})
        sites = {s["cert_file"].rsplit("/", 1)[-1][:-4]: s for s in result["sites"]}
        hostname = socket.gethostname().lower()
        assert sites["host"]["endpoint"]["server_name"] == hostname
        assert openssl_leaf(port, hostname) == leaves["host"].fingerprint  # nginx's $hostname
        assert sites["ip"]["endpoint"] is None and sites["ip"]["error"]["code"] == "NO_PROBE_NAME", sites["ip"]
        assert sites["alone"]["endpoint"] == {"host": "localhost", "port": alone, "server_name": None}
        assert sites["wild-default"]["endpoint"] == {"host": "127.0.0.2", "port": shared, "server_name": None}
        assert sites["wild-named"]["endpoint"]["host"] == "127.0.0.2"
        for label in ("default", "host", "alone", "lh", "wild-default", "wild-named"):
            assert sites[label]["served_matches_disk"] is True and sites[label]["error"] is None, sites[label]
