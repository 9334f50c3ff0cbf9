"""backend_cert_info's site discovery read as REAL nginx 1.22, Apache 2.4 and HAProxy 2.6 read their configurations:
each site found must name the certificate file its server really serves where the collection probes it, and that
probe (the site's endpoint: its address over TLS and a name that reaches it) must get that certificate. Found by a
differential fuzz of discovery against the real servers (2026-12-06), each a site missed, a wrong file named, or
a probe that reached another site:

- nginx: `ssl on` at the http level (deprecated, still applied by 1.22); a server whose first `listen` is plain
  (probed at its TLS one); an `include conf.d/*.conf` (from `nginx -T`'s dump) that does not reach conf.d/sub/ (a
  wildcard never crosses a '/', as glob(3)); `server_name .a.test` (a.test); a server whose only name is a wildcard
  (probed with a name it matches, not the default server's).
- Apache: `<IfDefine>` sections (skipped when the files `Define` or `UnDefine` their parameter so that the test
  fails; a parameter they do not name may come from httpd's `-D` and is read); an `Include` of a directory (read
  recursively); `ServerName https://name:port`; a main server with SSLEngine on for a
  `Listen` no VirtualHost covers.
- nginx and Apache: a server listening on every address, beside one that listens on 127.0.0.1 itself on the same
  port (which takes 127.0.0.1's connections), is probed at 127.0.0.2, or where Apache binds its Listen (127.0.0.3);
  an nginx socket whose default server has `ssl on` is TLS for its other servers too; a trailing wildcard name
  (`www.a.*`) is probed with a name it matches; an Apache main server with SSLEngine on answers every address of a
  wildcard Listen that no VirtualHost names.
- HAProxy: `.if` blocks whose condition is decided in the file (`0`, `streq(a,b)`): a `crt-base` and a `bind`
  HAProxy skips are not read; a `crt` file that holds its key (its `.key` beside it is not read); a crt-list line
  whose only filter is a wildcard.
"""

from __future__ import annotations

import contextlib
import pathlib

import pytest

from testlib import lbjudge, pki
from testlib.ansible_run import run_module
from testlib.servers import ApacheLB, HAProxyLB, NginxLB, free_ports

CA = pki.CA("Discovery Reading")
# certificate name -> the names its leaf holds
LEAVES = {"ngx-sslon": ["ngx-sslon.test"], "ngx-plainfirst": ["ngx-plainfirst.test"], "ngx-c": ["ngx-c.test"],
          "ngx-b": ["ngx-b.test"], "ngx-dot": ["ngx-dot.test", "*.ngx-dot.test"], "ngx-def": ["ngx-def.test"],
          "ngx-wild": ["*.ngx-wild.test"], "ap-main": ["ap-main.test"], "ap-def": ["ap-def.test"],
          "ap-skip": ["ap-skip.test"], "ap-on": ["ap-on.test"], "ap-inc": ["ap-inc.test"],
          "ap-first": ["ap-first.test"], "ap-scheme": ["ap-scheme.test"], "ha-side": ["ha-side.test"],
          "ha-def": ["ha-def.test"], "ha-wild": ["*.ha-wild.test"], "ngx-specific": ["ngx-specific.test"],
          "ngx-any": ["ngx-any.test"], "ap-specific": ["ap-specific.test"], "ap-any": ["ap-any.test"],
          "ha-cond": ["ha-cond.test"], "ha-skip": ["ha-skip.test"], "ngx-dflt": ["ngx-dflt.test"],
          "ngx-viadefault": ["ngx-viadefault.test"], "ngx-tail": ["www.ngx-tail.test"], "ap-q1": ["ap-q1.test"],
          "ap-q3": ["ap-q3.test"], "ap-vh2": ["ap-vh2.test"]}
# the sites discovery must find, by their certificate file's name (each served where its site is probed)
EXPECTED = sorted(set(LEAVES) - {"ap-skip", "ha-skip"})


def _server(listen, name, cert, extra=""):
    return ("    server {\n        listen %s;\n        server_name %s;\n        ssl_certificate %s;\n"
            "        ssl_certificate_key %s;\n%s        return 200;\n    }\n" % (listen, name, cert[0], cert[1], extra))


def _vhost(port, name, cert, extra=""):
    return ("<VirtualHost 127.0.0.1:%d>\n    ServerName %s\n    SSLEngine on\n    SSLCertificateFile %s\n"
            "    SSLCertificateKeyFile %s\n%s</VirtualHost>\n" % (port, name, cert[0], cert[1], extra))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "discovery-reading")
    files, leaves = {}, {}
    for name, names in LEAVES.items():
        leaves[name] = CA.leaf(names[0], names=names)
        files[name] = (pki.write(base / ("%s.crt" % name), CA.chain_pem(leaves[name])),
                       pki.write(base / ("%s.key" % name), leaves[name].key_pem(), 0o600),
                       pki.write(base / ("%s.pem" % name), CA.chain_pem(leaves[name]) + leaves[name].key_pem(), 0o600))
    kinds = ("sslon", "plain", "tls", "c", "b", "dot", "wild", "main", "def", "on", "inc", "scheme", "side", "list",
             "ngx_any", "ap_any", "cond", "skipped", "dflt", "q", "wild_main")
    p = dict(zip(kinds, free_ports(len(kinds))))
    # nginx A: `ssl on` in the http block, a server whose listen line has no `ssl`
    nginx_a = NginxLB(base / "nginx_a", p["sslon"], "    ssl on;\n" + _server(
        "127.0.0.1:%d" % p["sslon"], "ngx-sslon.test", files["ngx-sslon"]))
    # nginx B: the http block's certificate (c), an include of conf.d/*.conf, and a per-server snippet under conf.d/sub
    conf_d = base / "nginx_b" / "conf.d"
    (conf_d / "sub").mkdir(parents=True)
    (conf_d / "sub" / "b.snippet.conf").write_text("ssl_certificate %s;\nssl_certificate_key %s;\n"
                                                   % files["ngx-b"][:2])
    body_b = ("    ssl_certificate %s;\n    ssl_certificate_key %s;\n    include %s/*.conf;\n" % (
        files["ngx-c"][0], files["ngx-c"][1], conf_d)
        + "    server {\n        listen 127.0.0.1:%d;\n        listen 127.0.0.1:%d ssl;\n"
          "        server_name ngx-plainfirst.test;\n        ssl_certificate %s;\n        ssl_certificate_key %s;\n"
          "        return 200;\n    }\n" % (p["plain"], p["tls"], *files["ngx-plainfirst"][:2])
        + "    server { listen 127.0.0.1:%d ssl; server_name ngx-c.test; return 200; }\n" % p["c"]
        + "    server { listen 127.0.0.1:%d ssl; server_name ngx-b.test; include %s/sub/*.conf; return 200; }\n" % (
            p["b"], conf_d)
        + _server("127.0.0.1:%d ssl" % p["dot"], ".ngx-dot.test", files["ngx-dot"])
        + _server("127.0.0.1:%d ssl default_server" % p["wild"], "ngx-def.test", files["ngx-def"])
        + _server("127.0.0.1:%d ssl" % p["wild"], "*.ngx-wild.test", files["ngx-wild"])
        # 127.0.0.1 is one server's own address; the other, on every address, is not reached there
        + _server("127.0.0.1:%d ssl" % p["ngx_any"], "ngx-specific.test", files["ngx-specific"])
        + _server("%d ssl" % p["ngx_any"], "ngx-any.test", files["ngx-any"])
        # a socket's default server with `ssl on` makes the socket TLS, for a server with no ssl of its own too
        + _server("127.0.0.1:%d" % p["dflt"], "ngx-dflt.test", files["ngx-dflt"], "        ssl on;\n")
        + _server("127.0.0.1:%d" % p["dflt"], "ngx-viadefault.test", files["ngx-viadefault"])
        # a trailing wildcard name: probed as www.ngx-tail.certops-probe
        + _server("127.0.0.1:%d ssl" % p["wild"], "www.ngx-tail.*", files["ngx-tail"]))
    nginx_b = NginxLB(base / "nginx_b", [p["plain"], p["tls"], p["c"], p["b"], p["dot"], p["wild"], p["ngx_any"],
                                         p["dflt"]], body_b)
    # Apache A: the main server over TLS, no VirtualHost
    # ... and on every address of a wildcard Listen but the one a VirtualHost names
    apache_a = ApacheLB(base / "apache_a", [p["main"]], "ServerName ap-main.test\nSSLEngine on\n"
                        "SSLCertificateFile %s\nSSLCertificateKeyFile %s\n" % files["ap-main"][:2]
                        + "Listen %d\n" % p["wild_main"]
                        + _vhost(p["wild_main"], "ap-vh2.test", files["ap-vh2"]).replace("127.0.0.1:", "127.0.0.2:"))
    included = base / "apache_b_sites"
    (included / "sub").mkdir(parents=True)
    (included / "sub" / "inc.conf").write_text(_vhost(p["inc"], "ap-inc.test", files["ap-inc"]))
    skip = "    SSLCertificateFile %s\n    SSLCertificateKeyFile %s\n" % files["ap-skip"][:2]
    body_b = ("Define CERTOPS_ON\nDefine CERTOPS_OFF\nUnDefine CERTOPS_OFF\n"
              + _vhost(p["def"], "ap-def.test", files["ap-def"], "<IfDefine CERTOPS_OFF>\n%s</IfDefine>\n" % skip)
              + _vhost(p["on"], "ap-on.test", files["ap-skip"],
                       "<IfDefine CERTOPS_ON>\n    SSLCertificateFile %s\n    SSLCertificateKeyFile %s\n</IfDefine>\n"
                       "<IfDefine !CERTOPS_ON>\n%s</IfDefine>\n" % (*files["ap-on"][:2], skip))
              + "Include %s/\n" % included
              + _vhost(p["scheme"], "ap-first.test", files["ap-first"])
              + _vhost(p["scheme"], "https://ap-scheme.test:%d" % p["scheme"], files["ap-scheme"])
              + "Listen %d\n" % p["ap_any"] + _vhost(p["ap_any"], "ap-specific.test", files["ap-specific"])
              + _vhost(p["ap_any"], "ap-any.test", files["ap-any"]).replace("127.0.0.1:", "*:")
              # Apache binds 127.0.0.1 and 127.0.0.3 only: the VirtualHost on * is reached at 127.0.0.3
              + "Listen 127.0.0.3:%d\n" % p["q"] + _vhost(p["q"], "ap-q1.test", files["ap-q1"])
              + _vhost(p["q"], "ap-q3.test", files["ap-q3"]).replace("127.0.0.1:", "*:"))
    apache_b = ApacheLB(base / "apache_b", [p["def"], p["on"], p["inc"], p["scheme"], p["q"]], body_b)
    # HAProxy: a.pem holds its key, and a stale a.pem.key another; a crt-list whose second line's filter is a wildcard
    other_key = CA.leaf("stale.test").key_pem()
    pki.write(base / "ha-side.pem.key", other_key, 0o600)
    crt_list = pki.write(base / "list.txt", "%s ha-def.test\n%s *.ha-wild.test\n" % (
        files["ha-def"][2], files["ha-wild"][2]))
    # conditional blocks: a crt-base and a bind line HAProxy skips (.if streq(a,b), .if 0), the .else it reads
    haproxy = HAProxyLB(base / "haproxy", lbjudge.haproxy_head(
        "    crt-base %s\n.if streq(a,b)\n    crt-base /nonexistent\n.endif" % base) + (
        "frontend fe_side\n    bind 127.0.0.1:%d ssl crt %s\n    http-request return status 200\n"
        "frontend fe_list\n    bind 127.0.0.1:%d ssl crt-list %s\n    http-request return status 200\n"
        "frontend fe_cond\n.if 0\n    bind 127.0.0.1:%d ssl crt ha-skip.pem\n.else\n"
        "    bind 127.0.0.1:%d ssl crt ha-cond.pem\n.endif\n    http-request return status 200\n" % (
            p["side"], files["ha-side"][2], p["list"], crt_list, p["skipped"], p["cond"])))
    servers = {"nginx_a": nginx_a, "nginx_b": nginx_b, "apache_a": apache_a, "apache_b": apache_b,
               "haproxy": haproxy}
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in servers.values():
            running.enter_context(server)
        yield {"servers": servers, "leaves": leaves, "files": files}


@pytest.fixture(scope="module")
def discovered(world):
    servers = world["servers"]
    discover = [{"type": name.split("_")[0], "config": str(server.conf)} for name, server in servers.items()]
    result = run_module("backend_cert_info", {"discover": discover, "include_pem": False, "timeout": 15})
    assert not result.get("failed"), result
    assert all(d["error"] is None for d in result["discovery"]), result["discovery"]
    return result


def _by_cert(result):
    """{certificate name: [sites naming its file]}."""
    sites = {}
    for site in result["sites"]:
        stem = pathlib.Path(site["cert_file"] or "none").stem
        sites.setdefault(stem, []).append(site)
    return sites


def test_every_site_is_found_with_the_file_its_server_serves(discovered):
    sites = _by_cert(discovered)
    assert sorted(sites) == EXPECTED, sorted(sites)
    # one site each; the main server's on each Listen it answers (one no VirtualHost names, one partly named)
    expected = {name: 2 if name == "ap-main" else 1 for name in EXPECTED}
    assert {name: len(found) for name, found in sites.items()} == expected, sites


def test_each_sites_probe_reaches_it(world, discovered):
    """The endpoint probed for each site gets the site's own leaf: over TLS, at an address and with a name that its
    server answers with that site."""
    by_key = {(e["host"], e["port"], e["server_name"]): e for e in discovered["endpoints"]}
    for name, site in ((name, site) for name, found in _by_cert(discovered).items() for site in found):
        endpoint = site["endpoint"]
        served = by_key[(endpoint["host"], endpoint["port"], endpoint["server_name"])]
        assert served["ok"] and served["chain"][0] == world["leaves"][name].fingerprint, (name, site, served)
        assert site["served_matches_disk"] is True and site["error"] is None, (name, site)


def test_what_each_site_names(world, discovered):
    sites = {name: found[0] for name, found in _by_cert(discovered).items()}
    assert sorted(s["endpoint"]["host"] for s in _by_cert(discovered)["ap-main"]) == ["127.0.0.1", "127.0.0.1"]
    assert sites["ap-vh2"]["endpoint"]["host"] == "127.0.0.2" and sites["ap-q3"]["endpoint"]["host"] == "127.0.0.3"
    assert sites["ngx-tail"]["endpoint"]["server_name"] == "www.ngx-tail.certops-probe"
    files = world["files"]
    assert sites["ngx-plainfirst"]["listen"][0].endswith(str(world["servers"]["nginx_b"].plain_ports[0]))
    assert sites["ngx-plainfirst"]["endpoint"]["port"] == world["servers"]["nginx_b"].plain_ports[1]
    assert sites["ngx-dot"]["endpoint"]["server_name"] == "ngx-dot.test"
    assert sites["ngx-wild"]["endpoint"]["server_name"] == "certops-probe.ngx-wild.test"
    assert sites["ha-wild"]["endpoint"]["server_name"] == "certops-probe.ha-wild.test"
    assert sites["ap-scheme"]["server_names"] == ["ap-scheme.test"]
    assert sites["ap-main"]["server_names"] == ["ap-main.test"]
    assert sites["ap-def"]["key_file"] == str(files["ap-def"][1])
    # a server on every address, beside one on 127.0.0.1 itself: probed where it answers
    for name in ("ngx-any", "ap-any"):
        assert sites[name]["endpoint"]["host"] == "127.0.0.2", sites[name]
    for name in ("ngx-specific", "ap-specific"):
        assert sites[name]["endpoint"]["host"] == "127.0.0.1", sites[name]
    # HAProxy uses the key inside the crt file; the stale .key beside it is not the site's
    assert sites["ha-side"]["key_file"] == str(files["ha-side"][2]) and sites["ha-side"]["key_matches_cert"] is True
