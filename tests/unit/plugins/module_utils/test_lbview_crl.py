"""The load balancer view's certificate revocation lists (_lbview): HAProxy crl-file, nginx proxy_ssl_crl, Apache
SSLProxyCARevocationFile / Path / Check, read from configurations the real binaries accept.

Each fixture configuration is first checked with the load balancer itself (`haproxy -c`, `nginx -t`, `apache2 -t`),
with real CRLs built here with cryptography's CertificateRevocationListBuilder: HAProxy loads every crl-file while
checking, nginx those of the locations that verify, Apache checks that each file and directory exists. Then each
backend's CRL settings are asserted (inheritance, relative paths, Apache's leaf / chain / none / no_crl_for_cert_ok),
and what lb_view reads of them: `crl_fingerprints` in file order, the result's `crls` (one entry per distinct CRL,
its PEM unless include_pem is false), `verify_options` and the coded errors of a CRL that cannot be used.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs, _confread, _lbview
from testlib import pki
from testlib.servers import APACHE_MODULES


def _crl(issuer, revoked=(), days=7):
    """A CRL signed by issuer (a pki.Issued), revoking these serial numbers."""
    return pki.crl(issuer, revoked, following=days)


def _pem(crl):
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def _der(crl):
    return crl.public_bytes(serialization.Encoding.DER)


def _sha(crl):
    return _certs.fingerprint(_der(crl))


@pytest.fixture(scope="module")
def pkis():
    """One CA (root + intermediate) and its CRLs: the root's (nothing revoked), the intermediate's (two revoked) and
    a later one of the intermediate (one revoked)."""
    ca = pki.CA("Crl")
    return {"ca": ca, "root": _crl(ca.root), "int": _crl(ca.intermediate, revoked=(1001, 1002)),
            "int2": _crl(ca.intermediate, revoked=(1003,), days=30)}


def _write_material(base, pkis):
    """The files the configurations name, under base: ca/root.pem, ca/both.crl (the root's CRL, a certificate block
    the CRL readers pass over, the intermediate's CRL), ca/int.crl, root.crl (outside ca/), and crl.d, a hashed
    directory as Apache reads it (<hash>.r0 CRLs and a <hash>.0 CA certificate)."""
    ca = pkis["ca"]
    (base / "ca").mkdir(exist_ok=True)
    pki.write(base / "ca" / "root.pem", ca.root.pem)
    pki.write(base / "ca" / "both.crl", _pem(pkis["root"]) + ca.root.pem + _pem(pkis["int"]))
    pki.write(base / "ca" / "int.crl", _pem(pkis["int"]))
    pki.write(base / "root.crl", _pem(pkis["root"]))
    (base / "crl.d").mkdir(exist_ok=True)
    root_hash, int_hash = _certs.name_hash(ca.root.cert.subject), _certs.name_hash(ca.intermediate.cert.subject)
    pki.write(base / "crl.d" / ("%s.r0" % root_hash), _pem(pkis["root"]))
    pki.write(base / "crl.d" / ("%s.r0" % int_hash), _pem(pkis["int2"]))
    pki.write(base / "crl.d" / ("%s.0" % root_hash), ca.root.pem)  # a CA certificate sharing the directory
    # what OpenSSL's hashed lookup never opens: another name, a number after a gap, a CRL under another's hash
    pki.write(base / "crl.d" / "crl.pem", _pem(pkis["int"]))
    pki.write(base / "crl.d" / ("%s.r2" % int_hash), _pem(pkis["int"]))
    pki.write(base / "crl.d" / ("%s.r1" % root_hash), _pem(pkis["int"]))
    return base


def _accepted(cmd):
    """Run the load balancer's own config test; the fixture must pass it."""
    if not shutil.which(cmd[0]) and not shutil.which("/usr/sbin/" + cmd[0]):
        pytest.fail("%s is a test dependency (hack/setup.sh installs it)" % cmd[0])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "%s rejects the fixture:\n%s%s" % (cmd[0], proc.stdout, proc.stderr)


def _crl_keys(item):
    return {k: item[k] for k in ("crl_file", "crl_path", "crl_check", "crl_missing_ok")}


# ---------------------------------------------------------------- HAProxy

HAPROXY = """global
    ca-base %(dir)s/ca

defaults base
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    default-server ssl verify required ca-file root.pem crl-file both.crl

backend be_crl from base
    server inherited 10.0.0.1:443
    default-server crl-file %(dir)s/root.crl
    server absolute 10.0.0.2:443
    server own 10.0.0.3:443 crl-file int.crl
    server noverify 10.0.0.4:443 verify none
    server plain 10.0.0.5:80 no-ssl

defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s

listen be_plain
    bind 127.0.0.1:19997
    server nocrl 10.0.0.6:443 ssl verify required ca-file root.pem
"""


def _haproxy(tmp_path, pkis):
    _write_material(tmp_path, pkis)
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(HAPROXY % {"dir": tmp_path})
    _accepted(["haproxy", "-c", "-q", "-f", str(conf)])
    return conf


def test_haproxy_crl_file_is_inherited_and_relative_to_ca_base(tmp_path, pkis):
    conf = _haproxy(tmp_path, pkis)
    by = {i["server"]: i for i in _lbview.lb_backends("haproxy", str(conf))}
    ca = tmp_path / "ca"
    # defaults' default-server, relative to ca-base (as ca-file); a default-server line in the backend replaces it
    # for the servers below it; the server line wins over both.
    assert _crl_keys(by["inherited"]) == {"crl_file": str(ca / "both.crl"), "crl_path": None, "crl_check": "chain",
                                          "crl_missing_ok": False}
    assert by["absolute"]["crl_file"] == str(tmp_path / "root.crl")
    assert (by["own"]["crl_file"], by["own"]["crl_check"]) == (str(ca / "int.crl"), "chain")
    # verify none: HAProxy keeps the file but checks nothing against it.
    assert (by["noverify"]["crl_file"], by["noverify"]["crl_check"]) == (str(tmp_path / "root.crl"), "none")
    assert _crl_keys(by["plain"]) == {"crl_file": None, "crl_path": None, "crl_check": "none", "crl_missing_ok": False}
    assert _crl_keys(by["nocrl"]) == {"crl_file": None, "crl_path": None, "crl_check": "none",
                                      "crl_missing_ok": False}  # a plain defaults section: nothing inherited
    assert all(i["error"] is None for i in by.values()), [i["error"] for i in by.values()]


def test_haproxy_view_reads_each_crl_once_and_describes_it(tmp_path, pkis, monkeypatch):
    conf = _haproxy(tmp_path, pkis)
    reads = []
    load = _certs.load_crls
    monkeypatch.setattr(_certs, "load_crls", lambda data: reads.append(data) or load(data))
    view = _lbview.lb_view([("haproxy", str(conf))], probe=False)
    by = {i["server"]: i for i in view["lb_backends"]}
    root, inter = _sha(pkis["root"]), _sha(pkis["int"])
    assert by["inherited"]["crl_fingerprints"] == [root, inter]  # file order; the certificate block passed over
    assert by["absolute"]["crl_fingerprints"] == [root]
    assert by["own"]["crl_fingerprints"] == [inter]
    assert by["noverify"]["crl_fingerprints"] == [root]
    assert by["nocrl"]["crl_fingerprints"] is None and by["plain"]["crl_fingerprints"] is None
    assert len(reads) == 3  # both.crl, root.crl, int.crl: once each, whatever the number of servers naming them
    # One entry per distinct CRL, in the order first read, with its PEM as OpenSSL writes it.
    assert view["crls"] == [
        dict(_certs.crl_facts(_der(pkis["root"]), pkis["root"]), pem=_pem(pkis["root"])),
        dict(_certs.crl_facts(_der(pkis["int"]), pkis["int"]), pem=_pem(pkis["int"]))]
    assert [(c["issuer"], c["revoked"]) for c in view["crls"]] == [
        ("CN=Crl Root CA", 0), ("CN=Crl Intermediate CA", 2)]
    assert view["crls"][1]["next_update"] > view["crls"][1]["last_update"]
    options = by["inherited"]["verify_options"]
    assert (options["crl_check"], options["crl_missing_ok"], options["check_chain"]) == ("chain", False, True)
    assert (by["noverify"]["verify_options"]["crl_check"], by["noverify"]["verify_options"]["check_chain"]) == (
        "none", False)
    assert by["plain"]["verify_options"] is None
    assert view["summary"]["errors"] == 0


def test_include_pem_false_leaves_the_pem_out(tmp_path, pkis):
    conf = _haproxy(tmp_path, pkis)
    crls = _lbview.lb_view([("haproxy", str(conf))], probe=False, include_pem=False)["crls"]
    assert [sorted(c) for c in crls] == [["issuer", "last_update", "next_update", "revoked", "sha256"]] * 2
    assert [c["sha256"] for c in crls] == [_sha(pkis["root"]), _sha(pkis["int"])]


def test_haproxy_relative_crl_file_without_ca_base_and_a_dynamic_one():
    text = ("backend be\n    server rel 10.0.0.1:443 ssl verify required ca-file /ca.pem crl-file crl/x.pem\n"
            '    server dyn 10.0.0.2:443 ssl verify required ca-file /ca.pem crl-file "${CRL}"\n'
            "    server at 10.0.0.3:443 ssl verify required ca-file /ca.pem crl-file @system-ca\n")
    source = _confread.FileSource({"/etc/haproxy/haproxy.cfg": text})
    by = {i["server"]: i for i in _lbview.lb_backends("haproxy", "/etc/haproxy/haproxy.cfg", source)}
    # relative without ca-base: HAProxy's working directory (/ under systemd; no HAProxy runs this configuration
    # here), not the configuration's (test_lbview_semantics holds the rule to haproxy -c)
    assert (by["rel"]["crl_file"], by["rel"]["error"]) == ("/crl/x.pem", None)
    # An environment variable: known to HAProxy only at run time, as a dynamic ca-file; the check is still on.
    dyn = by["dyn"]
    assert (dyn["crl_file"], dyn["crl_check"], dyn["error"]["code"]) == (None, "chain", "DYNAMIC_PATH")
    assert "crl-file" in by["dyn"]["error"]["message"]
    assert by["at"]["crl_file"] == "/@system-ca"  # no system store for CRLs: a relative name


# ---------------------------------------------------------------- nginx

NGINX = """pid %(dir)s/nginx-crl.pid;
events { worker_connections 64; }
http {
    proxy_ssl_trusted_certificate ca/root.pem;
    proxy_ssl_verify on;
    proxy_ssl_crl ca/both.crl;
    server {
        listen 127.0.0.1:19180;
        location /http/ { proxy_pass https://10.0.0.1; }
        location /loc/ { proxy_ssl_crl %(dir)s/root.crl; proxy_pass https://10.0.0.2; }
        location /off/ { proxy_ssl_verify off; proxy_pass https://10.0.0.3; }
        location /nocrl/ { proxy_ssl_crl ""; proxy_pass https://10.0.0.4; }
        location /plain/ { proxy_pass http://10.0.0.5; }
    }
    server {
        listen 127.0.0.1:19181;
        proxy_ssl_crl ca/int.crl;
        location /outer/ {
            location /outer/inner/ { proxy_pass https://10.0.0.6; }
        }
    }
}
"""


def _nginx(tmp_path, pkis):
    _write_material(tmp_path, pkis)
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX % {"dir": tmp_path})
    _accepted(["nginx", "-t", "-q", "-c", str(conf), "-e", str(tmp_path / "error.log")])
    return conf


def test_nginx_proxy_ssl_crl_is_inherited_http_server_location(tmp_path, pkis):
    conf = _nginx(tmp_path, pkis)
    view = _lbview.lb_view([("nginx", str(conf))], probe=False)
    by = {i["location"].split()[-1]: i for i in view["lb_backends"]}
    assert sorted(by) == ["/http/", "/loc/", "/nocrl/", "/off/", "/outer/inner/", "/plain/"]
    root, inter = _sha(pkis["root"]), _sha(pkis["int"])
    # http level, relative to the configuration's directory (nginx's prefix), as proxy_ssl_trusted_certificate
    assert _crl_keys(by["/http/"]) == {"crl_file": str(tmp_path / "ca" / "both.crl"), "crl_path": None,
                                       "crl_check": "chain", "crl_missing_ok": False}
    assert by["/http/"]["crl_fingerprints"] == [root, inter]
    assert (by["/loc/"]["crl_file"], by["/loc/"]["crl_fingerprints"]) == (str(tmp_path / "root.crl"), [root])
    # proxy_ssl_verify off: nginx does not even load the CRL; the path is still what is configured.
    assert (by["/off/"]["crl_file"], by["/off/"]["crl_check"]) == (str(tmp_path / "ca" / "both.crl"), "none")
    assert by["/off/"]["verify_options"]["crl_check"] == "none"
    assert _crl_keys(by["/nocrl/"]) == {"crl_file": None, "crl_path": None, "crl_check": "none",
                                        "crl_missing_ok": False}  # "" undoes the inherited one
    assert by["/nocrl/"]["crl_fingerprints"] is None
    assert (by["/plain/"]["crl_file"], by["/plain/"]["crl_check"], by["/plain/"]["verify_options"]) == (
        None, "none", None)
    inner = by["/outer/inner/"]  # server level, through a location into a nested one
    assert (inner["crl_file"], inner["crl_check"], inner["crl_fingerprints"]) == (
        str(tmp_path / "ca" / "int.crl"), "chain", [inter])
    assert inner["verify_options"]["crl_check"] == "chain" and inner["verify_options"]["crl_missing_ok"] is False
    assert [c["sha256"] for c in view["crls"]] == [root, inter]
    assert all(i["error"] is None for i in view["lb_backends"])


def test_nginx_crl_with_a_dollar_is_a_file_of_that_name():
    """nginx 1.22 takes no variables in proxy_ssl_crl (nor in proxy_ssl_trusted_certificate): a `$` is part of the
    file's name, which nginx loads (tests/integration/test_lb_nginx_review_2026_12_07.py, dollar_crl). Until
    2026-12-07 such a path was dropped, as if it held a variable."""
    text = ("events {}\nhttp {\n server {\n  location / {\n   proxy_ssl_verify on;\n"
            "   proxy_ssl_trusted_certificate /ca.pem;\n   proxy_ssl_crl /crl/$host.pem;\n"
            "   proxy_pass https://10.0.0.1;\n  }\n }\n}\n")
    (item,) = _lbview.lb_backends("nginx", "/n/nginx.conf", _confread.FileSource({"/n/nginx.conf": text}))
    assert (item["crl_file"], item["crl_check"]) == ("/crl/$host.pem", "chain")


# ---------------------------------------------------------------- Apache

APACHE = """ServerRoot %(dir)s
ServerName localhost
PidFile %(dir)s/apache-crl.pid
ErrorLog %(dir)s/apache-crl.log
%(modules)s
Listen 127.0.0.1:19191
Listen 127.0.0.1:19192
Listen 127.0.0.1:19193
SSLProxyCACertificateFile ca/root.pem
SSLProxyCARevocationCheck chain
<VirtualHost 127.0.0.1:19191>
    SSLProxyEngine on
    SSLProxyVerify require
    SSLProxyCARevocationFile ca/both.crl
    ProxyPass /main/ https://10.0.0.1/
    ProxyPass /leaf/ https://leaf.test/
    <Proxy "https://leaf.test/">
        SSLProxyCARevocationCheck LEAF No_CRL_For_Cert_OK
        SSLProxyCARevocationFile %(dir)s/root.crl
    </Proxy>
</VirtualHost>
<VirtualHost 127.0.0.1:19192>
    SSLProxyEngine on
    SSLProxyVerify require
    SSLProxyCARevocationPath crl.d
    ProxyPass /b/ balancer://pool/
    <Proxy balancer://pool>
        BalancerMember https://10.0.0.2
        SSLProxyCARevocationCheck none
    </Proxy>
    ProxyPass /vh/ https://10.0.0.3/
</VirtualHost>
<VirtualHost 127.0.0.1:19193>
    SSLProxyEngine on
    SSLProxyCARevocationFile ca/int.crl
    SSLProxyCARevocationCheck chain no_crl_for_cert_ok
    ProxyPass /nv/ https://nv.test/
    ProxyPass /plain/ http://10.0.0.4/
</VirtualHost>
"""


def _apache(tmp_path, pkis):
    _write_material(tmp_path, pkis)
    modules = "".join("LoadModule %s_module %s/mod_%s.so\n" % (m, APACHE_MODULES, m) for m in (
        "mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "proxy_balancer",
        "lbmethod_byrequests", "slotmem_shm"))
    conf = tmp_path / "apache2.conf"
    conf.write_text(APACHE % {"dir": tmp_path, "modules": modules})
    _accepted(["apache2", "-t", "-f", str(conf)])
    return conf


def test_apache_revocation_file_path_and_check_through_its_scopes(tmp_path, pkis):
    conf = _apache(tmp_path, pkis)
    view = _lbview.lb_view([("apache", str(conf))], probe=False)
    by = {i["location"].split()[-1]: i for i in view["lb_backends"]}
    assert sorted(by) == ["/b/", "/leaf/", "/main/", "/nv/", "/plain/", "/vh/"]
    root, inter, inter2 = _sha(pkis["root"]), _sha(pkis["int"]), _sha(pkis["int2"])
    # The check from the main server, the file from the VirtualHost, relative to ServerRoot.
    main = by["/main/"]
    assert _crl_keys(main) == {"crl_file": str(tmp_path / "ca" / "both.crl"), "crl_path": None,
                               "crl_check": "chain", "crl_missing_ok": False}
    assert main["crl_fingerprints"] == [root, inter]
    assert (main["verify_options"]["crl_check"], main["verify_options"]["crl_missing_ok"]) == ("chain", False)
    # A <Proxy> section: its own file and check; mod_ssl reads the mode and the flag case-insensitively.
    leaf = by["/leaf/"]
    assert _crl_keys(leaf) == {"crl_file": str(tmp_path / "root.crl"), "crl_path": None, "crl_check": "leaf",
                               "crl_missing_ok": True}
    assert leaf["crl_fingerprints"] == [root]
    assert (leaf["verify_options"]["crl_check"], leaf["verify_options"]["crl_missing_ok"]) == ("leaf", True)
    # A balancer member: the VirtualHost's hashed directory as OpenSSL's lookup reads it (the CRLs under their
    # issuers' hashed names, in hash order; the CA certificate, crl.pem, the .r2 after a gap and the intermediate's
    # CRL filed under the root's hash passed over), the balancer section's check none.
    member = by["/b/"]
    assert (member["server"], member["source"]) == ("https://10.0.0.2", "BalancerMember")
    assert _crl_keys(member) == {"crl_file": None, "crl_path": str(tmp_path / "crl.d"), "crl_check": "none",
                                 "crl_missing_ok": False}
    assert member["crl_fingerprints"] == [inter2, root]
    assert member["verify_options"]["crl_check"] == "none"
    assert (by["/vh/"]["crl_path"], by["/vh/"]["crl_check"]) == (str(tmp_path / "crl.d"), "chain")
    # SSLProxyVerify none: what is configured is reported, but nothing is checked.
    nv = by["/nv/"]
    assert (nv["verify"], nv["crl_check"], nv["crl_missing_ok"], nv["crl_fingerprints"]) == (
        False, "chain", True, [inter])
    assert (nv["verify_options"]["check_chain"], nv["verify_options"]["crl_check"],
            nv["verify_options"]["crl_missing_ok"]) == (False, "none", True)
    assert (by["/plain/"]["crl_check"], by["/plain/"]["crl_fingerprints"]) == ("none", None)
    assert [c["sha256"] for c in view["crls"]] == [root, inter, inter2]
    assert [c["revoked"] for c in view["crls"]] == [0, 2, 1]
    assert all(i["error"] is None for i in view["lb_backends"]), [i["error"] for i in view["lb_backends"]]


@pytest.mark.parametrize("lines, message", [
    ("SSLProxyCARevocationCheck chain", "AH01899"),  # no file or path: Apache refuses to start
    ("SSLProxyCARevocationCheck sometimes\n  SSLProxyCARevocationFile /x.crl", "'sometimes'"),
    ("SSLProxyCARevocationCheck leaf always\n  SSLProxyCARevocationFile /x.crl", "'always'"),
])
def test_apache_revocation_check_apache_refuses_is_invalid_config(lines, message):
    text = "<VirtualHost *:443>\n  SSLProxyEngine on\n  SSLProxyVerify require\n  SSLProxyCACertificateFile /ca.pem\n" \
           "  %s\n  ProxyPass / https://10.0.0.1/\n</VirtualHost>\n" % lines
    (item,) = _lbview.lb_backends("apache", "/a/apache2.conf", _confread.FileSource({"/a/apache2.conf": text}))
    assert item["error"]["code"] == "INVALID_CONFIG" and message in item["error"]["message"], item["error"]


def test_apache_revocation_file_with_an_undefined_variable_is_not_a_path():
    text = "<VirtualHost *:443>\n  SSLProxyEngine on\n  SSLProxyCARevocationFile ${CRL_DIR}/x.crl\n" \
           "  SSLProxyCARevocationCheck leaf\n  ProxyPass / https://10.0.0.1/\n</VirtualHost>\n"
    (item,) = _lbview.lb_backends("apache", "/a/apache2.conf", _confread.FileSource({"/a/apache2.conf": text}))
    assert (item["crl_file"], item["crl_check"], item["error"]) == (None, "leaf", None)  # as a CA file's


# ---------------------------------------------------------------- errors

def _one(tmp_path, server_line, main_lines=""):
    """lb_view of one HAProxy server, ca-file and ca-base pointing at a real CA."""
    conf = tmp_path / "haproxy.cfg"
    conf.write_text("global\n    ca-base %s/ca\n%s\nbackend be\n    %s\n" % (tmp_path, main_lines, server_line))
    view = _lbview.lb_view([("haproxy", str(conf))], probe=False)
    (item,) = view["lb_backends"]
    return item, view


@pytest.mark.parametrize("name, code, detail", [
    ("missing.crl", "NOT_FOUND", "no such file"),
    ("root.pem", "NOT_A_CRL", "no certificate revocation list"),  # a certificate, no CRL: every chain would fail
    ("der.crl", "NOT_A_CRL", "a DER CRL"),  # HAProxy, nginx and Apache load PEM CRL files only
    ("truncated.crl", "NOT_A_CRL", "not terminated"),
    ("dir", "NOT_A_CRL", "is a directory"),
])
def test_a_crl_file_that_cannot_be_used_is_the_backend_s_error(tmp_path, pkis, name, code, detail):
    _write_material(tmp_path, pkis)
    pki.write(tmp_path / "ca" / "der.crl", _der(pkis["root"]))
    pki.write(tmp_path / "ca" / "truncated.crl", _pem(pkis["root"])[:-30])
    (tmp_path / "ca" / "dir").mkdir()
    item, view = _one(tmp_path, "server s 10.0.0.1:443 ssl verify required ca-file root.pem crl-file %s" % name)
    path = str(tmp_path / "ca" / name)
    assert item["error"]["code"] == code, item["error"]
    assert item["error"]["message"].startswith("CRL file %s: " % path) and detail in item["error"]["message"]
    assert (item["crl_file"], item["crl_fingerprints"], view["crls"]) == (path, [], [])
    assert view["summary"]["error_codes"] == {code: 1}


def test_a_crl_error_does_not_hide_an_earlier_one(tmp_path, pkis):
    _write_material(tmp_path, pkis)
    item, _view = _one(tmp_path, "server s 10.0.0.1:443 ssl verify required ca-file nope.pem crl-file nope.crl")
    assert item["error"]["code"] == "NOT_FOUND" and item["error"]["message"].startswith("CA file "), item["error"]


@pytest.mark.parametrize("make, code, detail", [
    (lambda d: d.mkdir(), "NOT_A_CRL", "no certificate revocation list"),  # empty
    (lambda d: pki.write(d, "x"), "NOT_A_CRL", "not a directory"),  # Apache refuses a file there
    (lambda d: None, "NOT_FOUND", "no such directory"),
    (lambda d: (d.mkdir(), pki.write(d / "a.r0", "not a crl"), pki.write(d / "b.0", "junk")), "NOT_A_CRL",
     "no certificate revocation list"),
    (lambda d: (d.mkdir(), pki.write(d / "0123abcd.r0", "junk")), "NOT_A_CRL", "hashed name"),
    # a real CRL, but only under names OpenSSL's lookup never opens
    (lambda d: (d.mkdir(), pki.write(d / "crl.pem", pki.crl_pem(pki.crl(pki.CA("Unhashed").root)))), "NOT_A_CRL",
     "c_rehash"),
])
def test_a_crl_directory_that_holds_no_crl_is_the_backend_s_error(tmp_path, pkis, make, code, detail):
    _write_material(tmp_path, pkis)
    make(tmp_path / "revoked")
    conf = tmp_path / "apache2.conf"
    conf.write_text("ServerRoot %s\n<VirtualHost *:443>\n  SSLProxyEngine on\n  SSLProxyVerify require\n"
                    "  SSLProxyCACertificateFile ca/root.pem\n  SSLProxyCARevocationPath revoked\n"
                    "  SSLProxyCARevocationCheck chain\n  ProxyPass / https://10.0.0.1/\n</VirtualHost>\n" % tmp_path)
    view = _lbview.lb_view([("apache", str(conf))], probe=False)
    (item,) = view["lb_backends"]
    assert item["error"]["code"] == code, item["error"]
    assert item["error"]["message"].startswith("CRL file %s" % (tmp_path / "revoked"))
    assert detail in item["error"]["message"], item["error"]
    assert (item["crl_path"], item["crl_fingerprints"]) == (str(tmp_path / "revoked"), [])


def test_a_crl_file_of_certificates_counts_the_ca_file_s_crls(tmp_path, pkis):
    """A CRL file of certificates only is loaded (X509_load_cert_crl_file counts them) and holds no CRL: beside a CA
    file with CRLs, those are the store's, and the backend is judged against them (the load balancers accept it,
    tests/integration/test_lb_crl_stores.py); alone, every chain is refused, and that is the CRL file's error."""
    _write_material(tmp_path, pkis)
    pki.write(tmp_path / "ca" / "root-and-crl.pem", pkis["ca"].root.pem + _pem(pkis["root"]))
    item, view = _one(tmp_path, "server s 10.0.0.1:443 ssl verify required ca-file root-and-crl.pem "
                                "crl-file root.pem")
    assert item["error"] is None, item["error"]
    assert item["crl_fingerprints"] == [_sha(pkis["root"])] and [c["sha256"] for c in view["crls"]] == [
        _sha(pkis["root"])], item
    item, _view = _one(tmp_path, "server s 10.0.0.1:443 ssl verify required ca-file root.pem crl-file root.pem")
    assert item["error"]["code"] == "NOT_A_CRL" and item["crl_fingerprints"] == [], item


@pytest.mark.parametrize("setting", ["SSLProxyCARevocationPath revoked", "SSLProxyCARevocationFile ca/root.pem"])
def test_apache_no_crl_for_cert_ok_forgives_a_crl_setting_without_a_crl(tmp_path, pkis, setting):
    """Apache starts with a CRL directory OpenSSL finds no CRL in, or a CRL file of certificates: no certificate has
    a CRL, which `no_crl_for_cert_ok` forgives (Apache proxies: tests/integration/test_lb_crl_stores.py). Without
    it every chain is refused, the CRL setting's error."""
    _write_material(tmp_path, pkis)
    (tmp_path / "revoked").mkdir()
    conf = tmp_path / "apache2.conf"
    for check, code in (("chain no_crl_for_cert_ok", None), ("chain", "NOT_A_CRL")):
        conf.write_text("ServerRoot %s\n<VirtualHost *:443>\n  SSLProxyEngine on\n  SSLProxyVerify require\n"
                        "  SSLProxyCACertificateFile ca/root.pem\n  %s\n  SSLProxyCARevocationCheck %s\n"
                        "  ProxyPass / https://10.0.0.1/\n</VirtualHost>\n" % (tmp_path, setting, check))
        (item,) = _lbview.lb_view([("apache", str(conf))], probe=False)["lb_backends"]
        assert (item["error"] or {}).get("code") == code, (check, item["error"])
        assert item["crl_fingerprints"] == [] and item["verify_options"]["crl_missing_ok"] is (code is None), item


def test_crl_file_and_path_together_are_read_both_without_repeats(tmp_path, pkis):
    _write_material(tmp_path, pkis)
    conf = tmp_path / "apache2.conf"
    conf.write_text("ServerRoot %s\n<VirtualHost *:443>\n  SSLProxyEngine on\n  SSLProxyVerify require\n"
                    "  SSLProxyCACertificateFile ca/root.pem\n  SSLProxyCARevocationFile ca/both.crl\n"
                    "  SSLProxyCARevocationPath crl.d\n  SSLProxyCARevocationCheck chain\n"
                    "  ProxyPass / https://10.0.0.1/\n</VirtualHost>\n" % tmp_path)
    view = _lbview.lb_view([("apache", str(conf))], probe=False)
    (item,) = view["lb_backends"]
    # The file's CRLs, then the directory's new one (its copy of the root's CRL is not listed twice).
    assert item["crl_fingerprints"] == [_sha(pkis["root"]), _sha(pkis["int"]), _sha(pkis["int2"])]
    assert len(view["crls"]) == 3 and item["error"] is None


def test_crl_pem_is_what_openssl_writes(pkis):
    for crl in (pkis["root"], pkis["int"]):
        assert _lbview.crl_pem(_der(crl)) == _pem(crl)
    pem = _lbview.crl_pem(os.urandom(300))
    assert all(len(line) <= 64 for line in pem.splitlines())
    assert pem.startswith("-----BEGIN X509 CRL-----\n") and pem.endswith("\n-----END X509 CRL-----\n")


def test_a_hashed_crl_directory_is_read_up_to_the_first_file_openssl_cannot_load(tmp_path, pkis):
    """OpenSSL's hashed lookup (by_dir.c) stops at the first <hash>.rN it cannot load: here the intermediate's .r0
    holds a certificate and no CRL, so its CRL in .r1 is never read. The CRL hunt of 2026-12-07 saw Apache
    (SSLProxyCARevocationPath, chain) refuse such a backend while the collection read on, found .r1 and accepted it.
    `openssl verify` with the same directory as its CApath is the reference."""
    ca = pkis["ca"]
    directory = tmp_path / "crl.d"
    directory.mkdir()
    root_hash, int_hash = _certs.name_hash(ca.root.cert.subject), _certs.name_hash(ca.intermediate.cert.subject)
    pki.write(directory / ("%s.r0" % int_hash), ca.intermediate.pem)  # a certificate: no CRL to load
    pki.write(directory / ("%s.r1" % int_hash), _pem(pkis["int2"]))
    pki.write(directory / ("%s.r0" % root_hash), _pem(pkis["root"]))
    crls, error = _lbview._crl_directory(str(directory))
    assert error is None and [crl.issuer for _der, crl in crls] == [ca.root.cert.subject]
    leaf = ca.leaf("hashed-dir.crl.test")
    for name, text in (("root.pem", ca.root.pem), ("int.pem", ca.intermediate.pem), ("leaf.pem", leaf.pem)):
        pki.write(tmp_path / name, text)
    said = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-CApath", str(directory),
                           "-untrusted", str(tmp_path / "int.pem"), "-crl_check_all", str(tmp_path / "leaf.pem")],
                          capture_output=True, text=True, check=False)
    assert said.returncode != 0 and "error 3 at 0 depth" in said.stdout + said.stderr, said
    # and with .r0 gone, .r1 is not read either (a gap): a CRL filed there must move to .r0
    (directory / ("%s.r0" % int_hash)).unlink()
    crls, error = _lbview._crl_directory(str(directory))
    assert error is None and [crl.issuer for _der, crl in crls] == [ca.root.cert.subject]
