"""How the load balancer view reads what each load balancer does with its configuration, held to the real servers
(HAProxy 2.6, nginx 1.22, Apache 2.4, OpenSSL 3.0): every configuration here is one the load balancer accepts
(`haproxy -c`, `nginx -t`, `apache2 -t`), and a CA directory is read as OpenSSL's own lookup reads it
(`openssl verify -CApath`).

- HAProxy `ca-file <directory>`: the first certificate of each *.pem, *.crt and *.cer file, none starting with a dot;
- Apache `SSLProxyCACertificatePath`: OpenSSL's hashed lookup, <subject hash>.0, .1, ... (shared with the CRL one);
- Apache: a main-server ProxyPass in every VirtualHost with its settings; a <Proxy> section's mod_ssl context from
  the server that defines it; a BalancerMember under its balancer's sections, not its own URL's;
- nginx: upstream names found case-insensitively; proxy_ssl_name's port stripped;
- HAProxy: the checks' transport (check-ssl, no-check-ssl, a check port or addr);
- HAProxy: a relative path without ca-base/crt-base is its working directory's (that of the HAProxy running the
  configuration, else /), not the configuration's directory.
tests/integration/test_lb_config_semantics.py holds the same cases to the running servers' own answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs, _confread, _discover, _lbview
from testlib import pki
from testlib.servers import APACHE_MODULES

ROOT = pki.issue("Semantics Root CA", ca=True, days=3650)
OTHER = pki.issue("Semantics Other CA", ca=True, days=3650)
THIRD = pki.issue("Semantics Third CA", ca=True, days=3650)
LEAF = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])


def _accepted(cmd):
    """Run the load balancer's own config test; the fixture must pass it."""
    if not shutil.which(cmd[0]) and not shutil.which("/usr/sbin/" + cmd[0]):
        pytest.fail("%s is a test dependency (hack/setup.sh installs it)" % cmd[0])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "%s rejects the fixture:\n%s%s" % (cmd[0], proc.stdout, proc.stderr)
    return proc.stdout + proc.stderr


def _apache_modules():
    return "".join("LoadModule %s_module %s/mod_%s.so\n" % (m, APACHE_MODULES, m) for m in (
        "mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "proxy_balancer",
        "lbmethod_byrequests", "slotmem_shm"))


def _apache(tmp_path, body):
    """An apache2.conf Apache accepts around body; its backends as lb_backends reads them."""
    conf = tmp_path / "apache2.conf"
    conf.write_text("ServerRoot %(d)s\nServerName localhost\nPidFile %(d)s/apache.pid\nErrorLog %(d)s/error.log\n"
                    "DefaultRuntimeDir %(d)s\nMutex file:%(d)s default\n%(modules)s%(body)s" % {
                        "d": tmp_path, "modules": _apache_modules(), "body": body})
    _accepted(["apache2", "-t", "-f", str(conf)])
    return _lbview.lb_backends("apache", str(conf))


def _haproxy(tmp_path, body):
    conf = tmp_path / "haproxy.cfg"
    conf.write_text("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
                    "frontend fe\n    bind 127.0.0.1:19996\n" + body)  # a listener, or haproxy -c refuses
    out = _accepted(["haproxy", "-c", "-f", str(conf)])
    return conf, out


def _nginx(tmp_path, http_body):
    conf = tmp_path / "nginx.conf"
    conf.write_text("pid %(d)s/nginx.pid;\nerror_log %(d)s/error.log;\nevents { worker_connections 64; }\n"
                    "http {\n%(body)s}\n" % {"d": tmp_path, "body": http_body})
    _accepted(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(conf)])
    return _lbview.lb_backends("nginx", str(conf))


# ---------------------------------------------------------------- 1. HAProxy ca-file <directory>

def _ha_ca_dir(directory):
    directory.mkdir()
    pki.write(directory / "a.pem", ROOT.pem)
    pki.write(directory / "b.PEM", OTHER.pem)  # the case of the extension counts
    pki.write(directory / ".c.pem", OTHER.pem)  # a hidden file is skipped
    pki.write(directory / "d.crt", THIRD.pem + OTHER.pem)  # only the first certificate of a file
    pki.write(directory / "e.pem.bak", OTHER.pem)
    pki.write(directory / "f.der", OTHER.pem)
    pki.write(directory / "ca", OTHER.pem)
    pki.write(directory / "g.txt", OTHER.pem)
    pki.write(directory / "h.cer", LEAF.pem)
    return directory


def test_haproxy_ca_file_directory_holds_what_haproxy_loads(tmp_path):
    """HAProxy 2.6 (ssl_ckch.c) loads from a ca-file directory the first certificate of every file named *.pem,
    *.crt or *.cer (case-sensitive), never one starting with a dot: here the root, the third CA and the leaf, as its
    `show ssl ca-file` lists them (tests/integration/test_lb_config_semantics.py)."""
    ca_dir = _ha_ca_dir(tmp_path / "cas")
    conf, _out = _haproxy(tmp_path, "backend be\n    server s 10.0.0.1:443 ssl verify required ca-file %s\n" % ca_dir)
    (item,) = _lbview.lb_view([("haproxy", str(conf))], probe=False)["lb_backends"]
    assert item["ca_file"] == str(ca_dir)
    assert item["ca_fingerprints"] == [ROOT.fingerprint, THIRD.fingerprint, LEAF.fingerprint]
    assert item["error"] is None


def test_haproxy_ca_file_directory_without_a_loadable_name_is_no_anchor(tmp_path):
    ca_dir = tmp_path / "cas"
    ca_dir.mkdir()
    pki.write(ca_dir / "internal-ca.pem.bak", ROOT.pem)
    conf, out = _haproxy(tmp_path, "backend be\n    server s 10.0.0.1:443 ssl verify required ca-file %s\n" % ca_dir)
    assert "0 CA were loaded" in out  # HAProxy's own word: nothing from that directory
    (item,) = _lbview.lb_view([("haproxy", str(conf))], probe=False)["lb_backends"]
    assert item["ca_fingerprints"] == []
    assert item["error"]["code"] == "NOT_A_CERTIFICATE" and "HAProxy" in item["error"]["message"]


# ---------------------------------------------------------------- 2. Apache SSLProxyCACertificatePath (hashed)

def _hash(issued):
    return _certs.name_hash(issued.cert.subject)


# name -> (files of the directory: {name: content}, whether OpenSSL finds ROOT there)
HASHED = {
    "plain": (lambda h: {"ca.pem": ROOT.pem}, False),  # not rehashed: never opened
    "hashed": (lambda h: {h + ".0": ROOT.pem}, True),
    "after_another": (lambda h: {h + ".0": OTHER.pem + ROOT.pem}, True),  # every certificate of the file is read
    "misfiled_then_right": (lambda h: {h + ".0": OTHER.pem, h + ".1": ROOT.pem}, True),  # .0 loads: go on
    "gap": (lambda h: {h + ".1": ROOT.pem}, False),  # no .0: .1 is never opened
    "junk_first": (lambda h: {h + ".0": "junk\n", h + ".1": ROOT.pem}, False),  # a file it cannot load ends it
    "der_first": (lambda h: {h + ".0": ROOT.der, h + ".1": ROOT.pem}, False),  # PEM lookup: DER cannot load
    "not_lowercase": (lambda h: {h.upper() + ".0": ROOT.pem, "0000000A.0": ROOT.pem}, False),  # %08lx
}


def _openssl_finds(directory, leaf_file):
    proc = subprocess.run(["openssl", "verify", "-no-CAfile", "-no-CAstore", "-CApath", str(directory),
                           str(leaf_file)], capture_output=True, text=True, check=False)
    return proc.returncode == 0


@pytest.mark.parametrize("case", sorted(HASHED))
def test_apache_ca_path_is_read_as_openssl_hashed_lookup_reads_it(tmp_path, case):
    """The anchors of SSLProxyCACertificatePath are the certificates OpenSSL's hashed lookup finds there: the same
    walk as SSLProxyCARevocationPath's (<hash>.0, .1, ... to the first missing or unloadable file), certificates
    whose subject has the file's hash. Each layout is held to `openssl verify -CApath`."""
    files, expected = HASHED[case]
    directory = tmp_path / "cadir"
    directory.mkdir()
    for name, content in files(_hash(ROOT)).items():
        if isinstance(content, bytes):
            (directory / name).write_bytes(content)
        else:
            pki.write(directory / name, content)
    leaf_file = pki.write(tmp_path / "leaf.pem", LEAF.pem)
    assert _openssl_finds(directory, leaf_file) is expected  # OpenSSL's own answer, the reference
    _apache(tmp_path, "SSLProxyEngine on\nSSLProxyVerify require\nSSLProxyCACertificatePath %s\n"
            "ProxyPass /app/ https://backend.test/\n" % directory)
    view = _lbview.lb_view([("apache", str(tmp_path / "apache2.conf"))], probe=False)
    (item,) = view["lb_backends"]
    assert item["ca_path"] == str(directory)
    assert (ROOT.fingerprint in item["ca_fingerprints"]) is expected, item
    assert OTHER.fingerprint not in item["ca_fingerprints"]  # filed under another subject's hash
    if not expected:
        assert item["error"]["code"] == "NOT_A_CERTIFICATE" and "hashed name" in item["error"]["message"]


def test_hashed_walk_is_shared_by_ca_and_crl_directories():
    names = ["0badc0de.0", "0badc0de.1", "0badc0de.3", "0badc0de.r0", "12345678.r0", "12345678.r1", "ca.pem",
             "0BADC0DE.2", "0badc0de.r2"]
    assert _lbview._hashed_files(names, "") == [("0badc0de", "0badc0de.0"), ("0badc0de", "0badc0de.1")]
    assert _lbview._hashed_files(names, "r") == [
        ("0badc0de", "0badc0de.r0"), ("12345678", "12345678.r0"), ("12345678", "12345678.r1")]


# ---------------------------------------------------------------- 3-5. Apache scopes

def test_a_main_server_proxypass_is_judged_in_every_virtualhost(tmp_path):
    """mod_proxy copies the main server's ProxyPass into each VirtualHost, and a request there connects with the
    VirtualHost's SSLProxy* settings. The main server answers no request on 127.0.0.1:P (a VirtualHost holds it):
    no item of its own."""
    pki.write(tmp_path / "other.pem", OTHER.pem)
    items = _apache(tmp_path, """Listen 127.0.0.1:18081
ProxyPass /app/ https://backend.test:8443/
<VirtualHost 127.0.0.1:18081>
    ServerName site.test
    SSLProxyEngine on
    SSLProxyVerify require
    SSLProxyCACertificateFile %(dir)s/other.pem
</VirtualHost>
<VirtualHost 127.0.0.1:18081>
    ServerName plain.test
</VirtualHost>
""" % {"dir": tmp_path})
    assert [i["location"] for i in items] == ["127.0.0.1:18081 /app/", "127.0.0.1:18081 /app/"]
    verifying, plain = items
    assert (verifying["verify"], verifying["ca_file"], verifying["error"]) == (True, str(tmp_path / "other.pem"),
                                                                               None)
    lines = (tmp_path / "apache2.conf").read_text().splitlines()
    # where it is configured: the main server's line, each time
    assert {(i["config_file"], i["line"]) for i in items} == {
        (str(tmp_path / "apache2.conf"), lines.index("ProxyPass /app/ https://backend.test:8443/") + 1)}
    assert verifying["verify_origin"] == "virtualhost"
    assert (plain["verify"], plain["error"]["code"]) == (False, "INVALID_CONFIG")  # no SSLProxyEngine there


@pytest.mark.parametrize("listens, vhost, main_item", [
    ("Listen 127.0.0.1:18081\n", "127.0.0.1:18081", False),
    ("Listen 127.0.0.1:18081\nListen 127.0.0.1:18082\n", "127.0.0.1:18081", True),  # 18082: the main server's
    ("Listen 18081\n", "127.0.0.1:18081", True),  # other local addresses on 18081 reach the main server
    ("Listen 18081\n", "*:18081", False),
    ("Listen 18081\n", "_default_:18081", False),
])
def test_the_main_server_keeps_its_item_where_it_answers_requests(tmp_path, listens, vhost, main_item):
    items = _apache(tmp_path, "%sSSLProxyEngine on\nProxyPass /app/ https://backend.test:8443/\n"
                    "<VirtualHost %s>\n    ServerName site.test\n</VirtualHost>\n" % (listens, vhost))
    assert [i["location"] for i in items] == (["main server /app/"] if main_item else []) + ["%s /app/" % vhost]
    assert all(i["error"] is None for i in items)


def test_without_virtualhosts_a_main_server_proxypass_is_the_main_server_s():
    text = "Listen 8080\nSSLProxyEngine on\nProxyPass /app/ https://backend.test:8443/\n"
    (item,) = _lbview.lb_backends("apache", "/a/apache2.conf", _confread.FileSource({"/a/apache2.conf": text}))
    assert (item["location"], item["error"]) == ("main server /app/", None)


# name -> (configuration body, {what is read: expected}); measured with the running Apache in
# tests/integration/test_lb_config_semantics.py (200 / 500 there).
SECTIONS = {
    # a main-server section: the main server's settings under the section's, not the VirtualHost's
    "main_section_without_engine": ("""<Proxy "https://backend.test:8443/">
    SSLProxyCACertificateFile %(root)s
</Proxy>
<VirtualHost 127.0.0.1:18081>
    SSLProxyEngine on
    SSLProxyVerify require
    SSLProxyCACertificateFile %(other)s
    ProxyPass /app/ https://backend.test:8443/
</VirtualHost>
""", {"verify": False, "ca_file": "root", "error": "INVALID_CONFIG"}),
    "main_section_over_main_not_vhost": ("""SSLProxyEngine on
<Proxy "https://backend.test:8443/">
    SSLProxyCACertificateFile %(other)s
</Proxy>
<VirtualHost 127.0.0.1:18081>
    SSLProxyVerify require
    SSLProxyCACertificateFile %(root)s
    ProxyPass /app/ https://backend.test:8443/
</VirtualHost>
""", {"verify": False, "ca_file": "other", "error": None}),
    "main_section_partial": ("""SSLProxyEngine on
SSLProxyVerify require
SSLProxyCACertificateFile %(other)s
<Proxy "https://backend.test:8443/">
    SSLProxyCACertificateFile %(root)s
</Proxy>
<VirtualHost 127.0.0.1:18081>
    SSLProxyCACertificateFile %(other)s
    ProxyPass /app/ https://backend.test:8443/
</VirtualHost>
""", {"verify": True, "ca_file": "root", "error": None}),
    "main_section_without_ssl_directive_changes_nothing": ("""SSLProxyEngine on
<Proxy "https://backend.test:8443/">
    Require all granted
</Proxy>
<VirtualHost 127.0.0.1:18081>
    SSLProxyVerify require
    SSLProxyCACertificateFile %(other)s
    ProxyPass /app/ https://backend.test:8443/
</VirtualHost>
""", {"verify": True, "ca_file": "other", "error": None}),
    "vhost_section_layers_over_the_vhost": ("""<VirtualHost 127.0.0.1:18081>
    SSLProxyEngine on
    SSLProxyVerify require
    SSLProxyCACertificateFile %(other)s
    <Proxy "https://backend.test:8443/">
        SSLProxyCACertificateFile %(root)s
    </Proxy>
    ProxyPass /app/ https://backend.test:8443/
</VirtualHost>
""", {"verify": True, "ca_file": "root", "error": None}),
    "last_section_with_ssl_wins_whole": ("""SSLProxyEngine on
<VirtualHost 127.0.0.1:18081>
    SSLProxyVerify require
    SSLProxyCACertificateFile %(other)s
    <Proxy "https://backend.test:8443/">
        SSLProxyCACertificateFile %(root)s
    </Proxy>
    <Proxy "https://backend.test">
        SSLProxyCheckPeerName off
    </Proxy>
    ProxyPass /app/ https://backend.test:8443/
</VirtualHost>
""", {"verify": True, "ca_file": "other", "error": None, "name_rule": None}),
    "member_under_its_balancer_not_its_url": ("""<VirtualHost 127.0.0.1:18081>
    SSLProxyEngine on
    SSLProxyVerify require
    SSLProxyCACertificateFile %(root)s
    <Proxy "https://backend.test:8443/">
        SSLProxyCACertificateFile %(other)s
    </Proxy>
    <Proxy "balancer://pool">
        BalancerMember https://backend.test:8443/
    </Proxy>
    ProxyPass /app/ balancer://pool/
</VirtualHost>
""", {"verify": True, "ca_file": "root", "error": None}),
    "member_url_section_alone_does_not_apply": ("""<VirtualHost 127.0.0.1:18081>
    SSLProxyEngine on
    <Proxy "https://backend.test:8443/">
        SSLProxyVerify require
        SSLProxyCACertificateFile %(other)s
    </Proxy>
    <Proxy "balancer://pool">
        BalancerMember https://backend.test:8443/
    </Proxy>
    ProxyPass /app/ balancer://pool/
</VirtualHost>
""", {"verify": False, "ca_file": None, "error": None}),
    "balancer_section_with_ssl_applies_to_members": ("""<VirtualHost 127.0.0.1:18081>
    SSLProxyEngine on
    SSLProxyVerify require
    SSLProxyCACertificateFile %(other)s
    <Proxy "balancer://pool">
        SSLProxyCACertificateFile %(root)s
        BalancerMember https://backend.test:8443/
    </Proxy>
    ProxyPass /app/ balancer://pool/
</VirtualHost>
""", {"verify": True, "ca_file": "root", "error": None}),
}


@pytest.mark.parametrize("case", sorted(SECTIONS))
def test_apache_proxy_sections_apply_as_mod_ssl_builds_them(tmp_path, case):
    body, expected = SECTIONS[case]
    files = {"root": str(pki.write(tmp_path / "root.pem", ROOT.pem)),
             "other": str(pki.write(tmp_path / "other.pem", OTHER.pem))}
    (item,) = _apache(tmp_path, "Listen 127.0.0.1:18081\n" + body % files)
    assert item["location"] == "127.0.0.1:18081 /app/"
    read = {"verify": item["verify"], "ca_file": {v: k for k, v in files.items()}.get(item["ca_file"]),
            "error": (item["error"] or {}).get("code")}
    if "name_rule" in expected:
        read["name_rule"] = item["name_rule"]
    assert read == expected


# ---------------------------------------------------------------- 6-7. nginx

def test_nginx_finds_an_upstream_whatever_the_case_of_its_name(tmp_path):
    items = _nginx(tmp_path, """    upstream App_Pool { server 127.0.0.1:8443; server 127.0.0.2:8443; }
    server {
        listen 127.0.0.1:18080;
        location / {
            proxy_pass https://app_pool;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
        }
    }
""" % pki.write(tmp_path / "ca.pem", ROOT.pem))
    assert [(i["source"], i["pool"], i["address"], i["port"]) for i in items] == [
        ("upstream", "app_pool", "127.0.0.1", 8443), ("upstream", "app_pool", "127.0.0.2", 8443)]
    assert {i["verify_name"] for i in items} == {"app_pool"}  # $proxy_host: the name as proxy_pass writes it


@pytest.mark.parametrize("name, sni, verify_name", [
    ("app.internal:8443", "app.internal", "app.internal"),
    ("app.internal", "app.internal", "app.internal"),
    ("app.internal:$server_port", "app.internal", "app.internal"),  # the variable is cut off with the port
    ("$host:8443", {"dynamic": "$host:8443"}, {"dynamic": "$host:8443"}),
    ("10.0.0.1:8443", None, "10.0.0.1"),  # never an IP literal as SNI
    ("[::1]:8443", None, "[::1]"),  # the bracket kept, as nginx keeps it: no SNI
    ("::1", None, "::1"),  # cut to nothing: no SNI, and OpenSSL checks the whole value (length 0 is strlen)
])
def test_nginx_strips_the_port_of_proxy_ssl_name(tmp_path, name, sni, verify_name):
    (item,) = _nginx(tmp_path, """    server {
        listen 127.0.0.1:18080;
        location / {
            proxy_pass https://127.0.0.1:8443;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
            proxy_ssl_server_name on;
            proxy_ssl_name %s;
        }
    }
""" % (pki.write(tmp_path / "ca.pem", ROOT.pem), name))
    assert (item["sni"], item["verify_name"]) == (sni, verify_name)


# ---------------------------------------------------------------- 8. HAProxy checks' transport

@pytest.mark.parametrize("params, tls", [
    ("ssl check", True),  # the traffic's transport
    ("ssl check no-check-ssl", False),  # plain TCP checks
    ("ssl check check-ssl", True),
    ("ssl check port 8444", False),  # a check port: plain unless check-ssl
    ("ssl check addr 127.0.0.2", False),
    ("ssl check port 8444 check-ssl", True),
    ("ssl check addr 127.0.0.2 check-ssl", True),
    ("ssl check check-ssl no-check-ssl", False),  # a later keyword wins
    ("ssl", False),  # no checks at all
])
def test_haproxy_checks_run_over_tls_as_haproxy_decides(tmp_path, params, tls):
    ca = pki.write(tmp_path / "ca.pem", ROOT.pem)
    conf, _out = _haproxy(tmp_path, "backend be\n    server s 127.0.0.1:8443 verify required ca-file %s "
                          "check-sni backend.test sni str(traffic.test) %s\n" % (ca, params))
    (item,) = _lbview.lb_backends("haproxy", str(conf))
    assert item["health_check"]["tls"] is tls
    assert item["health_check"]["sni"] == ("backend.test" if tls else None)
    # judged on the checks' name when they run over TLS, else on the traffic's
    assert _lbview.verify_options(item)["server_names"] == ["backend.test" if tls else "traffic.test"]
    assert _lbview.probe_target(item)["server_name"] == ("backend.test" if tls else "traffic.test")


def test_haproxy_no_check_ssl_in_a_server_undoes_the_default_server_s_check_ssl(tmp_path):
    ca = pki.write(tmp_path / "ca.pem", ROOT.pem)
    conf, _out = _haproxy(tmp_path, "backend be\n    default-server ssl verify required ca-file %s check check-ssl "
                          "check-sni backend.test\n    server s1 127.0.0.1:8443 no-check-ssl\n"
                          "    server s2 127.0.0.1:8444\n" % ca)
    by = {i["server"]: i["health_check"]["tls"] for i in _lbview.lb_backends("haproxy", str(conf))}
    assert by == {"s1": False, "s2": True}


# ---------------------------------------------------------------- HAProxy: relative paths

def _fake_process(proc, pid, args, cwd):
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in args) + b"\0")
    (proc / str(pid) / "cwd").symlink_to(cwd)


def test_haproxy_resolves_a_relative_ca_file_against_its_working_directory(tmp_path):
    # The reference: haproxy -c run from the configuration's directory accepts `ca-file ca.pem`; run from / (as its
    # systemd unit runs it) it cannot open it. The collection read it against the configuration's directory.
    confdir = tmp_path / "conf"
    confdir.mkdir()
    pki.write(confdir / "ca.pem", ROOT.pem)
    conf = confdir / "haproxy.cfg"
    conf.write_text("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
                    "frontend fe\n    bind 127.0.0.1:19996\n    default_backend be\n"
                    "backend be\n    server s1 10.0.0.1:443 ssl verify required ca-file ca.pem\n")
    here, root = (subprocess.run(["haproxy", "-c", "-f", str(conf)], cwd=cwd, capture_output=True, text=True,
                                 check=False) for cwd in (str(confdir), "/"))
    assert here.returncode == 0, here.stdout + here.stderr
    assert root.returncode != 0 and "ca.pem" in root.stdout + root.stderr
    (item,) = _lbview.lb_backends("haproxy", str(conf))
    assert item["ca_file"] == "/ca.pem"  # no HAProxy runs this configuration: /, as under systemd


def test_haproxy_workdir_is_that_of_the_haproxy_running_the_configuration(tmp_path):
    proc, conf = tmp_path / "proc", tmp_path / "etc" / "haproxy.cfg"
    conf.parent.mkdir()
    conf.write_text("")
    (tmp_path / "srv").mkdir()
    _fake_process(proc, 10, ["/usr/bin/python3", "-f", str(conf)], str(tmp_path))  # not an HAProxy
    _fake_process(proc, 11, ["/usr/sbin/haproxy", "-f", "/elsewhere.cfg"], "/var")  # another configuration
    assert _confread.haproxy_workdir(str(conf), proc=str(proc)) == "/"
    _fake_process(proc, 12, ["/usr/sbin/haproxy", "-Ws", "-f", "etc/haproxy.cfg", "-p", "/run/h.pid"],
                  str(tmp_path))  # relative -f, against its own working directory
    assert _confread.haproxy_workdir(str(conf), proc=str(proc)) == str(tmp_path)
    proc2 = tmp_path / "proc2"
    _fake_process(proc2, 20, ["haproxy", "-f" + str(conf.parent)], str(tmp_path / "srv"))  # a directory, -f<dir>
    assert _confread.haproxy_workdir(str(conf), proc=str(proc2)) == str(tmp_path / "srv")
    assert _confread.haproxy_workdir(str(conf), proc=str(tmp_path / "no-proc")) == "/"


@pytest.mark.parametrize("default_path,where", [
    ("config", "conf"), ("parent", "."), ("origin %(tmp)s/elsewhere", "elsewhere"), ("current", "/")])
def test_haproxy_default_path_sets_the_base_of_relative_paths(tmp_path, default_path, where):
    # global default-path: haproxy -c run from / finds `ca-file ca.pem` where it says (the working directory only
    # for `current`, HAProxy's default); the collection reads it there, and discovery reads `crt` there too
    for sub in ("conf", "elsewhere"):
        (tmp_path / sub).mkdir()
    for directory in (tmp_path / "conf", tmp_path, tmp_path / "elsewhere"):
        pki.write(directory / "ca.pem", ROOT.pem)
        pki.write(directory / "site.pem", LEAF.pem + LEAF.key_pem())
    conf = tmp_path / "conf" / "haproxy.cfg"
    conf.write_text("global\n    default-path %s\n" % (default_path % {"tmp": tmp_path})
                    + "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
                    "frontend fe\n    bind 127.0.0.1:19996 ssl crt site.pem\n    default_backend be\n"
                    "backend be\n    server s1 10.0.0.1:443 ssl verify required ca-file ca.pem\n")
    said = subprocess.run(["haproxy", "-c", "-f", str(conf)], cwd="/", capture_output=True, text=True, check=False)
    base = "/" if where == "/" else str((tmp_path / where).resolve())
    assert (said.returncode == 0) == (where != "/"), said.stdout + said.stderr
    (item,) = _lbview.lb_backends("haproxy", str(conf))
    assert item["ca_file"] == os.path.join(base, "ca.pem")
    (site,) = _discover.haproxy_sites(str(conf), _confread.FileSource())
    assert site["cert_file"] == os.path.join(base, "site.pem")
