"""Two nginx servers of one socket with the same name: nginx keeps the first and ignores the later one's
("conflicting server name ... ignored", a warning at start). The later server was probed with that name, got the
first server's certificate, and the role planned a reload that could change nothing. A server is now probed with a
name nginx keeps for it on that socket, or without a name where it is the socket's default, and is otherwise not
probed (NO_PROBE_NAME). Held here to REAL nginx 1.22, with `openssl s_client -servername` as the reference, including
nginx's own quirks: `.a.test` is refused whole when either half conflicts, and a refused `.a.test` still keeps a
later server's `a.test` from being served at all. Then what reviews against the real servers found: names no client
sends, `ssl on` on a plain default's socket, an IPv6 wildcard behind a server on [::1] (nginx), and HAProxy, which
answers a name of a bind with the first certificate of each key type it loads with that name (28 certificates over
7 frontends).
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


def test_an_ipv6_wildcard_behind_a_server_on_ipv6_loopback(tmp_path_factory):
    """From a review against real nginx: a server on `[::1]:P` takes the connections a probe makes to ::1, so a
    server on `[::]:P` was probed at ::1 and got the first one's certificate (the role planned a reload). It is not
    probed now (NO_PROBE_NAME): IPv6 has no other loopback address, and no probe goes to another of the host's
    addresses. Every connection here is to ::1 or 127.0.0.1."""
    base = lbjudge.workdir(tmp_path_factory, "ipv6-wildcard")
    port, ready = free_ports(2)
    leaves, body = {}, "    server {\n        listen 127.0.0.1:%d;\n        return 200;\n    }\n" % ready
    for label, listen in (("loopback", "[::1]:%d" % port), ("wildcard", "[::]:%d" % port)):
        leaves[label] = CA.leaf("%s.test" % label)
        body += ("    server {\n        listen %s ssl;\n        server_name %s.test;\n        ssl_certificate %s;\n"
                 "        ssl_certificate_key %s;\n        return 200;\n    }\n" % (
                     listen, label, pki.write(base / ("%s.crt" % label), CA.chain_pem(leaves[label])),
                     pki.write(base / ("%s.key" % label), leaves[label].key_pem(), 0o600)))
    with NginxLB(base / "nginx", ready, body) as nginx:
        result = run_module("backend_cert_info", {"discover": [{"type": "nginx", "config": str(nginx.conf)}],
                                                  "include_pem": False, "timeout": 15})
        sites = {s["cert_file"].rsplit("/", 1)[-1][:-4]: s for s in result["sites"]}
        # the reference: at ::1, the wildcard server's name gets the loopback server's certificate
        assert openssl_leaf(port, "wildcard.test", host="[::1]") == leaves["loopback"].fingerprint
        assert sites["loopback"]["endpoint"] == {"host": "::1", "port": port, "server_name": "loopback.test"}
        assert sites["loopback"]["served_matches_disk"] is True, sites["loopback"]
        assert sites["wildcard"]["endpoint"] is None, sites["wildcard"]
        assert sites["wildcard"]["error"]["code"] == "NO_PROBE_NAME", sites["wildcard"]
        assert "[::1]" in sites["wildcard"]["error"]["message"]


# HAProxy answers a name of a bind with the first certificate of each key type (RSA, ECDSA, any other) it loads
# with that name: a `crt` directory's files in name order (not those whose name begins with a dot), crt-list lines
# in order, a bundle's .ecdsa before its .rsa; it knows a certificate by its crt-list filters, else by its DNS names
# and its CN. label -> (frontend, CN, DNS names, key type, the SNI the probe must send ("" for none), or None for a
# certificate not probed (NO_PROBE_NAME), and the key type it must ask for, if any)
HAPROXY = (
    ("1-first", "dir", "a.test", ["a.test", "one.test"], "ec", "a.test", "EC"),  # 6-rsa holds a.test too
    ("2-second", "dir", "a.test", ["a.test", "two.test"], "ec", "two.test", None),  # a.test is 1-first's
    ("3-wild", "dir", "*.w.test", ["*.w.test"], "ec", "certops-probe.w.test", None),
    ("4-wild-taken", "dir", "four.test", ["*.w.test", "four.test"], "ec", "four.test", None),
    ("5-taken", "dir", "a.test", ["a.test"], "ec", None, None),
    ("6-rsa", "dir", "a.test", ["a.test"], "rsa", "a.test", "RSA"),  # the first RSA one: an RSA client gets it
    ("7-wild-taken", "dir", "*.w.test", ["*.w.test"], "ec", None, None),
    ("c1", "list", "x.test", ["x.test"], "ec", "x.test", None),
    ("c2", "list", "x.test", ["x.test", "y.test"], "ec", "y.test", None),
    ("c3", "list", "x.test", ["X.test"], "ec", None, None),  # HAProxy compares names in lowercase
    ("c4", "list", "c4.test", ["!zzz.test"], "ec", None, None),  # any filter replaces its own names
    ("c5", "list", "*.e.test", ["*.e.test", "!b.e.test"], "ec", "certops-probe.e.test", None),
    ("c6", "list", "*.e.test", ["*.e.test"], "ec", "b.e.test", None),  # c5's line excludes b.e.test: c6 has it
    ("cn-a", "cn", "shared.test", ["one.cn.test"], "ec", "one.cn.test", None),  # HAProxy knows it by its CN too
    ("cn-b", "cn", "two.cn.test", ["shared.test"], "ec", "two.cn.test", None),  # shared.test is cn-a's (its CN)
    ("cn-c", "cn", "reach.cn.test", ["one.cn.test"], "ec", "reach.cn.test", None),
    ("t-d", "types", "d.test", ["d.test"], "rsa", "d.test", None),
    ("t-r", "types", "ab.test", ["ab.test"], "rsa", "ab.test", "RSA"),
    ("t-e", "types", "AB.TEST", ["AB.TEST"], "ec", "AB.TEST", "EC"),  # the same name, in capitals
    ("t-e1", "types", "x.test", ["x.test"], "ed25519", "x.test", None),  # the only one of x.test HAProxy sends
    ("t-e2", "types", "x.test", ["x.test"], "ed448", None, None),  # Ed25519 and Ed448 are one key type to HAProxy
    ("s-a", "strict", "10.9.9.9", [], "ec", None, None),  # no name a client sends, and strict-sni: no default
    ("s-n", "strict", "n.test", ["n.test"], "ec", "n.test", None),
    ("d-a", "default", "10.9.9.8", [], "ec", "", None),  # the same without strict-sni: the default, reached so
    ("d-n", "default", "n.test", ["n.test"], "ec", "n.test", None),
    ("bnd.pem.ecdsa", "bundle", "10.9.9.7", [], "ec", "", None),  # loaded before its .rsa: the default
    ("bnd.pem.rsa", "bundle", "10.9.9.7", [], "rsa", None, None),
    ("bn", "bundle", "bn.test", ["bn.test"], "ec", "bn.test", None),
)


@pytest.fixture(scope="module")
def haproxy_world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "conflicting-haproxy")
    (base / "dir").mkdir()
    leaves, crts, crt_list = {}, {}, ""
    for label, frontend, cn, names, kind, _probe, _key_type in HAPROXY:
        positive = [n for n in names if not n.startswith("!")]
        leaves[label] = CA.leaf(cn, names=positive or ([] if cn[0].isdigit() else [cn]),
                                ips=[cn] if cn[0].isdigit() else None, key=pki.new_key(kind))
        path = (base / "dir" if frontend == "dir" else base) / (label if "." in label else "%s.pem" % label)
        pki.write(path, CA.chain_pem(leaves[label]) + leaves[label].key_pem(), 0o600)
        if frontend == "list":
            crt_list += "%s%s %s\n" % (path, " [alpn h2]" if label == "c5" else "", " ".join(names))
        elif frontend not in ("dir", "bundle") or label == "bn":
            crts.setdefault(frontend, []).append(str(path))
    crts["bundle"] = [str(base / "bnd.pem")] + crts["bundle"]  # bnd.pem is not there: HAProxy loads the bundle
    stale = CA.leaf("a.test")  # a backup beside the directory's certificates: HAProxy skips a name with a dot first
    pki.write(base / "dir" / ".0old.pem", CA.chain_pem(stale) + stale.key_pem(), 0o600)
    (base / "list.txt").write_text(crt_list)
    frontends = ("dir", "list", "cn", "types", "strict", "default", "bundle")
    ports = dict(zip(frontends, free_ports(len(frontends))))
    crts.update({"dir": ["%s/" % (base / "dir")]})
    text = "".join("frontend %s\n    bind 127.0.0.1:%d ssl%s %s\n    http-request return status 200\n" % (
        frontend, ports[frontend], " strict-sni" if frontend == "strict" else "",
        "crt-list %s" % (base / "list.txt") if frontend == "list" else " ".join("crt %s" % c for c in crts[frontend]))
        for frontend in frontends)
    lb = HAProxyLB(base / "haproxy", lbjudge.haproxy_head() + text)
    with lb:
        yield {"haproxy": lb, "ports": ports, "leaves": leaves}


def test_haproxy_certificates_are_probed_with_a_name_haproxy_answers_with_them(haproxy_world):
    world = haproxy_world
    result = run_module("backend_cert_info", {"discover": [{"type": "haproxy", "config": str(world["haproxy"].conf)}],
                                              "include_pem": False, "timeout": 15})
    sites = {s["cert_file"].rsplit("/", 1)[-1].replace(".pem", "") if not s["cert_file"].endswith(("rsa", "ecdsa"))
             else s["cert_file"].rsplit("/", 1)[-1]: s for s in result["sites"]}
    assert sorted(sites) == sorted(label for label, *_rest in HAPROXY)  # not .0old.pem
    leaves = world["leaves"]
    for label, frontend, _cn, names, _kind, probe, key_type in HAPROXY:
        site, port = sites[label], world["ports"][frontend]
        if probe is None:
            assert site["endpoint"] is None and site["error"]["code"] == "NO_PROBE_NAME", site
            for name in [n for n in names if not n.startswith("!")] or [None]:  # the reference: never this one
                if frontend != "strict" or name:
                    sni = name.replace("*", "x").lower() if name else None
                    assert openssl_leaf(port, sni) != leaves[label].fingerprint, (label, sni)
            continue
        expected = {"host": "127.0.0.1", "port": port, "server_name": probe or None}
        if key_type:
            expected["key_type"] = key_type
        assert site["endpoint"] == expected, (label, site)
        assert site["served_matches_disk"] is True and site["error"] is None, site
        if key_type in (None, "EC"):  # the reference (a client that takes any key type favours ECDSA)
            assert openssl_leaf(port, probe or None) == leaves[label].fingerprint, label


def test_diagnose_plans_nothing_for_the_certificates_haproxy_serves(haproxy_world, tmp_path):
    sites = diagnose_sites(tmp_path, CA.root.pem, cert_remediation_discover=[
        {"type": "haproxy", "config": str(haproxy_world["haproxy"].conf)}])
    labels = {leaf.fingerprint: label for label, leaf in haproxy_world["leaves"].items()}
    by_file = {labels[s["before"]["disk"]["fingerprint"]]: s for s in sites.values()}
    unreached = sorted(label for label, *_rest, probe, _key_type in HAPROXY if probe is None)
    assert sorted(label for label, site in by_file.items() if site["action"] != "none") == unreached, sites
    assert {(by_file[label]["action"], by_file[label]["reasons"][0]) for label in unreached} == {
        ("manual", "NO_PROBE_NAME")}
