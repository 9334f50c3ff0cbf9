"""Cipher and protocol settings read as the load balancers read them, from a differential hunt against a real nginx
and Apache (2026-12-07):

- Apache keeps `SSLProxyCipherSuite TLSv1.3 ...` (the TLS 1.3 suites) and the cipher list of TLS 1.2 and lower as two
  settings: the later line replaced the earlier here, so a backend Apache cannot reach was judged valid.
- nginx's `proxy_ssl_protocols` is a bitmask: two lines at one level add up. The last one alone was read, so a
  backend nginx reaches was NO_COMMON_PROTOCOL.
- A cipher list from which OpenSSL selects no cipher (an unknown name, a TLS 1.3 suite's name, `!ALL`) is a
  configuration nginx, Apache and HAProxy refuse to start with: INVALID_CONFIG, as `nginx -t`, `apache2 -t` and
  `haproxy -c` say. It was the probe's NO_COMMON_CIPHER or NO_COMMON_PROTOCOL.
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, HAProxyLB, NginxLB, ProtocolBackends, free_ports, http_status

ROOT = pki.issue("Cipher Settings Root CA", ca=True, days=3650)
LEAF = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])
BACKENDS = {  # name: (protocols, extra server lines)
    "tls12_aes256": ("TLSv1.2", "        ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384;\n"),
    "tls13_aes256": ("TLSv1.3", "        ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;\n"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "cipher-settings")
    cert, key = pki.write(base / "leaf.crt", LEAF.pem), pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    picked = free_ports(len(BACKENDS) + 2)
    ports, apache_port, nginx_port = dict(zip(BACKENDS, picked)), picked[-2], picked[-1]
    sites = [{"name": name, "port": ports[name], "protocols": protocols, "cert": cert, "key": key, "extra": extra}
             for name, (protocols, extra) in BACKENDS.items()]
    p12, p13 = ports["tls12_aes256"], ports["tls13_aes256"]
    apache = ApacheLB(base / "apache", [apache_port], (
        "SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCheckPeerName off\nSSLProxyCheckPeerExpire off\n"
        "ProxyPass /tls12-list-then-suites/ https://127.0.0.1:%(p12)d/\n"
        "ProxyPass /tls13-suites-then-list/ https://127.0.0.1:%(p13)d/\n"
        "ProxyPass /tls12-default/ https://localhost:%(p12)d/\n"
        "<Proxy https://127.0.0.1:%(p12)d/>\n"
        "    SSLProxyCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256\n"
        "    SSLProxyCipherSuite TLSv1.3 TLS_AES_128_GCM_SHA256\n</Proxy>\n"
        "<Proxy https://127.0.0.1:%(p13)d/>\n"
        "    SSLProxyCipherSuite TLSv1.3 TLS_CHACHA20_POLY1305_SHA256\n"
        "    SSLProxyCipherSuite HIGH\n</Proxy>\n") % {"p12": p12, "p13": p13})
    nginx = NginxLB(base / "nginx", nginx_port, (
        "    server {\n        listen 127.0.0.1:%(n)d;\n"
        "        location /twice/ { proxy_pass https://127.0.0.1:%(p12)d/; proxy_ssl_protocols TLSv1.2; "
        "proxy_ssl_protocols TLSv1.3; }\n"
        "        location /once/ { proxy_pass https://127.0.0.1:%(p12)d/; proxy_ssl_protocols TLSv1.3; }\n"
        "    }\n") % {"n": nginx_port, "p12": p12})
    with contextlib.ExitStack() as running:
        for server in (ProtocolBackends(base / "backends", sites), apache, nginx):
            running.enter_context(server)
        yield {"apache": apache, "nginx": nginx, "apache_port": apache_port, "nginx_port": nginx_port,
               "ports": ports, "base": base}


def _apache_refuses_to_start(apache):
    """Apache does not start, for its cipher list (AH01898 in its error log)."""
    try:
        with pytest.raises(RuntimeError):
            apache.start()
    finally:
        apache.stop()  # had it started after all
    assert "AH01898: Unable to configure permitted SSL ciphers" in (apache.dir / "error.log").read_text()


def _path(item):
    """A backend's location ("main server /tls12-default/", "_ /once/") as its path alone: "tls12-default"."""
    return item["location"].split()[-1].strip("/")


def _by_location(result, port_of):
    """{key: (accepted, the endpoint's error code)}."""
    verdicts = lbjudge.judged(result)
    return {port_of(item): (lbjudge.accepted(item, verdicts.get(index)),
                            ((item["endpoint"] or {}).get("error") or {}).get("code"))
            for index, item in enumerate(result["lb_backends"])}


def test_apaches_tls13_suites_and_cipher_list_are_two_settings(world):
    paths = ("tls12-list-then-suites", "tls13-suites-then-list", "tls12-default")
    statuses = {path: http_status("http://127.0.0.1:%d/%s/" % (world["apache_port"], path)) for path in paths}
    assert statuses == {"tls12-list-then-suites": 500, "tls13-suites-then-list": 500, "tls12-default": 200}, statuses
    result = lbjudge.read({"apache": world["apache"]})
    seen = _by_location(result, _path)
    assert seen == {"tls12-list-then-suites": (False, "NO_COMMON_CIPHER"),
                    "tls13-suites-then-list": (False, "NO_COMMON_CIPHER"),
                    "tls12-default": (True, None)}, seen
    settings = {_path(item): (item["ciphers"], item["ciphersuites"]) for item in result["lb_backends"]}
    assert settings["tls12-list-then-suites"] == ("ECDHE-ECDSA-AES128-GCM-SHA256:!aNULL:!eNULL:!EXP",
                                                  "TLS_AES_128_GCM_SHA256")
    assert settings["tls13-suites-then-list"] == ("HIGH:!aNULL:!eNULL:!EXP", "TLS_CHACHA20_POLY1305_SHA256")


def test_two_proxy_ssl_protocols_lines_at_one_level_add_up(world):
    statuses = {path: http_status("http://127.0.0.1:%d/%s/" % (world["nginx_port"], path))
                for path in ("twice", "once")}
    assert statuses == {"twice": 200, "once": 502}, statuses
    seen = _by_location(lbjudge.read({"nginx": world["nginx"]}), _path)
    assert seen == {"twice": (True, None), "once": (False, "NO_COMMON_PROTOCOL")}, seen


@pytest.mark.parametrize("ciphers", ["FOOBAR", "TLS_AES_128_GCM_SHA256", "!ALL"])
def test_a_cipher_list_openssl_selects_nothing_from_is_a_configuration_the_load_balancer_refuses(world, ciphers,
                                                                                                 tmp_path):
    p12 = world["ports"]["tls12_aes256"]
    nginx = NginxLB(tmp_path / "nginx", world["nginx_port"], (
        "    server {\n        listen 127.0.0.1:%d;\n        location / { proxy_pass https://127.0.0.1:%d/; "
        "proxy_ssl_ciphers %s; }\n    }\n") % (world["nginx_port"], p12, ciphers))
    nginx.write_config()
    apache = ApacheLB(tmp_path / "apache", free_ports(1), (
        "SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCipherSuite %s\nProxyPass / https://127.0.0.1:%d/\n")
        % (ciphers, p12)).write()
    haproxy = HAProxyLB(tmp_path / "haproxy", lbjudge.haproxy_head() + (
        "backend be\n    server s 127.0.0.1:%d ssl verify none ciphers %s\n") % (p12, ciphers)).write()
    for command in (nginx.test_command, ["haproxy", "-c", "-f", str(haproxy.conf)]):
        checked = subprocess.run(command, capture_output=True, text=True, check=False)
        assert checked.returncode != 0, (command, checked)
    _apache_refuses_to_start(apache)  # `apache2 -t` takes the file: Apache refuses the list as it starts
    for lb_type, server in (("nginx", nginx), ("apache", apache), ("haproxy", haproxy)):
        (item,) = lbjudge.read({lb_type: server})["lb_backends"]
        error = item["error"] or (item["endpoint"] or {}).get("error") or {}
        assert error.get("code") == "INVALID_CONFIG" and ciphers in error["message"], (lb_type, item)


def test_a_client_certificate_without_its_key_is_a_configuration_nginx_refuses(world, tmp_path):
    """nginx does not start with proxy_ssl_certificate and no proxy_ssl_certificate_key (the hunt's third finding):
    the entry was the probe's NOT_A_CERTIFICATE."""
    cert = pki.write(tmp_path / "client.crt", LEAF.pem)
    nginx = NginxLB(tmp_path / "nginx", world["nginx_port"], (
        "    server {\n        listen 127.0.0.1:%d;\n        location / { proxy_pass https://127.0.0.1:%d/; "
        "proxy_ssl_certificate %s; }\n    }\n") % (world["nginx_port"], world["ports"]["tls12_aes256"], cert))
    nginx.write_config()
    checked = subprocess.run(nginx.test_command, capture_output=True, text=True, check=False)
    assert checked.returncode != 0 and "proxy_ssl_certificate_key" in checked.stderr, checked
    (item,) = lbjudge.read({"nginx": nginx})["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "proxy_ssl_certificate_key" in item["error"]["message"], item


def test_apache_adds_its_exclusions_to_every_cipher_list(world, tmp_path):
    """mod_ssl appends :!aNULL:!eNULL:!EXP to each SSLProxyCipherSuite list: `eNULL`, which OpenSSL and nginx take,
    leaves Apache no cipher, and it does not start (from a review of the hunt's fixes)."""
    apache = ApacheLB(tmp_path / "apache", free_ports(1), (
        "SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCipherSuite eNULL\nProxyPass / https://127.0.0.1:%d/\n")
        % world["ports"]["tls12_aes256"]).write()
    _apache_refuses_to_start(apache)
    (item,) = lbjudge.read({"apache": apache})["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "eNULL:!aNULL:!eNULL:!EXP" in item["error"]["message"], item
