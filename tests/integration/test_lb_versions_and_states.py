"""Protocol ranges, backends taken out of service and proxy_pass URLs with a path variable, against the REAL load
balancers: each one's own answer (HAProxy's health checks and server state from `show stat`, `haproxy -c` for a
configuration it refuses, a proxied request's HTTP status for nginx and Apache) is asserted, and the collection's
reading -- lb_backend_info (the real module runner), lb_verify_items, cert_chain_verify -- must agree with it.

One root CA R (trusted) and one unrelated CA O. One nginx serves R's leaf on four ports: TLS 1.2 only, TLS 1.3 only,
and two with both; a fifth port serves O's leaf (a backend no load balancer here accepts).

- HAProxy 2.6 ignores a server's no-tlsv1x once a minimum or maximum version applies to it (its own, a
  default-server's or ssl-default-server-options'), with a warning. `lb_a` (global `ssl-default-server-options
  ssl-min-ver TLSv1.3`): `old1` (TLS 1.2 backend, no-tlsv13) is DOWN, `new1` (TLS 1.3 backend, no-tlsv13) UP. `lb_b`
  (no global range): `p9` (TLS 1.3 backend, `ssl-min-ver TLSv1.2 no-tlsv13`) UP, `q` (TLS 1.3 backend, only
  no-tlsv13) DOWN.
- A server whose range leaves no version (`ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2`): `haproxy -c` refuses the file.
- `lb_c` (a differential fuzz against HAProxy found these): `force-tlsv1x` sets the minimum and the maximum where it
  stands, so a later `ssl-min-ver`/`ssl-max-ver` wins over it and an earlier one loses (`f1` DOWN, `f2` UP, and
  across default-server lines `f3` DOWN, `f4` UP); no-tlsv1x on a default-server line is ignored (`n1` UP); a word's
  backslash escapes are HAProxy's (`check-sni backend\\x2etest` is backend.test: `e1` UP; `backend\\.test` keeps its
  backslash: `e2` DOWN); a relative `ca-base` is resolved against `default-path` (every ca-file of `lb_c` is one).
  `send-proxy` / `send-proxy-v2` to an nginx that expects a PROXY protocol header (`listen ... ssl proxy_protocol`)
  is UP, a server without it DOWN, and so is `send-proxy` to an nginx that expects none: the probe sends the header
  as HAProxy does. `ssl-max-ver SSLv3`, `force-sslv3` and a truncated `\\x` escape: `haproxy -c` refuses each file.
- Taken out of service: HAProxy `disabled` (MAINT, never checked), nginx `server ... down`, Apache BalancerMember
  `status=+D`, each on O's backend beside a live member on R's: the load balancers answer 200; the collection reports
  the backend `disabled` and judges only the live ones.
- nginx `proxy_pass https://<upstream>$request_uri`: the host is fixed, the upstream's member is the backend (200).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.certops.backend_tls.plugins.modules import lb_backend_info
from testlib import lbjudge, pki
from testlib.module_runner import run_main
from testlib.servers import ApacheLB, HAProxyLB, NginxLB, ProtocolBackends, free_ports, http_status

ROOT = pki.issue("Versions Root CA", ca=True, days=3650)
OTHER = pki.issue("Versions Other CA", ca=True, days=3650)
LEAF = pki.issue("backend.test", issuer=ROOT, names=["backend.test", "localhost"])
STRAY = pki.issue("backend.test", issuer=OTHER, names=["backend.test", "localhost"])
# backend -> (leaf, nginx's ssl_protocols)
BACKENDS = {"tls12": (LEAF, "TLSv1.2"), "tls13": (LEAF, "TLSv1.3"), "good": (LEAF, "TLSv1.2 TLSv1.3"),
            "good2": (LEAF, "TLSv1.2 TLSv1.3"), "stray": (STRAY, "TLSv1.2 TLSv1.3"), "pp": (LEAF, "TLSv1.2 TLSv1.3")}
PROXY_PROTOCOL = ("pp",)  # nginx `listen ... ssl proxy_protocol`: a PROXY protocol header first, then the handshake
HAPROXY_SAYS = {"old1": "DOWN", "new1": "UP", "p9": "UP", "q": "DOWN", "retired": "MAINT", "live": "UP",
                "back1": "UP", "f1": "DOWN", "f2": "UP", "f3": "DOWN", "f4": "UP", "n1": "UP", "e1": "UP",
                "e2": "DOWN", "pp1": "UP", "pp2": "UP", "pp_none": "DOWN", "pp_unexpected": "DOWN",
                "pp_off": "DOWN"}
STOPPED = ("stopped1", "off1")  # servers of a disabled proxy (its own `disabled`, or its defaults'): not in show stat


def _haproxy_a(ports, ca_file):
    return lbjudge.haproxy_head("    ssl-default-server-options ssl-min-ver TLSv1.3\n") + """
backend be_a
    default-server ssl verify required ca-file %(ca)s check check-sni backend.test sni str(backend.test)
    server old1 127.0.0.1:%(tls12)d no-tlsv13
    server new1 127.0.0.1:%(tls13)d no-tlsv13
    server retired 127.0.0.1:%(stray)d disabled
    server live 127.0.0.1:%(good)d

backend be_stopped
    server stopped1 127.0.0.1:%(stray)d %(tls)s
    disabled

defaults off
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    default-server inter 400ms fall 1 rise 1
    disabled

backend be_off from off
    server off1 127.0.0.1:%(stray)d %(tls)s

backend be_back from off
    enabled
    server back1 127.0.0.1:%(good2)d %(tls)s
""" % dict(ports, ca=ca_file, tls="ssl verify required ca-file %s check check-sni backend.test sni str(backend.test)"
           % ca_file)


def _haproxy_b(ports, ca_file):
    return lbjudge.haproxy_head() + """
backend be_b
    default-server ssl verify required ca-file %(ca)s check check-sni backend.test sni str(backend.test)
    server p9 127.0.0.1:%(tls13)d ssl-min-ver TLSv1.2 no-tlsv13
    server q 127.0.0.1:%(tls13)d no-tlsv13
""" % dict(ports, ca=ca_file)


def _haproxy_c(ports, base):
    """Relative ca-files under a relative ca-base, under `default-path origin`."""
    tls = "ssl verify required ca-file R.pem check check-sni backend.test sni str(backend.test)"
    return lbjudge.haproxy_head("    default-path origin %s\n    ca-base cas\n" % base) + r"""
backend be_force
    default-server %(tls)s
    server f1 127.0.0.1:%(tls12)d ssl-min-ver TLSv1.2 force-tlsv13
    server f2 127.0.0.1:%(tls13)d ssl-max-ver TLSv1.1 force-tlsv13

backend be_force_defaults
    default-server %(tls)s
    default-server ssl-min-ver TLSv1.2
    default-server force-tlsv13
    server f3 127.0.0.1:%(tls12)d
    server f4 127.0.0.1:%(tls13)d

backend be_no_on_defaults
    default-server %(tls)s no-tlsv13
    server n1 127.0.0.1:%(tls13)d

backend be_escapes
    default-server ssl verify required ca-file R.pem check
    server e1 127.0.0.1:%(good)d check-sni backend\x2etest
    server e2 127.0.0.1:%(good2)d check-sni backend\.test

backend be_proxy_protocol
    default-server %(tls)s
    server pp1 127.0.0.1:%(pp)d send-proxy
    server pp2 127.0.0.1:%(pp)d send-proxy-v2
    server pp_none 127.0.0.1:%(pp)d
    server pp_unexpected 127.0.0.1:%(good)d send-proxy
    server pp_off 127.0.0.1:%(pp)d send-proxy-v2 no-send-proxy-v2-ssl
""" % dict(ports, tls=tls)


REFUSED_LINES = {  # a server line's keywords HAProxy refuses -> what the collection says
    "ssl-max-ver SSLv3": "no SSL/TLS version", "force-sslv3": "no SSL/TLS version",
    r"check-sni backend\x2": "hexadecimal",
    # read as no verification and judged valid before (a review of 2026-12-07)
    "verify optional": "verify optional (verify): HAProxy takes none or required",
    "ssl-min-ver TLSv1.4": "unknown SSL/TLS version TLSv1.4"}


def _nginx_lb(ports, ca_file, lb_port):
    return """    upstream dynpool { server 127.0.0.1:%(good)d; }
    upstream mixed { server 127.0.0.1:%(stray)d down; server 127.0.0.1:%(good2)d; }
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate %(ca)s;
    proxy_ssl_name backend.test;
    proxy_ssl_session_reuse off;
    server {
        listen 127.0.0.1:%(lb)d;
        location /d { proxy_pass https://dynpool$request_uri; }
        location /e/ { proxy_pass https://mixed/; }
    }
""" % dict(ports, ca=ca_file, lb=lb_port)


def _apache_lb(ports, ca_file, lb_port):
    return """SSLProxyEngine on
SSLProxyVerify require
SSLProxyCACertificateFile %(ca)s
<VirtualHost 127.0.0.1:%(lb)d>
    ServerName lb.test
    <Proxy "balancer://pool">
        BalancerMember https://localhost:%(stray)d/ status=+D
        BalancerMember https://localhost:%(good)d/
    </Proxy>
    ProxyPass /bal/ balancer://pool/
</VirtualHost>
""" % dict(ports, ca=ca_file, lb=lb_port)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "versions")
    ca_file = pki.write(base / "R.pem", ROOT.pem)
    picked = free_ports(len(BACKENDS) + 2)
    ports = dict(zip(BACKENDS, picked))
    nginx_port, apache_port = picked[len(BACKENDS):]
    sites = [{"name": name, "port": ports[name], "protocols": protocols, "proxy_protocol": name in PROXY_PROTOCOL,
              "cert": pki.write(base / ("%s.crt" % name), leaf.pem),
              "key": pki.write(base / ("%s.key" % name), leaf.key_pem(), 0o600)}
             for name, (leaf, protocols) in BACKENDS.items()]
    lb_a = HAProxyLB(base / "lb_a", _haproxy_a(ports, ca_file))
    lb_b = HAProxyLB(base / "lb_b", _haproxy_b(ports, ca_file))
    (base / "cas").mkdir()
    pki.write(base / "cas" / "R.pem", ROOT.pem)
    lb_c = HAProxyLB(base / "lb_c", _haproxy_c(ports, base))
    nginx = NginxLB(base / "nginx", nginx_port, _nginx_lb(ports, ca_file, nginx_port))
    apache = ApacheLB(base / "apache", [apache_port], _apache_lb(ports, ca_file, apache_port))
    refused = HAProxyLB(base / "refused", lbjudge.haproxy_head() + (
        "backend be_r\n    server none 127.0.0.1:%d ssl verify required ca-file %s ssl-min-ver TLSv1.3 "
        "ssl-max-ver TLSv1.2\n" % (ports["good"], ca_file))).write()
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (ProtocolBackends(base / "backends", sites), lb_a, lb_b, lb_c, nginx, apache):
            running.enter_context(server)
        yield {"lb_a": lb_a, "lb_b": lb_b, "lb_c": lb_c, "nginx": nginx, "apache": apache, "refused": refused,
               "ports": ports, "ca_file": ca_file,
               "nginx_port": nginx_port, "apache_port": apache_port}


@pytest.fixture(scope="module")
def haproxy_says(world):
    out = {}
    for lb in ("lb_a", "lb_b", "lb_c"):
        stat = lbjudge.haproxy_settled(world[lb])
        out.update((server, (status, check.lstrip("* "))) for server, (status, check, _last) in stat.items())
    return out


@pytest.fixture(scope="module")
def views(world):
    return {"lb_a": lbjudge.read({"haproxy": world["lb_a"]}), "lb_b": lbjudge.read({"haproxy": world["lb_b"]}),
            "lb_c": lbjudge.read({"haproxy": world["lb_c"]}),
            "nginx": lbjudge.read({"nginx": world["nginx"]}), "apache": lbjudge.read({"apache": world["apache"]})}


def _collection(view):
    """{server: (accepted, item)}: reached, no configuration error, and its served chain valid as judged; a backend
    lb_verify_items leaves out is not accepted."""
    verdicts = lbjudge.judged(view)
    out = {}
    for index, item in enumerate(view["lb_backends"]):
        verdict = verdicts.get(index)
        out[item["server"]] = (lbjudge.accepted(item, verdict), item)
    return out


def test_haproxy_answers_as_built(haproxy_says):
    assert {server: said[0] for server, said in haproxy_says.items()} == HAPROXY_SAYS, haproxy_says
    assert haproxy_says["old1"][1] == "L6RSP"  # SSL handshake failure: it offers TLS 1.3 only


def test_haproxy_ignores_no_tlsv_once_a_range_applies_as_the_collection_reads(views, haproxy_says):
    seen = {**_collection(views["lb_a"]), **_collection(views["lb_b"])}
    for server in ("old1", "new1", "p9", "q"):
        accepted, item = seen[server]
        assert accepted == (haproxy_says[server][0] == "UP"), (server, haproxy_says[server], item)
    ranges = {server: (seen[server][1]["min_version"], seen[server][1]["max_version"]) for server in seen}
    assert ranges["old1"] == ranges["new1"] == ("TLSv1.3", None)  # the global minimum; no-tlsv13 ignored
    assert ranges["p9"] == ("TLSv1.2", None)
    assert ranges["q"] == ("TLSv1", "TLSv1.2")  # no range set: no-tlsv13 applies
    for server in ("old1", "q"):
        assert seen[server][1]["endpoint"]["error"]["code"] == "NO_COMMON_PROTOCOL", seen[server][1]


def test_a_range_that_leaves_no_version_is_a_configuration_haproxy_refuses(world):
    checked = subprocess.run(["haproxy", "-c", "-f", str(world["refused"].conf)], capture_output=True, text=True,
                             check=False)
    assert checked.returncode != 0, checked
    assert "SSL/TLS versions are disabled" in checked.stdout + checked.stderr, checked
    view = lbjudge.read({"haproxy": world["refused"]})
    (item,) = view["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "no SSL/TLS version" in item["error"]["message"], item


def test_force_default_server_flags_escapes_and_ca_base_as_haproxy_reads_them(world, views, haproxy_says):
    seen = _collection(views["lb_c"])
    assert {"f1", "f2", "f3", "f4", "n1", "e1", "e2"} <= set(seen), seen
    for server, (accepted, item) in seen.items():
        assert accepted == (haproxy_says[server][0] == "UP"), (server, haproxy_says[server], item)
    ranges = {server: (item["min_version"], item["max_version"]) for server, (_ok, item) in seen.items()
              if not server.startswith("pp")}
    assert ranges == {"f1": ("TLSv1.3", "TLSv1.3"), "f2": ("TLSv1.3", "TLSv1.3"), "f3": ("TLSv1.3", "TLSv1.3"),
                      "f4": ("TLSv1.3", "TLSv1.3"), "n1": (None, None), "e1": (None, None), "e2": (None, None)}
    assert {s: seen[s][1]["endpoint"]["error"]["code"] for s in ("f1", "f3")} == {
        "f1": "NO_COMMON_PROTOCOL", "f3": "NO_COMMON_PROTOCOL"}
    assert (seen["e1"][1]["check_sni"], seen["e2"][1]["check_sni"]) == ("backend.test", "backend\\.test")
    assert {item["ca_file"] for _ok, item in seen.values()} == {str(Path(world["ca_file"]).parent / "cas" / "R.pem")}


def test_the_proxy_protocol_header_is_sent_as_haproxy_sends_it(views, haproxy_says):
    """send-proxy (v1) and send-proxy-v2 to a backend that expects the header: UP, and the probe, sending it too, is
    served; without it that backend closes the connection (no-send-proxy-v2-ssl turns send-proxy-v2 off too), and a
    backend that expects none fails the handshake."""
    seen = _collection(views["lb_c"])
    for server in ("pp1", "pp2", "pp_none", "pp_unexpected", "pp_off"):
        accepted, item = seen[server]
        assert accepted == (haproxy_says[server][0] == "UP"), (server, haproxy_says[server], item)
    assert {s: (seen[s][1]["proxy_protocol"], seen[s][1]["health_check"]["proxy_protocol"])
            for s in ("pp1", "pp2", "pp_none", "pp_off")} == {
        "pp1": ("v1", "v1"), "pp2": ("v2", "v2"), "pp_none": (None, None), "pp_off": (None, None)}
    assert seen["pp1"][1]["endpoint"]["ok"] and seen["pp2"][1]["endpoint"]["ok"]
    assert not seen["pp_none"][1]["endpoint"]["ok"] and not seen["pp_unexpected"][1]["endpoint"]["ok"]


@pytest.mark.parametrize("keywords", sorted(REFUSED_LINES))
def test_keywords_haproxy_refuses_are_invalid_config(keywords, world, tmp_path):
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head() + (
        "backend be_r\n    server none 127.0.0.1:%d ssl verify required ca-file %s check %s\n"
        % (world["ports"]["good"], world["ca_file"], keywords))).write()
    checked = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False)
    assert checked.returncode != 0, checked
    view = lbjudge.read({"haproxy": lb})
    errors = [item["error"] for item in view["lb_backends"]] + [c.get("error") for c in view["configs"]]
    assert any(e and e["code"] == "INVALID_CONFIG" and REFUSED_LINES[keywords] in e["message"] for e in errors), view


def test_a_disabled_haproxy_server_or_proxy_is_reported_and_not_judged(views, haproxy_says):
    seen = _collection(views["lb_a"])
    assert haproxy_says["retired"][0] == "MAINT" and haproxy_says["live"][0] == "UP"
    assert not set(STOPPED) & set(haproxy_says)  # stopped proxies: HAProxy neither checks nor lists them
    assert {server: seen[server][1]["disabled"] for server in ("retired", "live", "back1") + STOPPED} == {
        "retired": True, "live": False, "back1": False, "stopped1": True, "off1": True}
    assert seen["retired"][1]["endpoint"]["ok"]  # probed all the same: what it would serve if enabled
    assert seen["back1"][0]  # `enabled` in its section undoes the defaults' `disabled`
    judged = {views["lb_a"]["lb_backends"][i]["server"] for i in lbjudge.judged(views["lb_a"])}
    assert not ({"retired"} | set(STOPPED)) & judged and {"old1", "new1", "live", "back1"} <= judged
    assert views["lb_a"]["summary"]["disabled"] == 3


def test_nginx_down_members_and_a_path_variable_as_nginx_proxies(world, views):
    port = world["nginx_port"]
    assert http_status("http://127.0.0.1:%d/d" % port) == 200
    assert [http_status("http://127.0.0.1:%d/e/" % port) for _attempt in range(4)] == [200] * 4
    by_port = {item["port"]: item for item in views["nginx"]["lb_backends"]}
    ports = world["ports"]
    assert set(by_port) == {ports["good"], ports["stray"], ports["good2"]}, views["nginx"]["lb_backends"]
    dynamic = by_port[ports["good"]]
    assert (dynamic["pool"], dynamic["address"], dynamic["error"], dynamic["disabled"]) == (
        "dynpool", "127.0.0.1", None, False), dynamic
    assert by_port[ports["stray"]]["disabled"] is True and by_port[ports["good2"]]["disabled"] is False
    seen = {item["port"]: accepted for accepted, item in _collection(views["nginx"]).values()}
    assert seen == {ports["good"]: True, ports["good2"]: True, ports["stray"]: False}
    judged = {views["nginx"]["lb_backends"][i]["port"] for i in lbjudge.judged(views["nginx"])}
    assert judged == {ports["good"], ports["good2"]}


def test_an_apache_member_disabled_by_its_status_is_reported_and_not_judged(world, views):
    assert [http_status("http://127.0.0.1:%d/bal/" % world["apache_port"]) for _attempt in range(4)] == [200] * 4
    by_port = {item["port"]: item for item in views["apache"]["lb_backends"]}
    ports = world["ports"]
    assert by_port[ports["stray"]]["disabled"] is True and by_port[ports["good"]]["disabled"] is False
    judged = {views["apache"]["lb_backends"][i]["port"] for i in lbjudge.judged(views["apache"])}
    assert judged == {ports["good"]}


def test_a_protocol_list_that_leaves_nothing_is_a_configuration_apache_refuses(tmp_path):
    """`SSLProxyProtocol -all`: Apache does not start (AH02231); the collection names the backend's configuration."""
    port, = free_ports(1)
    apache = ApacheLB(tmp_path / "apache", [port], "SSLProxyEngine on\nSSLProxyProtocol -all\n"
                      "<VirtualHost 127.0.0.1:%d>\n    ProxyPass / https://127.0.0.1:1/\n</VirtualHost>\n" % port)
    with pytest.raises(RuntimeError, match="apache2 -k start"):
        with apache:
            pass
    assert "AH02231: No SSL protocols available" in (apache.dir / "error.log").read_text()
    view = lbjudge.read({"apache": apache})
    (item,) = view["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "SSLProxyProtocol -all" in item["error"]["message"], item


def _ca_file_text(form):
    """A CA file's bytes: the root in one of the forms below."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    p7 = pkcs7.serialize_certificates([ROOT.cert], Encoding.PEM).decode()
    return {
        "der": ROOT.der,
        "bad-block": ROOT.pem + "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        "truncated": ROOT.pem + "\n".join(ROOT.pem.splitlines()[:3]) + "\n",
        "indented": "".join("  %s\n" % line for line in ROOT.pem.splitlines()),
        "p7-only": p7,
        # accepted by HAProxy, nginx and Apache (OpenSSL skips block types it does not take, and knows a BEGIN line
        # only at the start of a line): refused here for a while on 2026-12-07 (a review of that change)
        "with-p7": ROOT.pem + p7,
        "mention": "# paste below the -----BEGIN CERTIFICATE----- line\n" + ROOT.pem,
        "crlf": ROOT.pem.replace("\n", "\r\n"),
        "bom": b"\xef\xbb\xbf" + ROOT.pem.encode(),  # as Windows editors write UTF-8
        "begin-and-text": ROOT.pem + "-----BEGIN CERTIFICATE----- paste the next one here\n",
        # what the CA-file check read otherwise than OpenSSL until OpenSSL itself was asked (2026-12-07, tenth
        # session): accepted here, refused by HAProxy
        "key-bad": ROOT.pem + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "not-der": ROOT.pem + "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        "end-mismatch": ROOT.pem + OTHER.pem.replace("-----END CERTIFICATE-----", "-----END X509 CRL-----"),
        "end-trailing": ROOT.pem.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE----- root") + OTHER.pem,
        "other-no-end": ROOT.pem + "-----BEGIN X509 CRL-----\nAAAA\n" + OTHER.pem,
        # refused here, loaded by HAProxy; and a root OpenSSL skips (indented) counted as an anchor here
        "crl-only": pki.crl_pem(pki.crl(ROOT)),
        "indented-then-other": "".join("  %s\n" % line for line in ROOT.pem.splitlines()) + OTHER.pem,
        # ... a pinned self-signed leaf (no CA) too, which OpenSSL does not list among its CA certificates (a review)
        "pinned-indented-then-other": "".join("  %s\n" % line for line in PINNED.pem.splitlines()) + OTHER.pem,
        "empty": "",
    }[form]


PINNED = pki.issue("pinned.backend.test", names=["pinned.backend.test"])  # self-signed, CA:FALSE


CA_FILE_REFUSED = {"der": "DER, not PEM", "bad-block": "not valid base64", "truncated": "has no END line",
                   "indented": "no PEM block starts a line", "p7-only": "no PEM certificate block (PKCS7)",
                   "key-bad": "OpenSSL refuses it", "not-der": "OpenSSL refuses it",
                   "end-mismatch": "OpenSSL refuses it", "end-trailing": "OpenSSL refuses it",
                   "other-no-end": "OpenSSL refuses it", "empty": "the file is empty"}
# loaded by HAProxy: the anchors found there (None: no certificate, the entry's NOT_A_CERTIFICATE error)
CA_FILE_LOADED = {"with-p7": [ROOT], "mention": [ROOT], "crlf": [ROOT], "bom": [ROOT], "begin-and-text": [ROOT],
                  "crl-only": None, "indented-then-other": [OTHER], "pinned-indented-then-other": [OTHER]}


@pytest.mark.parametrize("form", sorted(CA_FILE_REFUSED) + sorted(CA_FILE_LOADED))
def test_a_ca_file_haproxy_cannot_load_is_named_not_trusted(form, world, tmp_path):
    """HAProxy (as nginx and Apache) reads its CA file as PEM with OpenSSL: with no PEM in it, a certificate block
    that is no base64, a last block without its END line, or no certificate block, it does not start. The collection
    trusted the certificates it could read there and judged the backend valid (a review of 2026-12-07). Since the
    tenth session this host's OpenSSL reads the file as the load balancer's does: what it refuses is refused, and
    a certificate it skips is no anchor."""
    ca_file = tmp_path / "ca.crt"
    text = _ca_file_text(form)
    ca_file.write_bytes(text if isinstance(text, bytes) else text.encode())
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head() + (
        "backend be_ca\n    server s 127.0.0.1:%d ssl verify required ca-file %s check\n"
        % (world["ports"]["good"], ca_file))).write()
    checked = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False)
    view = lbjudge.read({"haproxy": lb})
    (item,) = view["lb_backends"]
    if form not in CA_FILE_REFUSED:
        assert checked.returncode in (0, 2), checked  # 2: valid, but no listener to start
        if CA_FILE_LOADED[form] is None:  # HAProxy starts, and trusts nothing: every check fails
            assert item["error"]["code"] == "NOT_A_CERTIFICATE" and "holds no certificate" in item["error"]["message"]
            assert "cannot load" not in item["error"]["message"], item
            return
        assert item["error"] is None, item
        assert item["ca_fingerprints"] == [issued.fingerprint for issued in CA_FILE_LOADED[form]], item
        return
    assert checked.returncode == 1 and "ca-file" in checked.stdout + checked.stderr, checked
    assert item["error"]["code"] == "NOT_A_CERTIFICATE", item
    assert item["error"]["message"].startswith("CA file %s: " % ca_file), item
    assert "the load balancer cannot load it" in item["error"]["message"], item
    assert CA_FILE_REFUSED[form] in item["error"]["message"], item


@pytest.mark.parametrize("count", ["0", "5-2"])
def test_a_server_template_naming_no_server_is_a_configuration_haproxy_refuses(count, world, tmp_path):
    """It gave no backend and no error (a review of 2026-12-07)."""
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head() + (
        "backend be_t\n    server-template s %s 127.0.0.1:%d ssl verify required ca-file %s check\n"
        % (count, world["ports"]["good"], world["ca_file"]))).write()
    checked = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False)
    assert checked.returncode != 0, checked
    (item,) = lbjudge.read({"haproxy": lb})["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG", item
    assert "server-template s: %s names no server" % count in item["error"]["message"], item


def test_an_nginx_configuration_nginx_refuses_is_read_with_a_warning_saying_so(world, tmp_path, capfd):
    """nginx -T failing was thrown away, and the files read as though nginx accepted them, with no word of it (a
    review of 2026-12-07). What nginx quotes is left out of the warning: a quoted word may be anything a file holds."""
    body = _nginx_lb(world["ports"], world["ca_file"], world["nginx_port"]) + "    proxy_ssl_verify on;\n"
    nginx = NginxLB(tmp_path / "nginx", world["nginx_port"], body)
    nginx.dir.mkdir(parents=True, exist_ok=True)
    nginx.write_config()
    checked = subprocess.run(["nginx", "-t", "-q", "-c", str(nginx.conf)], capture_output=True, text=True, check=False)
    assert checked.returncode != 0 and '"proxy_ssl_verify" directive is duplicate' in checked.stderr, checked
    # in-process, as Ansible runs it: ansible-core 2.19 prints a module's warning as it is made
    capfd.readouterr()
    result = run_main(lb_backend_info.main, {"lb_type": ["nginx"], "config": {"nginx": str(nginx.conf)},
                                             "timeout": 15})
    (warning,) = [w for w in capfd.readouterr().err.splitlines() if "nginx -T" in w]
    assert "nginx -T -c %s failed ((...) directive is duplicate in %s:" % (nginx.conf, nginx.conf) in warning, warning
    assert warning.endswith("): its files are read as they are, as though nginx accepted them"), warning
    assert len(result["lb_backends"]) == 3  # read all the same


@pytest.mark.parametrize("where", ["server", "default-options", "global-verify", "server-verify"])
def test_settings_from_environment_variables_are_not_judged(where, world, tmp_path):
    """A version or verify value HAProxy takes from its environment ("${VAR}", in double quotes) is not known here:
    UNSUPPORTED_SETTING, not judged; it was INVALID_CONFIG for a while on 2026-12-07, and before that guessed (no
    verification, any version: a review of that change). HAProxy accepts each with the variable set."""
    global_lines, server = {
        "server": ("", 'ssl-min-ver "${CERTOPS_MINVER}"'),
        "default-options": ('    ssl-default-server-options ssl-min-ver "${CERTOPS_MINVER}"', ""),
        "global-verify": ('    ssl-server-verify "${CERTOPS_VERIFY}"', ""),
        "server-verify": ("", 'verify "${CERTOPS_VERIFY}"'),
    }[where]
    verify = "verify required " if where in ("server", "default-options") else ""  # else the variable decides
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head(global_lines) + (
        "backend be_env\n    server s 127.0.0.1:%d ssl %sca-file %s check %s\n"
        % (world["ports"]["good"], verify, world["ca_file"], server))).write()
    environment = dict(os.environ, CERTOPS_MINVER="TLSv1.2", CERTOPS_VERIFY="required")
    checked = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False,
                             env=environment)
    assert checked.returncode in (0, 2), checked
    (item,) = lbjudge.read({"haproxy": lb})["lb_backends"]
    assert item["error"]["code"] == "UNSUPPORTED_SETTING" and "only known to HAProxy at run time" in \
        item["error"]["message"], item


@pytest.mark.parametrize("line", ["ssl-min-ver $CERTOPS_MINVER", "ssl-min-ver TLSv1.4"])
def test_a_version_haproxy_does_not_know_is_refused_with_or_without_ssl(line, world, tmp_path):
    """HAProxy expands a variable only in double quotes, and refuses an unknown version as it reads the line, on a
    server without `ssl` too."""
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head() + (
        "backend be_v\n    server s 127.0.0.1:%d check %s\n" % (world["ports"]["good"], line))).write()
    checked = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False,
                             env=dict(os.environ, CERTOPS_MINVER="TLSv1.2"))
    assert checked.returncode == 1 and "unknown ssl/tls version" in checked.stdout + checked.stderr, checked
    (item,) = lbjudge.read({"haproxy": lb})["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "unknown SSL/TLS version" in item["error"]["message"], item
