"""Config parsers: nginx (dump and file tree), Apache (Include trees, VirtualHost), HAProxy (crt, crt-list)."""

from __future__ import annotations

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _discover
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
    assert _discover.split_nginx_dump(dump) == _nginx_files()


@pytest.mark.parametrize("via", ["dump", "filesystem"])
def test_nginx_sites(tmp_path, via):
    if via == "dump":
        source, main = _discover.FileSource(_nginx_files()), "/etc/nginx/nginx.conf"
    else:
        (tmp_path / "conf.d").mkdir()
        (tmp_path / "nginx.conf").write_text(NGINX_MAIN)
        (tmp_path / "conf.d" / "site.conf").write_text(NGINX_SITE)
        source, main = _discover.FileSource(), str(tmp_path / "nginx.conf")
    prefix = main.rsplit("/", 1)[0]
    shop, inherit = _discover.nginx_sites(main, source)
    assert shop == {
        "name": "nginx-shop.test", "server_type": "nginx", "config_file": main,
        "server_names": ["shop.test", "www.shop.test", "~^regex$"], "listen": ["127.0.0.1:8443", "[::]:8443"],
        "cert_file": prefix + "/certs/shop.crt", "key_file": "/etc/ssl/shop.key", "chain_file": None,
        "endpoint": {"host": "127.0.0.1", "port": 8443, "server_name": "shop.test"}}
    assert inherit["name"] == "nginx-inherit.test"
    assert inherit["cert_file"] == "/etc/ssl/default.crt" and inherit["key_file"] == "/etc/ssl/default.key"
    assert inherit["endpoint"] == {"host": "127.0.0.1", "port": 9443, "server_name": "inherit.test"}


def test_nginx_include_loop_is_an_error():
    files = {"/n/nginx.conf": "include /n/nginx.conf;"}
    with pytest.raises(CertError) as info:
        _discover.nginx_sites("/n/nginx.conf", _discover.FileSource(files))
    assert "nesting" in info.value.message


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
    api, combined = _discover.apache_sites(str(tmp_path / "apache2.conf"), _discover.FileSource())
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
    sites = _discover.haproxy_sites(str(tmp_path / "haproxy.cfg"), _discover.FileSource())
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
    ("localhost:https", None),
])
def test_parse_listen(value, expected):
    assert _discover.parse_listen(value) == expected


def test_missing_config_is_coded():
    with pytest.raises(CertError) as info:
        _discover.discover("haproxy", "/nonexistent/haproxy.cfg")
    assert info.value.code == "NOT_FOUND"
