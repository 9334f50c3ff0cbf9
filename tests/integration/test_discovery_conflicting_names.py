"""Two nginx servers of one socket with the same name: nginx keeps the first and ignores the later one's
("conflicting server name ... ignored", a warning at start). The later server was probed with that name, got the
first server's certificate, and the role planned a reload that could change nothing. A server is now probed with a
name nginx keeps for it on that socket, or without a name where it is the socket's default, and is otherwise not
probed (NO_PROBE_NAME). Held here to REAL nginx 1.22, with `openssl s_client -servername` as the reference, including
nginx's own quirks: `.a.test` is refused whole when either half conflicts, and a refused `.a.test` still keeps a
later server's `a.test` from being served at all.
"""

from __future__ import annotations

import pytest

from testlib import lbjudge, pki
from testlib.ansible_run import diagnose_sites, openssl_leaf, run_module
from testlib.servers import HAProxyLB, NginxLB, free_ports

CA = pki.CA("Conflicting Names")
# in configuration order: label -> (its sockets ("main", "other"), server_name as written, listen options, the socket
# the probe must go to and the SNI it must send (None: none), or None for a server not probed (NO_PROBE_NAME))
SERVERS = (
    ("first", "main", "first.test", "", ("main", "first.test")),
    ("dup", "main", "dup.test", "", ("main", "dup.test")),
    ("dup-second-name", "main", "dup.test other.test", "", ("main", "other.test")),  # its first name is dup's
    ("dup-case", "main", "DUP.test", "", None),  # nginx compares names in lowercase
    ("dup-default", "main", "dup.test", " default_server", ("main", None)),  # main's default: reached with no name
    ("dup-moves", "main+other", "dup.test", "", ("other", "dup.test")),  # kept on its second socket: probed there
    ("exact", "main", "e.test", "", ("main", "e.test")),
    ("dot-after-exact", "main", ".e.test", "", None),  # refused whole: x.e.test reaches the default server
    ("wild", "main", "*.w.test", "", ("main", "certops-probe.w.test")),
    ("dot-after-wild", "main", ".w.test", "", None),  # refused whole, yet it registered w.test ...
    ("after-refused-dot", "main", "w.test", "", None),  # ... so this one is refused too: no server answers w.test
    ("other-first", "other", "other.test", "", ("other", "other.test")),
    ("taken-on-both", "main+other", "other.test", "", None),  # other.test is an earlier server's on both sockets
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "conflicting-names")
    ports = dict(zip(("main", "other"), free_ports(2)))
    body, leaves = "", {}
    for label, sockets, written, options, _probe in SERVERS:
        names = [n for w in written.lower().split() for n in ((w[1:], "*" + w) if w.startswith(".") else (w,))]
        leaves[label] = CA.leaf(names[0], names=names)  # valid for its names: only where it is served can differ
        listens = "".join("        listen 127.0.0.1:%d ssl%s;\n" % (ports[s], options) for s in sockets.split("+"))
        body += ("    server {\n%s        server_name %s;\n        ssl_certificate %s;\n"
                 "        ssl_certificate_key %s;\n        return 200;\n    }\n" % (
                     listens, written, pki.write(base / ("%s.crt" % label), CA.chain_pem(leaves[label])),
                     pki.write(base / ("%s.key" % label), leaves[label].key_pem(), 0o600)))
    with NginxLB(base / "nginx", tuple(ports.values()), body) as nginx:
        yield {"nginx": nginx, "ports": ports, "leaves": leaves}


def test_nginx_warns_of_the_conflicts_the_probes_follow(world):
    log = (world["nginx"].dir / "error.log").read_text()
    for written in ("dup.test", ".e.test", ".w.test", "w.test", "other.test"):  # nginx lowercases DUP.test
        assert 'conflicting server name "%s"' % written in log, log


def test_each_server_is_probed_where_nginx_answers_with_its_certificate(world):
    result = run_module("backend_cert_info", {"discover": [{"type": "nginx", "config": str(world["nginx"].conf)}],
                                              "include_pem": False, "timeout": 15})
    sites = {s["cert_file"].rsplit("/", 1)[-1][:-4]: s for s in result["sites"]}
    assert sorted(sites) == sorted(label for label, *_rest in SERVERS)
    ports, leaves = world["ports"], world["leaves"]
    # the reference for the servers not probed: nginx gives their names (or one their wildcard matches) another
    # server's certificate, and without a name the default server's
    for label, name in (("dup-case", "dup.test"), ("dot-after-exact", "x.e.test"), ("dot-after-wild", "w.test"),
                        ("after-refused-dot", "w.test"), ("taken-on-both", "other.test")):
        for port in ports.values():
            assert openssl_leaf(port, name) != leaves[label].fingerprint, (label, port)
    assert openssl_leaf(ports["main"], "w.test") == leaves["dup-default"].fingerprint  # no server keeps w.test
    for label, _sockets, _written, _options, probe in SERVERS:
        site = sites[label]
        if probe is None:
            assert site["endpoint"] is None, site
            assert site["error"]["code"] == "NO_PROBE_NAME", site
            assert "conflicting server name" in site["error"]["message"], site
            continue
        port, name = ports[probe[0]], probe[1]
        assert site["endpoint"] == {"host": "127.0.0.1", "port": port, "server_name": name}, (label, site)
        assert openssl_leaf(port, name) == leaves[label].fingerprint, label  # the reference
        assert site["served_matches_disk"] is True and site["error"] is None, site


def test_diagnose_plans_nothing_for_the_servers_it_reaches(world, tmp_path):
    sites = diagnose_sites(tmp_path, CA.root.pem,
                           cert_remediation_discover=[{"type": "nginx", "config": str(world["nginx"].conf)}])
    labels = {leaf.fingerprint: label for label, leaf in world["leaves"].items()}
    by_file = {labels[s["before"]["disk"]["fingerprint"]]: s for s in sites.values()}  # the leaf on disk says whose
    assert sorted(by_file) == sorted(label for label, *_rest in SERVERS)
    unreached = sorted(label for label, *_rest, probe in SERVERS if probe is None)
    assert sorted(label for label, site in by_file.items() if site["action"] != "none") == unreached, sites
    # a person's: a reload could change nothing that a probe could see (it was `reload`)
    assert {(by_file[label]["action"], by_file[label]["reasons"][0]) for label in unreached} == {
        ("manual", "NO_PROBE_NAME")}


def test_names_no_client_sends_and_ssl_on_where_the_default_is_plain(tmp_path_factory):
    """From a review against real nginx: a server_name with a trailing dot or a port is kept as written, but nginx
    strips both from the name a client sends, so it reaches nothing (the probe sent `t.test.` and got t.test's
    server); `ssl on` makes a socket TLS only where its server is the socket's default (a probe went to a plain
    socket, where its name was kept). The reference: `openssl s_client` against the running nginx."""
    base = lbjudge.workdir(tmp_path_factory, "names-no-client-sends")
    tls, plain = free_ports(2)
    leaves = {}
    body = "    server {\n        listen 127.0.0.1:%d;\n        server_name p.test;\n        return 200;\n    }\n" % (
        plain)  # a plain server, the default of its socket
    for label, listens, written, extra in (
            ("first", [tls], "first.test", ""), ("dot", [tls], "t.test.", ""), ("exact", [tls], "t.test", ""),
            ("port", [tls], "c.test:443", ""), ("q", [tls], "q.test", ""),
            ("ssl-on", [tls, plain], "q.test", "        ssl on;\n")):
        leaves[label] = CA.leaf(written.partition(":")[0].rstrip("."))
        body += ("    server {\n%s        server_name %s;\n%s        ssl_certificate %s;\n"
                 "        ssl_certificate_key %s;\n        return 200;\n    }\n" % (
                     "".join("        listen 127.0.0.1:%d%s;\n" % (port, " ssl" if port == tls else "")
                             for port in listens), written, extra,
                     pki.write(base / ("%s.crt" % label), CA.chain_pem(leaves[label])),
                     pki.write(base / ("%s.key" % label), leaves[label].key_pem(), 0o600)))
    with NginxLB(base / "nginx", (tls, plain), body) as nginx:
        result = run_module("backend_cert_info", {"discover": [{"type": "nginx", "config": str(nginx.conf)}],
                                                  "include_pem": False, "timeout": 15})
        sites = {s["cert_file"].rsplit("/", 1)[-1][:-4]: s for s in result["sites"]}
        for label, sni in (("dot", "t.test."), ("port", "c.test:443"), ("ssl-on", "q.test")):
            assert openssl_leaf(tls, sni) != leaves[label].fingerprint, label  # the reference: another's
            assert sites[label]["endpoint"] is None, sites[label]
            assert sites[label]["error"]["code"] == "NO_PROBE_NAME", sites[label]
        assert "no client's name is compared with t.test." in sites["dot"]["error"]["message"]
        assert "127.0.0.1:%d" % tls in sites["ssl-on"]["error"]["message"]  # its TLS socket; the other is plain
        for label, sni in (("first", "first.test"), ("exact", "t.test"), ("q", "q.test")):
            assert sites[label]["endpoint"] == {"host": "127.0.0.1", "port": tls, "server_name": sni}, sites[label]
            assert openssl_leaf(tls, sni) == leaves[label].fingerprint, label
            assert sites[label]["served_matches_disk"] is True, sites[label]


# HAProxy answers a name of a bind with the first certificate of each key type it loads with that name (a `crt`
# directory's files in name order, crt-list lines in order): label -> (its names, key type, the SNI the probe must
# send, or None for a certificate not probed (NO_PROBE_NAME))
HAPROXY_DIR = (
    ("1-first", ["a.test", "one.test"], "ec", "a.test"),
    ("2-second", ["a.test", "two.test"], "ec", "two.test"),  # a.test is 1-first's
    ("3-wild", ["*.w.test"], "ec", "certops-probe.w.test"),
    ("4-wild-taken", ["*.w.test", "four.test"], "ec", "four.test"),
    ("5-taken", ["a.test"], "ec", None),
    ("6-rsa", ["a.test"], "rsa", "a.test"),  # the first RSA certificate of a.test: a client asking for RSA gets it
    ("7-wild-taken", ["*.w.test"], "ec", None),
)
HAPROXY_LIST = (  # crt-list lines: the filters are the names
    ("c1", ["x.test"], "ec", "x.test"),
    ("c2", ["x.test", "y.test"], "ec", "y.test"),
    ("c3", ["X.test"], "ec", None),  # HAProxy compares names in lowercase
)


@pytest.fixture(scope="module")
def haproxy_world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "conflicting-haproxy")
    (base / "dir").mkdir()
    leaves, files, crt_list = {}, {}, ""
    for label, names, kind, _probe in HAPROXY_DIR + HAPROXY_LIST:
        leaves[label] = CA.leaf(names[0].lstrip("*."), names=[n.lower() for n in names], key=pki.new_key(kind))
        folder = base / "dir" if (label, names, kind, _probe) in HAPROXY_DIR else base
        files[label] = pki.write(folder / ("%s.pem" % label), CA.chain_pem(leaves[label]) + leaves[label].key_pem(),
                                 0o600)
        if folder == base:
            crt_list += "%s %s\n" % (files[label], " ".join(names))
    (base / "list.txt").write_text(crt_list)
    ports = dict(zip(("dir", "list"), free_ports(2)))
    lb = HAProxyLB(base / "haproxy", lbjudge.haproxy_head() + (
        "frontend dir\n    bind 127.0.0.1:%d ssl crt %s/\n    http-request return status 200\n"
        "frontend list\n    bind 127.0.0.1:%d ssl crt-list %s\n    http-request return status 200\n" % (
            ports["dir"], base / "dir", ports["list"], base / "list.txt")))
    with lb:
        yield {"haproxy": lb, "ports": ports, "leaves": leaves, "files": files}


def test_haproxy_certificates_are_probed_with_a_name_haproxy_answers_with_them(haproxy_world):
    world = haproxy_world
    result = run_module("backend_cert_info", {"discover": [{"type": "haproxy", "config": str(world["haproxy"].conf)}],
                                              "include_pem": False, "timeout": 15})
    sites = {s["cert_file"].rsplit("/", 1)[-1][:-4]: s for s in result["sites"]}
    assert sorted(sites) == sorted(label for label, *_rest in HAPROXY_DIR + HAPROXY_LIST)
    leaves = world["leaves"]
    for group, port in ((HAPROXY_DIR, world["ports"]["dir"]), (HAPROXY_LIST, world["ports"]["list"])):
        for label, names, _kind, probe in group:
            site = sites[label]
            if probe is None:
                assert site["endpoint"] is None and site["error"]["code"] == "NO_PROBE_NAME", site
                for name in names:  # the reference: HAProxy answers each of its names with another certificate
                    sni = name.replace("*", "x").lower()
                    assert openssl_leaf(port, sni) != leaves[label].fingerprint, (label, sni)
                continue
            assert site["endpoint"]["port"] == port and site["endpoint"]["server_name"] == probe, (label, site)
            assert site["served_matches_disk"] is True and site["error"] is None, site
            if label != "6-rsa":  # the reference (a client that takes any key type gets the ECDSA certificate)
                assert openssl_leaf(port, probe) == leaves[label].fingerprint, label
    assert sites["6-rsa"]["endpoint"]["key_type"] == "RSA", sites["6-rsa"]


def test_diagnose_plans_nothing_for_the_certificates_haproxy_serves(haproxy_world, tmp_path):
    sites = diagnose_sites(tmp_path, CA.root.pem, cert_remediation_discover=[
        {"type": "haproxy", "config": str(haproxy_world["haproxy"].conf)}])
    labels = {leaf.fingerprint: label for label, leaf in haproxy_world["leaves"].items()}
    by_file = {labels[s["before"]["disk"]["fingerprint"]]: s for s in sites.values()}
    unreached = sorted(label for label, *_rest, probe in HAPROXY_DIR + HAPROXY_LIST if probe is None)
    assert sorted(label for label, site in by_file.items() if site["action"] != "none") == unreached, sites
    assert {(by_file[label]["action"], by_file[label]["reasons"][0]) for label in unreached} == {
        ("manual", "NO_PROBE_NAME")}
