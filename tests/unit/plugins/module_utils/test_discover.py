"""Config parsers: nginx (dump and file tree), Apache (Include trees, VirtualHost), HAProxy (crt, crt-list)."""

from __future__ import annotations

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _confread, _discover, _lbview_nginx
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

NGINX_MAIN = """
user www-data;  # comment; with a semicolon
events { worker_connections 64; }
http {
    ssl_certificate     /etc/ssl/default.crt;   # inherited by servers that set none
    ssl_certificate_key /etc/ssl/default.key;
    include conf.d/*.conf;
    server { listen 80; server_name plain.test; }
}
"""
NGINX_SITE = """
server {
    listen 127.0.0.1:8443 ssl http2;
    listen [::]:8443 ssl;
    server_name "shop.test" www.shop.test ~^regex$;
    ssl_certificate certs/shop.crt;
    ssl_certificate_key /etc/ssl/shop.key;
    location / { return 200 "a { b } ; c"; }
}
server {
    listen 9443 ssl;
    server_name _ *.wild.test inherit.test;
}
"""


def _nginx_files():
    return {"/etc/nginx/nginx.conf": NGINX_MAIN, "/etc/nginx/conf.d/site.conf": NGINX_SITE}


def test_nginx_dump_split_roundtrip():
    dump = "nginx: the configuration file ok\n" + "".join(
        "# configuration file %s:\n%s" % (path, text) for path, text in _nginx_files().items())
    assert _confread.split_nginx_dump(dump) == _nginx_files()


@pytest.mark.parametrize("via", ["dump", "filesystem"])
def test_nginx_sites(tmp_path, via):
    if via == "dump":
        source, main = _confread.FileSource(_nginx_files()), "/etc/nginx/nginx.conf"
    else:
        (tmp_path / "conf.d").mkdir()
        (tmp_path / "nginx.conf").write_text(NGINX_MAIN)
        (tmp_path / "conf.d" / "site.conf").write_text(NGINX_SITE)
        source, main = _confread.FileSource(), str(tmp_path / "nginx.conf")
    prefix = main.rsplit("/", 1)[0]
    shop, inherit = _discover.nginx_sites(main, source)
    assert shop == {
        "name": "nginx-shop.test", "server_type": "nginx", "config_file": main,
        "server_names": ["shop.test", "www.shop.test", "~^regex$"], "listen": ["127.0.0.1:8443", "[::]:8443"],
        "cert_file": prefix + "/certs/shop.crt", "key_file": "/etc/ssl/shop.key", "chain_file": None,
        "endpoint": {"host": "127.0.0.1", "port": 8443, "server_name": "shop.test"}, "error": None}
    assert inherit["name"] == "nginx-inherit.test"
    assert inherit["cert_file"] == "/etc/ssl/default.crt" and inherit["key_file"] == "/etc/ssl/default.key"
    assert inherit["endpoint"] == {"host": "127.0.0.1", "port": 9443, "server_name": "inherit.test"}


@pytest.mark.parametrize("files,needle", [
    ({"/n/nginx.conf": "include /n/nginx.conf;"}, "include cycle"),
    ({"/n/nginx.conf": "include /n/a.conf;", "/n/a.conf": "http { include /n/*.conf; }"}, "include cycle"),
    # a cycle through globs: d*/x.conf includes e*/y.conf which includes d*/x.conf
    ({"/n/nginx.conf": "include /n/d*/x.conf;", **{"/n/d%d/x.conf" % i: "include /n/e*/y.conf;" for i in range(3)},
      **{"/n/e%d/y.conf" % i: "include /n/d*/x.conf;" for i in range(3)}}, "include cycle"),
    ({"/n/nginx.conf": "http {" * 5000}, "nested deeper"),
    # nested locations, 60 to a file (within the bound), each file including the next inside them: 30 files are
    # 1,800 blocks deep, deeper than the walks over the tree can recurse (the lb view's walk over locations raised
    # RecursionError) -- the bound counts across includes
    ({"/n/nginx.conf": "http { server { listen 443 ssl; server_name a.test; include /n/0.conf; } }",
      **{"/n/%d.conf" % i: "location / {" * 60 + " include /n/%d.conf; " % (i + 1) + "}" * 60 for i in range(30)}},
     "nested deeper"),
])
@pytest.mark.parametrize("parser", ["discovery", "lb view"])
def test_nginx_include_loops_and_nesting_are_errors(files, needle, parser):
    # one nginx parser (_confread.nginx_tree) serves both: the sites of backend_cert_info's discovery and the
    # backends of lb_backend_info
    read = _discover.nginx_sites if parser == "discovery" else _lbview_nginx.nginx_backends
    with pytest.raises(CertError) as info:
        read("/n/nginx.conf", _confread.FileSource(files))
    assert info.value.code == "INVALID_CONFIG" and needle in info.value.message


def test_include_fan_out_is_bounded():
    # a DAG, no cycle: 10 levels of 4 files each including all 4 of the next level is 4^10 reads
    files = {"/n/nginx.conf": "include /n/l0/*.conf;"}
    for level in range(10):
        for i in range(4):
            files["/n/l%d/%d.conf" % (level, i)] = "include /n/l%d/*.conf;" % (level + 1)
    with pytest.raises(CertError) as info:
        _discover.nginx_sites("/n/nginx.conf", _confread.FileSource(files))
    assert "more than %d configuration files" % _confread.MAX_INCLUDED_FILES in info.value.message


def test_apache_include_cycle_is_an_error(tmp_path):
    (tmp_path / "a.conf").write_text("Include b.conf\n")
    (tmp_path / "b.conf").write_text("Include a.conf\n")
    with pytest.raises(CertError) as info:
        _discover.apache_sites(str(tmp_path / "a.conf"), _confread.FileSource())
    assert info.value.code == "INVALID_CONFIG" and "cycle" in info.value.message


NGINX_DYNAMIC = """
http {
    server { listen 443 ssl; server_name a.test;
             ssl_certificate /etc/ssl/$ssl_server_name.crt; ssl_certificate_key /etc/ssl/$ssl_server_name.key; }
    server { listen 444 ssl; server_name b.test;
             ssl_certificate /etc/ssl/b.crt; ssl_certificate_key "/etc/ssl/${host}.key"; }
    server { listen 445 ssl; server_name c.test; ssl_certificate /etc/ssl/c.pem; }
    server { listen 446 ssl; server_name d.test; ssl_certificate /etc/ssl/$ssl_server_name.pem; }
}
"""


def test_nginx_variable_paths_are_dynamic_not_files():
    a, b, c, d = _discover.nginx_sites("/n/nginx.conf", _confread.FileSource({"/n/nginx.conf": NGINX_DYNAMIC}))
    assert (a["cert_file"], a["key_file"]) == (None, None)
    assert a["error"]["code"] == "DYNAMIC_PATH"
    assert "/etc/ssl/$ssl_server_name.crt" in a["error"]["message"] and "not checked" in a["error"]["message"]
    assert a["endpoint"] == {"host": "127.0.0.1", "port": 443, "server_name": "a.test"}  # still probed
    assert (b["cert_file"], b["key_file"], b["error"]["code"]) == ("/etc/ssl/b.crt", None, "DYNAMIC_PATH")
    assert "${host}" in b["error"]["message"]
    assert (c["cert_file"], c["key_file"], c["error"]) == ("/etc/ssl/c.pem", "/etc/ssl/c.pem", None)
    # no ssl_certificate_key: the key is in the (dynamic) certificate file; found by the fuzz as a KeyError
    assert (d["cert_file"], d["key_file"], d["error"]["code"]) == (None, None, "DYNAMIC_PATH")


@pytest.mark.parametrize("before", ["}", "listen 1 }", "http { server { listen 1 } }"])
def test_nginx_stray_closing_brace_does_not_hide_the_rest_of_the_file(before):
    # nginx -t refuses such a file; discovery reads on, as the load balancer's view does (one parser), where it used
    # to stop at a stray brace and miss every site after it. Words left without their ';' end with their block: they
    # do not run into the next directive (`listen 1 } server {` is no block named listen)
    text = (before + "\nhttp { server { listen 127.0.0.1:8443 ssl; server_name after.test;\n"
            "  ssl_certificate /etc/ssl/after.crt; ssl_certificate_key /etc/ssl/after.key; } }\n")
    (site,) = _discover.nginx_sites("/n/nginx.conf", _confread.FileSource({"/n/nginx.conf": text}))
    assert site["name"] == "nginx-after.test" and site["cert_file"] == "/etc/ssl/after.crt"
    assert site["endpoint"] == {"host": "127.0.0.1", "port": 8443, "server_name": "after.test"}


def test_apache_undefined_variable_is_dynamic(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_DEFINED_ANYWHERE", raising=False)
    (tmp_path / "apache2.conf").write_text(
        "Define CERTS /etc/ssl\n"
        "<VirtualHost *:443>\n ServerName a.test\n SSLEngine on\n"
        " SSLCertificateFile ${NOT_DEFINED_ANYWHERE}/a.crt\n SSLCertificateKeyFile ${CERTS}/a.key\n</VirtualHost>\n"
        "<VirtualHost *:444>\n\tServerName\tb.test\n\tSSLEngine\ton\n"
        "\tSSLCertificateFile ${CERTS}/b.crt\n\tSSLCertificateChainFile ${NOT_DEFINED_ANYWHERE}/chain.crt\n"
        "</VirtualHost>\n")
    a, b = _discover.apache_sites(str(tmp_path / "apache2.conf"), _confread.FileSource())
    assert (a["cert_file"], a["key_file"], a["error"]["code"]) == (None, None, "DYNAMIC_PATH")
    assert "${NOT_DEFINED_ANYWHERE}/a.crt" in a["error"]["message"]
    # a Defined variable is resolved; tabs separate directives as well as spaces
    assert (b["cert_file"], b["key_file"], b["chain_file"]) == ("/etc/ssl/b.crt", "/etc/ssl/b.crt", None)
    assert b["error"]["code"] == "DYNAMIC_PATH" and "chain.crt" in b["error"]["message"]
    assert b["server_names"] == ["b.test"]


def test_haproxy_variables(tmp_path):
    (tmp_path / "site.pem").write_text("x")
    (tmp_path / "$LITERAL.pem").write_text("x")
    (tmp_path / "haproxy.cfg").write_text(
        "global\n    setenv CERTS %s\n" % tmp_path
        + "frontend f\n"
        '    bind :8443 ssl crt "${CERTS}/site.pem"   # setenv: resolved\n'
        '    bind :8444 ssl crt "${FROM_HAPROXY_ENV}/site.pem"\n'
        "    bind :8445 ssl crt '$CERTS/site.pem' crt $LITERAL.pem\n")
    resolved, dynamic, single, literal = _discover.haproxy_sites(str(tmp_path / "haproxy.cfg"), _confread.FileSource())
    assert (resolved["cert_file"], resolved["error"]) == (str(tmp_path / "site.pem"), None)
    assert (dynamic["cert_file"], dynamic["key_file"], dynamic["error"]["code"]) == (None, None, "DYNAMIC_PATH")
    assert dynamic["endpoint"]["port"] == 8444
    # HAProxy expands variables only inside double quotes: elsewhere '$' is part of the file name (relative, without
    # crt-base: against HAProxy's working directory, / when no HAProxy runs this configuration)
    assert single["cert_file"] == "/$CERTS/site.pem" and single["error"] is None
    assert literal["cert_file"] == "/$LITERAL.pem" and literal["error"] is None


def test_haproxy_crt_list_line_without_file(tmp_path):
    (tmp_path / "list.txt").write_text("[alpn h2]\n   \nok.pem a.test\n")
    (tmp_path / "haproxy.cfg").write_text("frontend f\n bind :8447 ssl crt-list %s/list.txt\n" % tmp_path)
    (site,) = _discover.haproxy_sites(str(tmp_path / "haproxy.cfg"), _confread.FileSource())
    # a relative entry without crt-base: HAProxy's working directory, / when no HAProxy runs this configuration
    assert site["cert_file"] == "/ok.pem" and site["server_names"] == ["a.test"]
    (tmp_path / "haproxy.cfg").write_text("global\n crt-base %s\nfrontend f\n bind :8447 ssl crt-list %s/list.txt\n"
                                          % (tmp_path, tmp_path))
    (site,) = _discover.haproxy_sites(str(tmp_path / "haproxy.cfg"), _confread.FileSource())
    assert site["cert_file"] == str(tmp_path / "ok.pem")  # crt-base: the list's entries under it
    # ... but not the list: a relative crt-list path is HAProxy's working directory's, / when no HAProxy runs this
    # configuration (it was read under crt-base, until a review held it to HAProxy 2.6 on 2026-12-06; the list was
    # relative here and asserted to be under crt-base)
    (tmp_path / "haproxy.cfg").write_text("global\n crt-base %s\nfrontend f\n bind :8447 ssl crt-list list.txt\n"
                                          % tmp_path)
    with pytest.raises(CertError, match=r"cannot read /list\.txt"):
        _discover.haproxy_sites(str(tmp_path / "haproxy.cfg"), _confread.FileSource())


APACHE_MAIN = """
ServerRoot "{root}"
Define CERTS {root}/certs
Listen 8444
<IfModule ssl_module>
    SSLCertificateChainFile ${{CERTS}}/global-chain.crt
</IfModule>
Include sites-enabled/*.conf
IncludeOptional optional-missing/*.conf
"""
APACHE_SITE = """
# A comment with <VirtualHost *:1>
<VirtualHost 127.0.0.1:8444 [::1]:8444>
    ServerName api.test:443
    ServerAlias api2.test \\
                api3.test
    SSLEngine on
    SSLCertificateFile "${{CERTS}}/api.crt"
    SSLCertificateKeyFile certs/api.key
</VirtualHost>
<VirtualHost *:8080>
    ServerName plain.test
</VirtualHost>
<VirtualHost *:8445>
    ServerName combined.test
    sslengine On
    SSLCertificateFile {root}/certs/combined.pem
    SSLCertificateChainFile {root}/certs/own-chain.crt
</VirtualHost>
"""


def test_apache_sites(tmp_path):
    root = str(tmp_path)
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "apache2.conf").write_text(APACHE_MAIN.format(root=root))
    (tmp_path / "sites-enabled" / "api.conf").write_text(APACHE_SITE.format(root=root))
    api, combined = _discover.apache_sites(str(tmp_path / "apache2.conf"), _confread.FileSource())
    assert api["name"] == "apache-api.test"
    assert api["server_names"] == ["api.test", "api2.test", "api3.test"]
    assert api["listen"] == ["127.0.0.1:8444", "[::1]:8444"]
    assert api["cert_file"] == root + "/certs/api.crt" and api["key_file"] == root + "/certs/api.key"
    assert api["chain_file"] == root + "/certs/global-chain.crt"  # inherited from the server level
    assert api["config_file"] == root + "/sites-enabled/api.conf"
    assert api["endpoint"] == {"host": "127.0.0.1", "port": 8444, "server_name": "api.test"}
    assert combined["key_file"] == combined["cert_file"] == root + "/certs/combined.pem"
    assert combined["chain_file"] == root + "/certs/own-chain.crt"
    assert combined["endpoint"]["host"] == "127.0.0.1"


HAPROXY_CFG = """
global
    crt-base {root}/certs
    log stdout format raw local0

defaults
    mode http

frontend https
    bind 127.0.0.1:8446,127.0.0.2:8446 ssl crt site.pem crt {root}/certs/dir alpn h2
    bind 127.0.0.1:8080

listen listed
    bind :8447 ssl crt-list {root}/list.txt
"""


def test_haproxy_sites(tmp_path):
    certs = tmp_path / "certs"
    (certs / "dir").mkdir(parents=True)
    for name in ("site.pem", "dir/a.pem", "dir/a.pem.key", "dir/b.pem", "dir/b.pem.ocsp", "listed.pem"):
        (certs / name).write_text("x")
    (tmp_path / "list.txt").write_text("# comment\nlisted.pem [alpn h2 ssl-min-ver TLSv1.2] l.test !no.test *.w.test\n")
    (tmp_path / "haproxy.cfg").write_text(HAPROXY_CFG.format(root=tmp_path))
    sites = _discover.haproxy_sites(str(tmp_path / "haproxy.cfg"), _confread.FileSource())
    assert [(s["cert_file"], s["key_file"]) for s in sites] == [
        (str(certs / "site.pem"), str(certs / "site.pem")),
        (str(certs / "dir/a.pem"), str(certs / "dir/a.pem.key")),
        (str(certs / "dir/b.pem"), str(certs / "dir/b.pem")),
        (str(certs / "listed.pem"), str(certs / "listed.pem"))]
    assert sites[0]["listen"] == ["127.0.0.1:8446", "127.0.0.2:8446"]
    assert sites[3]["server_names"] == ["l.test", "*.w.test"]
    assert sites[3]["name"] == "haproxy-l.test"
    assert sites[3]["endpoint"] == {"host": "127.0.0.1", "port": 8447, "server_name": "l.test"}


@pytest.mark.parametrize("value,expected", [
    ("443", ("127.0.0.1", 443)), ("*:443", ("127.0.0.1", 443)), ("0.0.0.0:8443", ("127.0.0.1", 8443)),
    ("[::]:443", ("::1", 443)), ("[::1]:9443", ("::1", 9443)), ("10.1.2.3:443", ("10.1.2.3", 443)),
    ("ipv4@127.0.0.1:443", ("127.0.0.1", 443)), ("unix:/run/x.sock", None), ("_default_:443", ("127.0.0.1", 443)),
    ("localhost:https", None), ("*:\u00b2", None), ("\u0663", None), ("*:99999", None), ("*:0", None),
])
def test_parse_listen(value, expected):
    assert _discover.parse_listen(value) == expected


@pytest.mark.parametrize("config", ["/nonexistent/haproxy.cfg", "/etc/\x00haproxy.cfg"])
def test_missing_config_is_coded(config):
    with pytest.raises(CertError) as info:
        _discover.discover("haproxy", config)
    assert info.value.code == "NOT_FOUND"


def test_collect_keeps_the_dynamic_path_error(tmp_path):
    from ansible_collections.certops.backend_tls.plugins.module_utils import _collect

    (tmp_path / "nginx.conf").write_text(
        "http { server { listen unix:%s/s.sock ssl; server_name a.test;"
        " ssl_certificate /etc/ssl/$ssl_server_name.crt; } }" % tmp_path)
    result = _collect.collect(discover=[{"type": "nginx", "config": str(tmp_path / "nginx.conf")}])
    (site,) = result["sites"]
    assert result["files"] == []  # the dynamic path is not read as a file
    assert site["cert_file"] is None and site["error"]["code"] == "DYNAMIC_PATH"


# ---- PROXY protocol: a site whose server expects the header first is probed with one


def _endpoints(sites):
    return {s["name"]: s["endpoint"].get("proxy_protocol") for s in sites}


def test_nginx_proxy_protocol_is_the_sockets():
    """nginx applies `proxy_protocol` to the listening socket: every server on it expects the header, whichever
    listen line names it (as `ssl`); another address or port does not."""
    main = """http {
        server { listen 127.0.0.1:8443 ssl proxy_protocol; server_name a.test; ssl_certificate a.pem; }
        server { listen 127.0.0.1:8443 ssl; server_name b.test; ssl_certificate b.pem; }
        server { listen 8444 ssl; server_name c.test; ssl_certificate c.pem; }
        server { listen *:8444 proxy_protocol; server_name plain.test; }
        server { listen 127.0.0.2:8444 ssl; server_name d.test; ssl_certificate d.pem; }
        server { listen [::1]:8445 ssl proxy_protocol; listen 8445 ssl; server_name e.test; ssl_certificate e.pem; }
        server { listen 8445 ssl; listen [::1]:8445 ssl; server_name f.test; ssl_certificate f.pem; }
    }"""
    sites = _discover.nginx_sites("/etc/nginx/nginx.conf", _confread.FileSource({"/etc/nginx/nginx.conf": main}))
    assert _endpoints(sites) == {"nginx-a.test": "v1", "nginx-b.test": "v1", "nginx-c.test": "v1",
                                 "nginx-d.test": None, "nginx-e.test": "v1", "nginx-f.test": None}
    assert sites[0]["endpoint"] == {"host": "127.0.0.1", "port": 8443, "server_name": "a.test",
                                    "proxy_protocol": "v1"}


def test_nginx_ssl_is_the_sockets():
    """A server whose own listen line does not say `ssl` speaks TLS on a socket another server's line makes TLS (nginx
    serves it its own certificate by SNI); on a socket of its own it is plain HTTP."""
    main = """http {
        ssl_certificate default.pem;
        server { listen 127.0.0.1:8443 ssl; server_name a.test; }
        server { listen 127.0.0.1:8443; server_name b.test; ssl_certificate b.pem; }
        server { listen 8443; server_name plain.test; }
        server { listen 127.0.0.1:8080; server_name plain2.test; }
    }"""
    sites = _discover.nginx_sites("/etc/nginx/nginx.conf", _confread.FileSource({"/etc/nginx/nginx.conf": main}))
    assert [(s["name"], s["cert_file"]) for s in sites] == [
        ("nginx-a.test", "/etc/nginx/default.pem"), ("nginx-b.test", "/etc/nginx/b.pem")]


@pytest.mark.parametrize("value,expected", [
    ("443", ("*", "443")), ("*:443", ("*", "443")), ("0.0.0.0:443", ("*", "443")), ("127.0.0.1", ("127.0.0.1", "80")),
    ("[::1]:8443", ("::1", "8443")), ("[::]", ("::", "80")),
    # a host name as this host resolves it (nginx resolves it when it starts), else as written
    ("localhost:8443", ("127.0.0.1", "8443")), ("no-such-name.invalid:8443", ("no-such-name.invalid", "8443")),
    ("unix:/run/a.sock", ("unix:/run/a.sock", "80")), ("[0:0:0:0:0:0:0:1]:8443", ("::1", "8443")),
    ("[::]:443", ("::", "443")),
])
def test_nginx_listening_socket(value, expected):
    assert _discover._ngx_socket(value) == expected


def test_haproxy_accept_proxy(tmp_path):
    (tmp_path / "a.pem").write_text("x")
    (tmp_path / "haproxy.cfg").write_text(
        "frontend f\n    bind 127.0.0.1:8446 ssl crt %(d)s/a.pem accept-proxy\n"
        "    bind 127.0.0.1:8447 ssl crt %(d)s/a.pem\n" % {"d": tmp_path})
    sites = _discover.haproxy_sites(str(tmp_path / "haproxy.cfg"), _confread.FileSource())
    assert [s["endpoint"].get("proxy_protocol") for s in sites] == ["v1", None]


def _vhost(address, name, extra=""):
    return ("<VirtualHost %s>\n  ServerName %s\n  %s\n  SSLEngine on\n  SSLCertificateFile /c.pem\n"
            "</VirtualHost>\n" % (address, name, extra))


# Each case as Apache 2.4.71 (mod_remoteip) behaves: measured, and held to Apache in
# tests/integration/test_discovery_proxy_protocol.py
@pytest.mark.parametrize("conf,expected", [
    ("RemoteIPProxyProtocol On\n" + _vhost("127.0.0.1:8443", "a.test"), ["v1"]),
    (_vhost("127.0.0.1:8443", "a.test") + _vhost("127.0.0.1:8443", "b.test", "RemoteIPProxyProtocol on"),
     ["v1", "v1"]),
    ("RemoteIPProxyProtocol On\n" + _vhost("127.0.0.1:8443", "a.test", "RemoteIPProxyProtocol Off")
     + _vhost("127.0.0.1:8443", "b.test"), [None, None]),
    (_vhost("*:8443", "a.test") + _vhost("*:8443", "b.test", "RemoteIPProxyProtocol On"), ["v1", "v1"]),
    (_vhost("127.0.0.1:8443", "a.test", "RemoteIPProxyProtocol On")
     + _vhost("127.0.0.1:8443", "b.test", "RemoteIPProxyProtocol Off"), [None, None]),
    ("RemoteIPProxyProtocol Off\n" + _vhost("127.0.0.1:8443", "a.test", "RemoteIPProxyProtocol On"), [None]),
    (_vhost("127.0.0.1:8443", "a.test", "RemoteIPProxyProtocol On") + _vhost("127.0.0.1:8444", "b.test"),
     ["v1", None]),
    (_vhost("*:8443", "a.test", "RemoteIPProxyProtocol On") + _vhost("127.0.0.1:8443", "b.test"), ["v1", "v1"]),
    (_vhost("127.0.0.1:8443", "a.test"), [None]),
    (_vhost("127.0.0.1:8443", "a.test", "RemoteIPProxyProtocol Off") + _vhost("127.0.0.1:8443", "b.test",
                                                                              "RemoteIPProxyProtocol On"),
     ["v1", "v1"]),
    ("RemoteIPProxyProtocol Off\nRemoteIPProxyProtocol On\n" + _vhost("127.0.0.1:8443", "a.test"), ["v1"]),
    (_vhost("*:8443", "a.test", "RemoteIPProxyProtocol Off\nRemoteIPProxyProtocol On"), ["v1"]),
    (_vhost("*:8443", "a.test", "RemoteIPProxyProtocol Off") + _vhost("127.0.0.1:8443", "b.test",
                                                                      "RemoteIPProxyProtocol On"), [None, None]),
    # Apache resolves addresses before it compares them (held to Apache 2.4.71 by a review, 2026-12-06)
    (_vhost("*", "a.test", "RemoteIPProxyProtocol Off") + "RemoteIPProxyProtocol On\n"
     + _vhost("127.0.0.1:8443", "b.test"), [None, "v1"]),  # (no port: a.test has no endpoint to probe)
    (_vhost("0.0.0.0:8443", "a.test", "RemoteIPProxyProtocol Off") + _vhost("*:8443", "b.test",
                                                                            "RemoteIPProxyProtocol On"),
     ["v1", "v1"]),
], ids=["main-on", "one-vhost-on", "main-on-vhost-off", "wildcard-vhost-on", "vhost-on-vhost-off", "main-off",
        "another-port", "wildcard-on-covers-ip", "none", "vhost-off-vhost-on", "main-off-on", "same-vhost-off-on",
        "wildcard-off-covers-ip-on", "any-vhost-is-the-main-servers-address", "zero-address-is-the-wildcard"])
def test_apache_remoteip_proxy_protocol(conf, expected):
    main = "/etc/apache2/apache2.conf"
    sites = _discover.apache_sites(main, _confread.FileSource({main: conf}))
    assert [(s["endpoint"] or {}).get("proxy_protocol") for s in sites] == expected


def test_apache_ifdefine_reads_what_httpd_would():
    """<IfDefine>: a parameter the files Define (or UnDefine) decides its sections, nested ones too; one they do not
    name may come from httpd's -D (Gentoo's and SUSE's `-D SSL`), and its section is read."""
    def vhost(port, cert):
        return ("<VirtualHost 127.0.0.1:%d>\nSSLEngine on\nSSLCertificateFile /c/%s.crt\n</VirtualHost>\n"
                % (port, cert))
    conf = ("Define ON\nDefine GONE\nUnDefine GONE\n"
            "<IfDefine ON>\n" + vhost(1, "on") + "<IfDefine !ON>\n" + vhost(2, "nested-off") + "</IfDefine>\n"
            "</IfDefine>\n<IfDefine !ON>\n" + vhost(3, "not-on") + "</IfDefine>\n"
            "<IfDefine GONE>\n" + vhost(4, "gone") + "</IfDefine>\n<ifdefine !GONE>\n" + vhost(5, "not-gone")
            + "</ifdefine>\n<IfDefine SSL>\n" + vhost(6, "from-command-line") + "</IfDefine>\n")
    sites = _discover.apache_sites("/etc/apache2/apache2.conf",
                                   _confread.FileSource(files={"/etc/apache2/apache2.conf": conf}))
    assert sorted(site["cert_file"] for site in sites) == [
        "/c/from-command-line.crt", "/c/not-gone.crt", "/c/on.crt"]


def test_apache_include_reads_directories_as_apache_does(tmp_path):
    """Include of a directory, or a wildcard that matches one: every file under it, each directory's entries in name
    order and a directory read where it sorts (inc/x/ before inc/x.conf: a Define there decides x.conf's
    <IfDefine>), dot files too; a wildcard skips dot entries (as apache2 -S showed in a review, 2026-12-06)."""
    def vhost(port, cert):
        return ("<VirtualHost 127.0.0.1:%d>\nSSLEngine on\nSSLCertificateFile /c/%s.crt\n</VirtualHost>\n"
                % (port, cert))
    (tmp_path / "inc" / "x").mkdir(parents=True)
    (tmp_path / "inc" / "x" / "y.conf").write_text("Define Q\n")
    (tmp_path / "inc" / "x.conf").write_text("<IfDefine Q>\n" + vhost(1, "after-define") + "</IfDefine>\n")
    (tmp_path / "inc" / ".hidden.conf").write_text(vhost(2, "hidden"))
    (tmp_path / "glob" / "sub").mkdir(parents=True)
    (tmp_path / "glob" / "sub" / "a.conf").write_text(vhost(3, "under-a-matched-directory"))
    (tmp_path / "glob" / ".dot").mkdir()
    (tmp_path / "glob" / ".dot" / "b.conf").write_text(vhost(4, "under-a-dot-directory"))
    # Q is known undefined until inc/x/y.conf defines it: x.conf's section is read only after that file
    (tmp_path / "apache2.conf").write_text("UnDefine Q\nInclude %s/inc\nIncludeOptional %s/glob/*\n"
                                           % (tmp_path, tmp_path))
    sites = _discover.apache_sites(str(tmp_path / "apache2.conf"), _confread.FileSource())
    assert [site["cert_file"] for site in sites] == [
        "/c/hidden.crt", "/c/after-define.crt", "/c/under-a-matched-directory.crt"]


def _certificates(sites):
    """{site name: [(certificate, key) of each site the server's certificates make, in the order loaded]}."""
    out = {}
    for site in sites:
        out.setdefault(site["name"], []).append((site["cert_file"], site["key_file"]))
    return out


def test_nginx_every_ssl_certificate_is_a_site_of_its_group():
    """nginx loads every ssl_certificate of a block (one served per key type: which is decided once the files are read,
    _collect._certificate_groups), each with the ssl_certificate_key of its place; a block with any of its own
    replaces the whole inherited list, and each of the two directives is inherited on its own. Held to nginx in
    tests/integration/test_discovery_key_types.py."""
    main = """http {
        ssl_certificate /h/rsa.crt; ssl_certificate_key /h/rsa.key;
        ssl_certificate /h/ec.crt; ssl_certificate_key /h/ec.key;
        server { listen 1 ssl; server_name inherit.test; }
        server { listen 2 ssl; server_name own.test; ssl_certificate /o/ec.crt; ssl_certificate_key /o/ec.key; }
        server { listen 3 ssl; server_name two.test; ssl_certificate /t/a.crt; ssl_certificate /t/b.crt;
                 ssl_certificate_key /t/a.key; ssl_certificate_key /t/b.key; }
        server { listen 4 ssl; server_name keys.test; ssl_certificate_key /k/new.key; }
    }"""
    sites = _discover.nginx_sites("/etc/nginx/nginx.conf", _confread.FileSource({"/etc/nginx/nginx.conf": main}))
    assert _certificates(sites) == {
        "nginx-inherit.test": [("/h/rsa.crt", "/h/rsa.key"), ("/h/ec.crt", "/h/ec.key")],
        "nginx-own.test": [("/o/ec.crt", "/o/ec.key")],
        "nginx-two.test": [("/t/a.crt", "/t/a.key"), ("/t/b.crt", "/t/b.key")],
        "nginx-keys.test": [("/h/rsa.crt", "/k/new.key"), ("/h/ec.crt", "/h/ec.crt")]}
    groups = [site.get(_discover.GROUP) for site in sites]
    assert groups[2] is None  # one certificate: no group
    assert groups[0][0] == groups[1][0] != groups[3][0] and [g[1] for g in groups[:2] + groups[3:5]] == [0, 1, 0, 1]


def test_apache_each_certificate_file_with_mod_ssl_merge():
    """SSLCertificateFile and SSLCertificateKeyFile given more than once are all loaded; a VirtualHost's Nth takes
    the place of the main server's Nth, and the main server's later ones stay (mod_ssl's merge of the two lists)."""
    conf = ("SSLCertificateFile /m/ec.crt\nSSLCertificateKeyFile /m/ec.key\n"
            "SSLCertificateFile /m/rsa.crt\nSSLCertificateKeyFile /m/rsa.key\n"
            "<VirtualHost 127.0.0.1:1>\nServerName both.test\nSSLEngine on\n"
            "SSLCertificateFile /v/rsa.crt\nSSLCertificateKeyFile /v/rsa.key\n"
            "SSLCertificateFile /v/ec.crt\nSSLCertificateKeyFile /v/ec.key\n</VirtualHost>\n"
            "<VirtualHost 127.0.0.1:2>\nServerName merged.test\nSSLEngine on\n"
            "SSLCertificateFile /v/own.crt\nSSLCertificateKeyFile /v/own.key\n</VirtualHost>\n")
    sites = _discover.apache_sites("/etc/apache2/apache2.conf",
                                   _confread.FileSource(files={"/etc/apache2/apache2.conf": conf}))
    assert _certificates(sites) == {
        "apache-both.test": [("/v/rsa.crt", "/v/rsa.key"), ("/v/ec.crt", "/v/ec.key")],
        "apache-merged.test": [("/v/own.crt", "/v/own.key"), ("/m/rsa.crt", "/m/rsa.key")]}


def test_haproxy_multi_certificate_bundle():
    """`crt b.pem` where b.pem is not there loads the bundle b.pem.dsa, b.pem.ecdsa and b.pem.rsa that are (HAProxy's
    ssl-load-extra-files bundle), in that order: the ECDSA one before the RSA one, so it is the bind's default (a
    review held it to HAProxy 2.6; this asserted the RSA one first until 2026-12-06, and its site was probed without
    a name as the default). A crt that exists is itself. Held to HAProxy in test_discovery_key_types and
    test_discovery_conflicting_names."""
    cfg = "frontend f\n    bind 127.0.0.1:1 ssl crt /c/b.pem crt /c/one.pem crt /c/missing.pem\n"
    files = {"/etc/haproxy/haproxy.cfg": cfg, "/c/b.pem.rsa": "x", "/c/b.pem.ecdsa": "x", "/c/one.pem": "x",
             "/c/one.pem.rsa": "x"}
    sites = _discover.haproxy_sites("/etc/haproxy/haproxy.cfg", _confread.FileSource(files))
    assert [site["cert_file"] for site in sites] == ["/c/b.pem.ecdsa", "/c/b.pem.rsa", "/c/one.pem", "/c/missing.pem"]


@pytest.mark.parametrize("pattern,expected", [
    (r"^(?<tenant>[a-z0-9-]+)\.saas\.test$", "a.saas.test"),
    (r"^(?P<t>.+)\.a\.test$", "x.a.test"),
    (r"^(?'t'[a-z]+)\.q\.test$", "a.q.test"),
    (r"^(www\.)?shop\.test$", "shop.test"),
    (r"^www\.example\.(com|org)$", "www.example.com"),
    (r"^[^.]+\.c\.test$", "x.c.test"),
    (r"^\d{3}\.n\.test$", "000.n.test"),
    (r"^.*\.example\.com$", "x.example.com"),
    (r"EXAMPLE\.com", "example.com"),  # nginx compiles them caseless
    # not walked, or no host name: None (the probe then sends no SNI, as before)
    (r"(?i)foo", None), (r"^a\sb$", None), (r"^a(?=b)", None), (r"[", None), (r"(", None), (r"^$", None),
    (r"^x{0,}\.y\.test$", None), (r"^-a\.test$", None), ("a" * 300, None),
    # found anywhere: a leading label added
    (r"\.saas\.test$", "x.saas.test"),
    # what Python's re reads otherwise than PCRE (a POSIX class is the characters [:dgit to it), or may never finish
    # on, or would build a name of a gigabyte
    (r"^app[[:digit:]]*\.example\.test$", None), (r"^\Qa.b\E$", None), (r"^[\x41-\x5a]+\.test$", None),
    (r"([a-z0-9]+-?)+\.internal$", None), (r"^(a|b)+\.t$", None), (r"^(((((a{64}){64}){64}){64}){64})\.test$", None),
    # capitals make nginx compile it caseless; the name sent is lower-case
    (r"^APP-[0-9]+\.Test$", "app-0.test"),
])
def test_regex_example(pattern, expected):
    assert _discover.regex_example(pattern) == expected


def test_a_regex_probe_name_no_other_server_takes_first():
    """nginx takes an exact name, then wildcards, then the first matching expression in configuration order."""
    name = "~^x\\.coll\\.test$"
    assert _discover.ngx_regex_probe_name([name], []) == "x.coll.test"
    for others in ([(["x.coll.test"], False)], [(["*.coll.test"], False)], [([".coll.test"], False)],
                   [(["x.coll.*"], False)], [(["~coll"], True)]):
        assert _discover.ngx_regex_probe_name([name], others) is None, others
    # an earlier expression Python's re cannot be trusted with (PCRE's POSIX class; nested quantifiers that may
    # backtrack for minutes) is taken to take any name
    assert _discover.ngx_regex_probe_name([name], [(["~^[[:alpha:]]+\\.coll\\.test$"], True)]) is None
    assert _discover.ngx_regex_probe_name(["~^(?<t>[a-z0-9-]+)\\.averylongcustomerdomainname\\.test$"], [
        (["~([a-z0-9]+-?)+\\.internal$"], True)]) is None
    # an expression after this server's does not take it first; nor another name
    assert _discover.ngx_regex_probe_name([name], [(["~coll"], False), (["y.coll.test"], True)]) == "x.coll.test"
    # a server with a usable name keeps it (no expression walked)
    sites = _discover.nginx_sites("/n.conf", _confread.FileSource({"/n.conf": """http {
        server { listen 1 ssl default_server; server_name d.test; ssl_certificate /d.crt; }
        server { listen 1 ssl; server_name ~^(?<t>.+)\\.s\\.test$; ssl_certificate /s.crt; }
        server { listen 1 ssl; server_name ~^a\\.s\\.test$; ssl_certificate /late.crt; }
        server { listen 2 ssl; server_name ~^a\\.s\\.test$ _; ssl_certificate /other.crt; }
        server { listen 1 ssl; server_name b.test ~^z\\.test$; ssl_certificate /b.crt; }
    }"""}))
    assert {s["cert_file"]: (s["endpoint"] or {}).get("server_name") for s in sites} == {
        # a.s.test is the earlier expression's on socket 1: no name reaches the later one there, and it is not the
        # socket's default server: not probed (it was probed without SNI, and got d.test's certificate)
        "/d.crt": "d.test", "/s.crt": "x.s.test", "/late.crt": None, "/other.crt": "a.s.test", "/b.crt": "b.test"}
    late, = [s for s in sites if s["cert_file"] == "/late.crt"]
    assert late["endpoint"] is None and late["error"]["code"] == "NO_PROBE_NAME", late
    assert "regular expressions" in late["error"]["message"] and "*:1" in late["error"]["message"], late


def test_a_server_no_name_reaches_is_not_probed_unless_it_is_its_sockets_default():
    """nginx gives a client that sends no name, or a name no server of the socket has, the socket's default server
    (default_server, else the first to listen there). A server with no name a probe can send is reached that way
    only where it is that default; elsewhere a probe without SNI got the default server's certificate, its site
    'did not serve its files' and the role planned a reload that could change nothing."""
    sites = _discover.nginx_sites("/n.conf", _confread.FileSource({"/n.conf": """http {
        server { listen 1 ssl; server_name _; ssl_certificate /first.crt; }
        server { listen 2 ssl; listen 1 ssl; ssl_certificate /nameless.crt; }
        server { listen 3 ssl; server_name a.test; ssl_certificate /a.crt; }
        server { listen 3 ssl default_server; server_name ""; ssl_certificate /marked.crt; }
        server { listen 3 ssl; server_name _; ssl_certificate /catchall.crt; ssl_certificate /catchall-ec.crt; }
        server { listen 4 ssl; server_name ~^(a|b)+\\.x\\.test$; ssl_certificate /rx.crt; }
        server { listen 4 ssl; server_name ~^(a|b)+\\.y\\.test$; ssl_certificate /rx2.crt; }
        server { listen 127.0.0.1:5 ssl; server_name _; ssl_certificate /own.crt; }
        server { listen 5 ssl; server_name w.test; ssl_certificate /wild.crt; }
    }"""}))
    by_file = {s["cert_file"]: s for s in sites}
    reached = {path: site["endpoint"] for path, site in by_file.items() if site["endpoint"]}
    assert {path: (ep["port"], ep["server_name"]) for path, ep in reached.items()} == {
        "/first.crt": (1, None),  # the first server of socket 1
        "/nameless.crt": (2, None),  # not socket 1's default, but socket 2's: probed there
        "/a.crt": (3, "a.test"), "/marked.crt": (3, None),  # default_server, though not the first
        "/rx.crt": (4, None),  # not walked (an alternative under a quantifier), but socket 4's first server
        "/own.crt": (5, None),  # the only server of 127.0.0.1:5
        "/wild.crt": (5, "w.test"),
    }
    unreached = {path: site["error"] for path, site in by_file.items() if not site["endpoint"]}
    assert sorted(unreached) == ["/catchall-ec.crt", "/catchall.crt", "/rx2.crt"]
    assert {error["code"] for error in unreached.values()} == {"NO_PROBE_NAME"}
    assert "server_name _" in unreached["/catchall.crt"]["message"] and "*:3" in unreached["/catchall.crt"]["message"]
    assert "regular expressions" in unreached["/rx2.crt"]["message"]
    assert all(by_file[path]["error"] is None for path in reached)


def test_nginx_probes_with_the_names_it_keeps_on_each_socket():
    """nginx keeps the first server's name on a socket and ignores a later server's ("conflicting server name ...
    ignored"): the later one was probed with that name, got the first one's certificate, and the role planned a
    reload. Each rule below was held to nginx 1.22 (tests/integration/test_discovery_conflicting_names.py)."""
    sites = _discover.nginx_sites("/n.conf", _confread.FileSource({"/n.conf": """http {
        server { listen 1 ssl; server_name a.test; ssl_certificate /a.crt; }
        server { listen 1 ssl; server_name A.test b.test; ssl_certificate /b.crt; }
        server { listen 1 ssl; server_name a.test; ssl_certificate /c.crt; }
        server { listen 1 ssl; listen 2 ssl; server_name a.test; ssl_certificate /moves.crt; }
        server { listen 1 ssl; server_name e.test; ssl_certificate /e.crt; }
        server { listen 1 ssl; server_name .e.test; ssl_certificate /dot.crt; }
        server { listen 1 ssl; server_name *.w.test; ssl_certificate /w.crt; }
        server { listen 1 ssl; server_name .w.test x.test; ssl_certificate /dotw.crt; }
        server { listen 1 ssl; server_name w.test; ssl_certificate /exw.crt; }
        server { listen 1 ssl; server_name www.t.* ~^rx\\.test$; ssl_certificate /t.crt; }
        server { listen 1 ssl; server_name www.t.* ~^ry\\.test$; ssl_certificate /t2.crt; }
        server { listen 1 ssl; server_name s.test .s.test; ssl_certificate /self.crt; }
        server { listen 3 ssl; server_name d.test; ssl_certificate /d.crt; }
        server { listen 3 ssl default_server; server_name d.test; ssl_certificate /default.crt; }
    }"""}))
    by_file = {s["cert_file"]: s for s in sites}
    assert {path: (site["endpoint"]["port"], site["endpoint"]["server_name"])
            for path, site in by_file.items() if site["endpoint"]} == {
        "/a.crt": (1, "a.test"), "/b.crt": (1, "b.test"),  # A.test is a.test: its next name
        "/moves.crt": (2, "a.test"),  # kept on its second socket: probed there
        "/e.crt": (1, "e.test"), "/w.crt": (1, "certops-probe.w.test"),
        "/dotw.crt": (1, "x.test"),  # .w.test refused whole
        "/t.crt": (1, "www.t.certops-probe"), "/t2.crt": (1, "ry.test"),  # a trailing wildcard conflicts too
        "/self.crt": (1, "s.test"),  # its own s.test refuses its .s.test; s.test is still its
        "/d.crt": (3, "d.test"), "/default.crt": (3, None),  # its name refused, but it is socket 3's default
    }
    unreached = {path: site["error"] for path, site in by_file.items() if not site["endpoint"]}
    # c: a.test is a's; dot: e.test is exact's; exw: the refused .w.test registered w.test
    assert sorted(unreached) == ["/c.crt", "/dot.crt", "/exw.crt"], unreached
    for error in unreached.values():
        assert error["code"] == "NO_PROBE_NAME" and "conflicting server name" in error["message"], error
    assert "server names .e.test there" in unreached["/dot.crt"]["message"]


def test_a_review_of_kept_names_unix_sockets_ssl_on_and_names_no_client_sends():
    """From a review against real nginx 1.22: a server on unix sockets only is not probed and has no error (it was
    NO_PROBE_NAME, and with two unix sockets even the first server's default was taken for unknown); a unix socket
    where a server is the default does not make its site reached; `ssl on` makes a socket TLS only where its server
    is the socket's default (a probe went to a plain socket); a name with a trailing dot or a port reaches nothing
    (nginx strips both from the name a client sends)."""
    sites = _discover.nginx_sites("/n.conf", _confread.FileSource({"/n.conf": """http {
        server { listen unix:/v.sock ssl; server_name n.test; ssl_certificate /u1.crt; }
        server { listen unix:/v.sock ssl; server_name o.test; ssl_certificate /u2.crt; }
        server { listen unix:/w.sock ssl; server_name n.test; ssl_certificate /u3.crt; }
        server { listen 1 ssl; server_name m.test; ssl_certificate /k0.crt; }
        server { listen unix:/k.sock ssl; listen 1 ssl; server_name m.test; ssl_certificate /k1.crt; }
        server { listen 2; server_name p.test; }
        server { listen 3 ssl; server_name q.test; ssl_certificate /n3.crt; }
        server { listen 3 ssl; listen 2; ssl on; server_name q.test; ssl_certificate /n4.crt; }
        server { listen 4 ssl; server_name first.test; ssl_certificate /g0.crt; }
        server { listen 4 ssl; server_name t.test.; ssl_certificate /g1.crt; }
        server { listen 4 ssl; server_name t.test; ssl_certificate /g2.crt; }
        server { listen 4 ssl; server_name c.test:443 d.test; ssl_certificate /g3.crt; }
    }"""}))
    by_file = {s["cert_file"]: s for s in sites}
    for path in ("/u1.crt", "/u2.crt", "/u3.crt"):  # no address a probe goes to: not probed, nothing to say
        assert by_file[path]["endpoint"] is None and by_file[path]["error"] is None, by_file[path]
    assert {path: (site["endpoint"]["port"], site["endpoint"]["server_name"])
            for path, site in by_file.items() if site["endpoint"]} == {
        "/k0.crt": (1, "m.test"), "/n3.crt": (3, "q.test"), "/g0.crt": (4, "first.test"), "/g2.crt": (4, "t.test"),
        "/g3.crt": (4, "d.test")}
    for path in ("/k1.crt", "/n4.crt", "/g1.crt"):
        assert by_file[path]["endpoint"] is None and by_file[path]["error"]["code"] == "NO_PROBE_NAME", by_file[path]
    assert "*:3" in by_file["/n4.crt"]["error"]["message"]  # not the plain socket 2
    assert "conflicting server name" in by_file["/n4.crt"]["error"]["message"]
    assert "no client's name is compared with t.test." in by_file["/g1.crt"]["error"]["message"]
    assert "conflicting" not in by_file["/g1.crt"]["error"]["message"]


def test_an_ipv6_wildcard_behind_a_server_on_ipv6_loopback_is_not_probed():
    """A server on `[::1]:P` takes the connections a probe makes to ::1 (IPv6's only loopback address), so a server
    on `[::]:P` is not reached there: it was probed at ::1 and got the other server's certificate (a review against
    real nginx). It is probed at another TLS listen, else it is NO_PROBE_NAME; no probe goes to another of the host's
    addresses."""
    sites = _discover.nginx_sites("/n.conf", _confread.FileSource({"/n.conf": """http {
        server { listen [::1]:1 ssl; server_name a.test; ssl_certificate /a.crt; }
        server { listen [::]:1 ssl; server_name b.test; ssl_certificate /b.crt; }
        server { listen [::]:1 ssl; listen 127.0.0.1:2 ssl; server_name c.test; ssl_certificate /c.crt; }
        server { listen [::]:3 ssl; server_name d.test; ssl_certificate /d.crt; }
    }"""}))
    by_file = {s["cert_file"]: s for s in sites}
    assert {path: (site["endpoint"]["host"], site["endpoint"]["port"], site["endpoint"]["server_name"])
            for path, site in by_file.items() if site["endpoint"]} == {
        "/a.crt": ("::1", 1, "a.test"), "/c.crt": ("127.0.0.1", 2, "c.test"), "/d.crt": ("::1", 3, "d.test")}
    assert by_file["/b.crt"]["error"]["code"] == "NO_PROBE_NAME" and "[::1]" in by_file["/b.crt"]["error"]["message"]


def _apache_conf(head, *vhosts):
    """An Apache configuration: head (main-server lines), then one VirtualHost per (addresses, certificate file,
    its other lines...), each with SSLEngine on."""
    return head + "".join("<VirtualHost %s>\n%s  SSLEngine on\n  SSLCertificateFile %s\n</VirtualHost>\n" % (
        addresses, "".join("  %s\n" % line for line in lines), cert) for addresses, cert, *lines in vhosts)


def test_an_apache_virtual_host_without_a_name_is_probed_as_apache_reaches_it():
    """A VirtualHost with no ServerName of its own answers to the main server's (mod_ssl's SNI lookup compares the
    name it inherits), unless an earlier VirtualHost of the socket takes that name; a client that sends no name gets
    the socket's first VirtualHost. It was probed without SNI wherever it stood, got the first one's certificate,
    and the role planned a reload."""
    conf = _apache_conf(
        "ServerName main.test\nListen 1\nListen 2\n",
        ("*:1", "/a.crt", "ServerName a.test"),
        ("*:1", "/inherits.crt"),
        ("*:1", "/second-nameless.crt"),
        ("*:1", "/underscore.crt", "ServerName _"),
        ("*:2", "/first-of-2.crt", "ServerName _"),
        ("127.0.0.1:1", "/own-address.crt", "ServerName _"))
    sites = {s["cert_file"]: s for s in _discover.apache_sites("/a.conf", _confread.FileSource({"/a.conf": conf}))}
    reached = {path: (s["endpoint"]["host"], s["endpoint"]["port"], s["endpoint"]["server_name"])
               for path, s in sites.items() if s["endpoint"]}
    assert reached == {
        "/a.crt": ("127.0.0.2", 1, "a.test"),  # 127.0.0.1:1 is the address-specific VirtualHost's
        "/inherits.crt": ("127.0.0.2", 1, "main.test"),  # the main server's name, which no earlier one takes
        "/first-of-2.crt": ("127.0.0.1", 2, None),  # the first of its socket: a client without a name gets it
        "/own-address.crt": ("127.0.0.1", 1, None),  # the only VirtualHost of 127.0.0.1:1
    }
    unreached = {path: s["error"] for path, s in sites.items() if not s["endpoint"]}
    assert sorted(unreached) == ["/second-nameless.crt", "/underscore.crt"]
    assert {e["code"] for e in unreached.values()} == {"NO_PROBE_NAME"}
    assert "main.test" in unreached["/second-nameless.crt"]["message"]
    assert all(sites[path]["error"] is None for path in reached)
    # without a main ServerName (Apache then takes this machine's name, not known here), only the first is reached
    conf = conf.replace("ServerName main.test\n", "")
    sites = {s["cert_file"]: s for s in _discover.apache_sites("/a.conf", _confread.FileSource({"/a.conf": conf}))}
    assert sites["/inherits.crt"]["endpoint"] is None and sites["/inherits.crt"]["error"]["code"] == "NO_PROBE_NAME"


def test_what_a_probe_can_send_and_where_the_default_is_not_known():
    """From a review against real nginx 1.22 and Apache 2.4 (openssl s_client as the reference): an IP address is
    no SNI (Python sends none for one, so the probe got the default server's certificate), nginx's `$hostname` is
    this machine's name, a listen written with a host name may be another address's socket (nginx and Apache
    resolve it when they start), a default server on such a socket is probed with no SNI at all (the host name was
    sent as one), and NO_PROBE_NAME is kept where a key or chain path is only known at run time (it was replaced by
    DYNAMIC_PATH, and the role planned a push)."""
    import socket

    sites = _discover.nginx_sites("/n.conf", _confread.FileSource({"/n.conf": """http {
        server { listen 1 ssl; server_name a.test; ssl_certificate /a.crt; }
        server { listen 1 ssl; server_name 127.0.0.1; ssl_certificate /ip.crt; }
        server { listen 1 ssl; server_name $hostname; ssl_certificate /host.crt; }
        server { listen 1 ssl; ssl_certificate /dyn.crt; ssl_certificate_key /k/$ssl_server_name.key; }
        server { listen 127.0.0.1:2 ssl; server_name b.test; ssl_certificate /b.crt; }
        server { listen localhost:2 ssl; ssl_certificate /named-socket.crt; }
        server { listen localhost:3 ssl; ssl_certificate /alone.crt; }
    }"""}))
    by_file = {s["cert_file"]: s for s in sites}
    assert by_file["/ip.crt"]["endpoint"] is None and by_file["/ip.crt"]["error"]["code"] == "NO_PROBE_NAME"
    assert by_file["/host.crt"]["endpoint"]["server_name"] == socket.gethostname().lower()
    assert by_file["/dyn.crt"]["endpoint"] is None and by_file["/dyn.crt"]["error"]["code"] == "NO_PROBE_NAME"
    # localhost:2 is 127.0.0.1:2 (resolved, as nginx does when it starts), whose default is b.test's server
    assert by_file["/named-socket.crt"]["endpoint"] is None
    assert "127.0.0.1:2" in by_file["/named-socket.crt"]["error"]["message"]
    assert by_file["/b.crt"]["endpoint"]["server_name"] == "b.test"
    assert by_file["/alone.crt"]["endpoint"] == {"host": "localhost", "port": 3, "server_name": None}

    conf = _apache_conf(
        "ServerName main.test\n",
        ("*:1", "/a.crt", "ServerName main.test", "ServerName a.test"),
        ("*:1", "/inherits.crt"),
        ("*:2", "/q.crt", "ServerName q.test", "ServerAlias main.test"),
        ("*:3", "/c.crt", "ServerName c.test"),
        ("*:2 *:3", "/two.crt"),
        ("*:4", "/same.crt"),
        ("*:4", "/same.crt"),
        ("*:5", "/d.crt", "ServerName d.test"),
        ("*:5", "/u.crt", "ServerName _", "SSLCertificateChainFile ${NOPE}/chain.pem"))
    sites = _discover.apache_sites("/a.conf", _confread.FileSource({"/a.conf": conf}))
    by_file = {}
    for site in sites:
        by_file.setdefault(site["cert_file"], []).append(site)
    # Apache keeps the last ServerName: main.test is the next VirtualHost's, which inherits it
    assert by_file["/a.crt"][0]["server_names"] == ["a.test"]
    assert by_file["/inherits.crt"][0]["endpoint"]["server_name"] == "main.test"
    # port 2's main.test is q.test's alias; port 3's is free: probed there
    assert by_file["/two.crt"][0]["endpoint"]["port"] == 3
    assert by_file["/two.crt"][0]["endpoint"]["server_name"] == "main.test"
    # two equal VirtualHosts: the first takes the name, the second is not reached
    assert [(s["endpoint"] or {}).get("server_name") for s in by_file["/same.crt"]] == ["main.test", None]
    assert by_file["/same.crt"][1]["error"]["code"] == "NO_PROBE_NAME"
    assert by_file["/u.crt"][0]["endpoint"] is None and by_file["/u.crt"][0]["error"]["code"] == "NO_PROBE_NAME"


def test_a_second_review_host_named_sockets_any_wildcard_and_names_taken_first():
    """From a second review against real nginx and Apache: a listen on `localhost:P` takes 127.0.0.1:P from the
    servers of the wildcard (they were probed there and got its certificate); an Apache VirtualHost inherits the main
    ServerName when any of its addresses is `*`; a named VirtualHost whose names an earlier one of its address takes
    (the same name, inherited or not, or a ServerAlias wildcard) is not reached by them."""
    sites = _discover.nginx_sites("/n.conf", _confread.FileSource({"/n.conf": """http {
        server { listen localhost:1 ssl; server_name lh.test; ssl_certificate /lh.crt; }
        server { listen 1 ssl; server_name ""; ssl_certificate /b.crt; }
        server { listen 1 ssl; server_name wn.test; ssl_certificate /c.crt; }
        server { listen localhost:2 ssl; ssl_certificate /first.crt; }
        server { listen 127.0.0.1:2 ssl; server_name n.test; ssl_certificate /n.crt; }
    }"""}))
    endpoints = {s["cert_file"]: s["endpoint"] for s in sites}
    assert endpoints["/b.crt"] == {"host": "127.0.0.2", "port": 1, "server_name": None}
    assert endpoints["/c.crt"] == {"host": "127.0.0.2", "port": 1, "server_name": "wn.test"}
    assert endpoints["/first.crt"] == {"host": "localhost", "port": 2, "server_name": None}  # its socket's first

    conf = _apache_conf(
        "ServerName main.test\n",
        ("*:1", "/first.crt", "ServerName first.test"),
        ("127.0.0.2:1 *:1", "/ip-star.crt"),
        ("*:1", "/star.crt"),
        ("*:1", "/takes-main.crt", "ServerName main.test"),
        ("*:2", "/x.crt", "ServerName x.test", "ServerAlias *.x.test"),
        ("*:2", "/www.crt", "ServerName www.x.test"),
        ("*:2", "/other.crt", "ServerName www.x.test", "ServerAlias other.test"),
        ("localhost:3", "/l.crt", "ServerName l.test"),
        ("127.0.0.2:3", "/alone.crt"))
    sites = {s["cert_file"]: s for s in _discover.apache_sites("/a.conf", _confread.FileSource({"/a.conf": conf}))}
    probed = {path: (s["endpoint"]["host"], s["endpoint"]["server_name"]) for path, s in sites.items()
              if s["endpoint"]}
    assert probed == {"/first.crt": ("127.0.0.1", "first.test"), "/ip-star.crt": ("127.0.0.2", "main.test"),
                      "/x.crt": ("127.0.0.1", "x.test"), "/other.crt": ("127.0.0.1", "other.test"),
                      "/l.crt": ("localhost", "l.test"), "/alone.crt": ("127.0.0.2", None)}
    unreached = {path: s["error"] for path, s in sites.items() if not s["endpoint"]}
    assert sorted(unreached) == ["/star.crt", "/takes-main.crt", "/www.crt"]
    assert {e["code"] for e in unreached.values()} == {"NO_PROBE_NAME"}
    assert "taken by earlier" in unreached["/www.crt"]["message"]
