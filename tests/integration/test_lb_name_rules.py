"""The name rules of `_names.rule_matches` against REAL load balancers: HAProxy, nginx and Apache verifying one name
each against TLS backends on loopback.

One CA; one nginx process serving every backend (one leaf per backend kind, one port per (load balancer, case), so
no load balancer reuses a connection or a TLS session between cases); one process per load balancer type:
- HAProxy 2.6: a `server` per case with `ssl verify required ca-file <CA> verifyhost <NAME> check` and
  `option httpchk`: its verdict is the health check (UP / L7OK, or DOWN / L6RSP), read on the stats socket.
- nginx 1.22: a `location` per case with `proxy_ssl_verify on`, `proxy_ssl_trusted_certificate <CA>` and
  `proxy_ssl_name <NAME>`: 200, or 502 with "upstream SSL certificate does not match" in its error log.
- Apache 2.4 (`SSLProxyEngine`, `SSLProxyVerify require`, `SSLProxyCACertificateFile`): a `ProxyPass` per case to
  `https://<NAME>:<port>/`. The names resolve nowhere: `ProxyRemote * http://127.0.0.1:<p>` sends every backend
  connection through a CONNECT proxy run by this test, which connects to 127.0.0.1:<port> whatever the host, so no
  /etc/hosts entry or resolver is needed and Apache still verifies <NAME> (it is the URL's host). One virtual host
  with the default checks (rule `apache`), one with `SSLProxyCheckPeerName off` + `SSLProxyCheckPeerCN on` (rule
  `apache_cn`). Verdict: 200, or 500 with AH02411 / AH02005 (name mismatch) in its error log.

For every (load balancer, case) the load balancer's verdict must equal `rule_matches(<its rule>, NAME, ...)` on the
leaf that backend serves; the cases are chosen so that the rules disagree with each other (asserted too), so a rule
that is wrong for one load balancer fails here. `_lbview` reads the same configurations and must report that rule
and that name for each backend.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import threading
import time
from collections import Counter

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview, _names
from testlib import lbjudge, pki
from testlib.servers import (
    ApacheLB,
    HAProxyLB,
    KindBackends,
    NginxLB,
    _run,
    free_ports,
    haproxy_stat,
    http_status,
)

# leaf kind -> (subject CNs in order, DNS SANs, IP SANs); no SAN at all when both lists are empty.
LEAVES = {
    "exact": (["exact.rules.test"], ["exact.rules.test"], []),
    "upper_san": (["w"], ["UPPER.Rules.Test"], []),
    "cn_only": (["cn-only.rules.test"], [], []),
    "cn_and_sans": (["cn.rules.test"], ["san.rules.test"], []),
    "two_cns": (["first.rules.test", "second.rules.test"], [], []),
    "no_cn": ([], ["no-cn.rules.test"], []),
    "cn_wild_sans": (["*.cnwild.rules.test"], ["other.rules.test"], []),
    "ip_san": (["ip-leaf"], [], ["127.0.0.1", "::1"]),
    "ip_text_san": (["ip-text-leaf"], ["127.0.0.1", "::1"], []),
    "ip_text_cn": (["127.0.0.1"], [], []),
    "ip_cn_and_ip_san": (["127.0.0.1"], [], ["127.0.0.1"]),
    "wild": (["w"], ["*.wild.rules.test"], []),
    "partial_prefix": (["w"], ["w*.rules.test"], []),
    "partial_suffix": (["w"], ["*x.rules.test"], []),
    "partial_middle": (["w"], ["a*b.rules.test"], []),
    "idna_partial": (["w"], ["xn--*.rules.test"], []),
    "partial_x": (["w"], ["x*.rules.test"], []),
    "non_ascii_cn": (["bÜcher.rules.test"], [], []),
    "ip_wildcard_san": (["w"], ["*.0.0.1"], []),
    "one_label": (["*.test"], ["*.test"], []),
    "trailing_dot_san": (["w"], ["dot.rules.test."], []),
}

# (case, leaf kind, the name the load balancer verifies, what it shows)
CASES = [
    ("exact", "exact", "exact.rules.test", "control: the leaf's own name"),
    ("case", "exact", "EXACT.Rules.TEST", "exact match with a different case"),
    ("case_san", "upper_san", "upper.rules.test", "an upper-case SAN"),
    ("trailing_dot", "exact", "exact.rules.test.", "the name with the root label"),
    ("trailing_dot_san", "trailing_dot_san", "dot.rules.test", "a SAN with the root label"),
    ("trailing_dot_both", "trailing_dot_san", "dot.rules.test.", "the root label on both sides"),
    ("other_name", "exact", "other.rules.test", "control: a name the leaf does not carry"),
    ("cn_only", "cn_only", "cn-only.rules.test", "a leaf without any SAN: its CN"),
    ("cn_with_sans", "cn_and_sans", "cn.rules.test", "the CN while DNS SANs exist that do not match"),
    ("san_with_cn", "cn_and_sans", "san.rules.test", "the SAN of that leaf"),
    ("second_cn", "two_cns", "second.rules.test", "the second of two CNs"),
    ("first_cn", "two_cns", "first.rules.test", "the first of two CNs"),
    ("no_cn", "no_cn", "no-cn.rules.test", "a SAN on a leaf without a CN"),
    ("cn_wildcard", "cn_wild_sans", "a.cnwild.rules.test", "a wildcard CN while DNS SANs exist"),
    ("ip_san", "ip_san", "127.0.0.1", "an IPv4 name, only an IP SAN carries it"),
    ("ip6_san", "ip_san", "::1", "an IPv6 name, only an IP SAN carries it"),
    ("ip_text_san", "ip_text_san", "127.0.0.1", "an IPv4 name, a DNS SAN holds its text"),
    ("ip6_text_san", "ip_text_san", "::1", "an IPv6 name, a DNS SAN holds its text"),
    ("ip_text_cn", "ip_text_cn", "127.0.0.1", "an IPv4 name, only the CN holds its text"),
    ("ip_cn_and_ip_san", "ip_cn_and_ip_san", "127.0.0.1", "CN text and IP SAN, no DNS SAN"),
    ("wildcard", "wild", "a.wild.rules.test", "a whole-label wildcard"),
    ("wildcard_two_labels", "wild", "a.b.wild.rules.test", "a wildcard stands for one label only"),
    ("wildcard_parent", "wild", "wild.rules.test", "a wildcard does not stand for no label"),
    ("wildcard_idna", "wild", "xn--bcher-kva.wild.rules.test", "a whole-label wildcard and an A-label"),
    ("wildcard_case", "wild", "A.Wild.RULES.test", "a whole-label wildcard, the name in another case"),
    ("wildcard_ulabel", "wild", "bücher.wild.rules.test", "a whole-label wildcard and a U-label"),
    ("non_ascii_same", "non_ascii_cn", "bÜcher.rules.test", "a non-ASCII CN, the same text"),
    ("non_ascii_case", "non_ascii_cn", "bücher.rules.test", "a non-ASCII CN, another case of a non-ASCII letter"),
    ("partial_prefix", "partial_prefix", "www.rules.test", "w*: a partial wildcard"),
    ("partial_prefix_empty", "partial_prefix", "w.rules.test", "w*: the '*' matching nothing"),
    ("partial_prefix_case", "partial_prefix", "WWW.Rules.TEST", "w*: the name in another case"),
    ("partial_suffix", "partial_suffix", "box.rules.test", "*x: a partial wildcard"),
    ("partial_middle", "partial_middle", "a-to-b.rules.test", "a*b: a wildcard inside the label"),
    ("idna_partial", "idna_partial", "xn--bcher-kva.rules.test", "xn--*: a partial wildcard on an A-label"),
    ("idna_name_partial", "partial_x", "xn--bcher-kva.rules.test", "x*: a partial wildcard, an A-label name"),
    ("ip_wildcard_san", "ip_wildcard_san", "127.0.0.1", "an IPv4 name, a wildcard DNS SAN over its text"),
    ("one_label", "one_label", "a.test", "*.test: a wildcard over a single label"),
    ("dot_under", "exact", ".rules.test", "a leading dot: OpenSSL's any name under rules.test"),
    ("dot_wildcard", "wild", ".wild.rules.test", "a leading dot over a wildcard SAN, its '*' then text"),
    ("dot_itself", "exact", ".exact.rules.test", "a leading dot: the name itself is not under it"),
    ("dot_cn_only", "cn_only", ".rules.test", "a leading dot, a leaf without any SAN: its CN"),
]

LB_TYPES = ("haproxy", "nginx", "apache", "apache_cn")
RULE_OF = {"haproxy": "haproxy", "nginx": "openssl", "apache": "apache", "apache_cn": "apache_cn"}


def _leaf(ca, cns, dns, ips):
    """A leaf like pki.issue's, but with any number of CNs (none included), signed by ca's intermediate."""
    key = pki.new_key()
    start = pki.now() - datetime.timedelta(days=1)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in cns]))
               .issuer_name(ca.intermediate.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.intermediate.key.public_key()),
                              critical=False))
    sans = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return pki.Issued(builder.sign(ca.intermediate.key, hashes.SHA256()), key)


def leaf_names(cert):
    """(DNS SANs, IP SANs, CNs) of a certificate, as the verifier hands them to rule_matches."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns, ips = san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        dns, ips = [], []
    return dns, ips, [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


CA = pki.CA("Rules")
ISSUED = {kind: _leaf(CA, cns, dns, ips) for kind, (cns, dns, ips) in LEAVES.items()}
KIND_OF = {case: kind for case, kind, _name, _why in CASES}


def rule_says(rule, case):
    """rule_matches for a case: the case's name against the names of the leaf its backend serves."""
    _case, kind, name, _why = next(c for c in CASES if c[0] == case)
    dns, ips, cns = leaf_names(ISSUED[kind].cert)
    return _names.rule_matches(rule, name, dns, ips, cns)


class ConnectProxy:
    """A forward proxy for Apache's backend connections: `CONNECT <host>:<port>` is tunnelled to 127.0.0.1:<port>
    whatever <host> is, so the host names of the cases need no resolver; the hosts asked for are recorded."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.asked = []  # (host, port) of every CONNECT
        self.stopped = False
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stopped:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        words = head.split(b"\r\n", 1)[0].decode("utf-8", "replace").split()
        if len(words) < 2 or words[0] != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        host, _sep, port = words[1].rpartition(":")
        self.asked.append((host, int(port)))
        upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        self.conns.append(upstream)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()
        self._pump(conn, upstream)

    @staticmethod
    def _pump(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for side in (sink, source):
            try:
                side.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped = True
        self.sock.close()
        for conn in self.conns:
            conn.close()


def _url_host(name):
    return "[%s]" % name if ":" in name else name


def _haproxy_config(ports, ca_file):
    servers = "".join("    server %s 127.0.0.1:%d verifyhost %s\n" % (case, ports[("haproxy", case)], name)
                      for case, _kind, name, _why in CASES)
    return ("global\n    stats socket @SOCKET@ mode 600 level admin\n\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\n"
            "backend be_rules\n    option httpchk GET /\n"
            "    default-server ssl verify required ca-file %s check inter 300ms fall 1 rise 1\n%s" % (
                ca_file, servers))


def _nginx_config(lb_port, ports, ca_file):
    locations = "".join(
        "        location /%s/ {\n            proxy_ssl_name \"%s\";\n"
        "            proxy_pass https://127.0.0.1:%d/;\n        }\n" % (case, name, ports[("nginx", case)])
        for case, _kind, name, _why in CASES)
    return ("    proxy_ssl_verify on;\n    proxy_ssl_trusted_certificate %s;\n    proxy_ssl_verify_depth 3;\n"
            "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (ca_file, lb_port, locations))


def _apache_config(lb_ports, ports, ca_file, connect_port):
    vhosts = []
    for lb, checks in (("apache", ""), ("apache_cn", "    SSLProxyCheckPeerName off\n    SSLProxyCheckPeerCN on\n")):
        passes = "".join("    ProxyPass /%s/ https://%s:%d/\n" % (case, _url_host(name), ports[(lb, case)])
                         for case, _kind, name, _why in CASES)
        vhosts.append("<VirtualHost 127.0.0.1:%d>\n    ServerName %s.test\n    SSLProxyEngine on\n"
                      "    SSLProxyVerify require\n    SSLProxyVerifyDepth 3\n%s%s</VirtualHost>\n" % (
                          lb_ports[lb], lb.replace("_", "-"), checks, passes))
    return ("SSLProxyCACertificateFile %s\n# every backend connection through the test's CONNECT proxy: the URL's host "
            "needs no resolver\nProxyRemote * http://127.0.0.1:%d\n%s" % (ca_file, connect_port, "".join(vhosts)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "namerules")
    files = {kind: (pki.write(base / ("%s.crt" % kind), CA.chain_pem(issued)),
                    pki.write(base / ("%s.key" % kind), issued.key_pem(), 0o600)) for kind, issued in ISSUED.items()}
    ca_file = pki.write(base / "rules-ca.pem", CA.root.pem)
    keys = [(lb, case) for lb in LB_TYPES for case, _kind, _name, _why in CASES]
    free = free_ports(len(keys) + 3)
    ports = dict(zip(keys, free))
    lb_ports = dict(zip(("nginx", "apache", "apache_cn"), free[len(keys):]))
    kind_ports = {}
    for (_lb, case), port in ports.items():
        kind_ports.setdefault(KIND_OF[case], []).append(port)
    started = []
    try:
        backends = KindBackends(base / "backends", kind_ports, files)
        backends.start()
        started.append(backends)
        connect = ConnectProxy().start()
        started.append(connect)
        haproxy = HAProxyLB(base / "haproxy", _haproxy_config(ports, ca_file))
        haproxy.start()
        started.append(haproxy)
        nginx = NginxLB(base / "nginx", lb_ports["nginx"], _nginx_config(lb_ports["nginx"], ports, ca_file))
        nginx.write_config()
        _run(nginx.test_command)
        nginx.start()
        started.append(nginx)
        apache = ApacheLB(base / "apache", [lb_ports["apache"], lb_ports["apache_cn"]],
                          _apache_config(lb_ports, ports, ca_file, connect.port))
        apache.start()
        started.append(apache)
        yield {"ports": ports, "lb_ports": lb_ports, "haproxy": haproxy, "nginx": nginx,
               "apache": apache, "connect": connect}
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="module")
def said(world):
    """{(load balancer, case): (accepted, detail)}: what each load balancer itself decided."""
    out = {}
    for case, _kind, _name, _why in CASES:
        status = http_status("http://127.0.0.1:%d/%s/" % (world["lb_ports"]["nginx"], case))
        out[("nginx", case)] = (status == 200, status)
        for lb in ("apache", "apache_cn"):
            status = http_status("http://127.0.0.1:%d/%s/" % (world["lb_ports"][lb], case))
            out[(lb, case)] = (status == 200, status)
    deadline, last = time.monotonic() + 20, None
    while True:  # every server checked at least once, and the same answer twice in a row
        stat = _haproxy_stat(world["haproxy"])
        settled = all(not s[1].startswith(("INI", "*")) for s in stat.values())
        if (settled and stat == last) or time.monotonic() > deadline:
            break
        last = stat
        time.sleep(0.4)
    for case, _kind, _name, _why in CASES:
        out[("haproxy", case)] = (stat[case][0] == "UP", stat[case])
    time.sleep(0.3)  # the last error log lines
    return out


def _ascii_lower(text):
    return "".join(c.lower() if c.isascii() else c for c in text)


def _unescape(logged):
    """Apache's error log writes each non-ASCII byte as \\xNN."""
    raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), logged.encode("utf-8"))
    return raw.decode("utf-8")


def _haproxy_stat(haproxy):
    return {r["svname"]: (r["status"], r["check_status"], r["last_chk"]) for r in haproxy_stat(haproxy.socket)}


def test_each_load_balancer_accepts_exactly_what_its_rule_accepts(said):
    disagree = {}
    for lb in LB_TYPES:
        for case, _kind, name, why in CASES:
            accepted, detail = said[(lb, case)]
            if accepted != rule_says(RULE_OF[lb], case):
                disagree[(lb, case)] = (name, why, "LB accepts" if accepted else "LB refuses", detail)
    assert not disagree, disagree


def test_every_refusal_is_a_name_mismatch(said, world):
    """A refusal counts only as the name's: HAProxy's check says so, nginx logs the mismatch for that backend port,
    and Apache logs one mismatch (AH02411, or AH02005 for the CN-only check) per refused case, with the name it
    verified; the chain itself is good (the controls pass everywhere)."""
    nginx_log = (world["nginx"].dir / "error.log").read_text()
    apache_log = (world["apache"].dir / "error.log").read_text()
    logged = {"apache": Counter(map(_unescape, re.findall(
        r"AH02411: SSL Proxy: Peer certificate does not match for hostname (.*)$", apache_log, re.MULTILINE))),
        "apache_cn": Counter(map(_unescape, re.findall(
            r"AH02005: SSL Proxy: Peer certificate CN mismatch: .* Requested hostname: (.*)$", apache_log,
            re.MULTILINE)))}
    refused = {"apache": Counter(), "apache_cn": Counter()}
    for lb in LB_TYPES:
        assert said[(lb, "exact")][0], (lb, said[(lb, "exact")])
        for case, _kind, name, _why in CASES:
            accepted, detail = said[(lb, case)]
            if accepted:
                continue
            if lb == "haproxy":
                assert detail == ("DOWN", "L6RSP", "Server presented an SSL certificate different from the configured "
                                  "one"), (case, detail)
            elif lb == "nginx":
                assert detail == 502, (case, detail)
                checked = name.split(":")[0]  # nginx cuts the name at its first ':' (docs in rule_matches)
                assert re.search(r'does not match "%s" while SSL handshaking to upstream, .*upstream: '
                                 r'"https://127\.0\.0\.1:%d/"' % (re.escape(checked), world["ports"][(lb, case)]),
                                 nginx_log), (case, name)
            else:
                assert detail == 500, (lb, case, detail)  # 2.4.71: 500 (AH01084), not the documented 502
                refused[lb][_ascii_lower(name)] += 1  # mod_proxy lower-cases the URL's host (ASCII only)
    assert refused == logged


def test_the_cases_tell_the_rules_apart():
    """No two rules give the same verdicts on these cases: a load balancer judged by another's rule fails a case."""
    verdicts = {rule: [rule_says(rule, case) for case, _kind, _name, _why in CASES] for rule in _names.NAME_RULES}
    for first in _names.NAME_RULES:
        for second in _names.NAME_RULES:
            assert first == second or verdicts[first] != verdicts[second], (first, second)


def test_apache_verified_the_urls_host(world, said):
    """Every Apache backend connection went through the CONNECT proxy with the case's name as host: the name
    Apache verified is the one in its ProxyPass URL (lower-cased, a trailing dot kept), not a resolved address."""
    asked = {port: host for host, port in world["connect"].asked}
    for lb in ("apache", "apache_cn"):
        for case, _kind, name, _why in CASES:
            host = asked.get(world["ports"][(lb, case)])
            assert host == _ascii_lower(name), (lb, case, name, host)  # mod_proxy lower-cases it; no [] for IPv6


def test_lbview_reports_these_rules_and_names(world):
    """_lbview reads the three configurations and reports, per backend, the rule and the name used above."""
    by_port = {}
    for lb_type, conf in (("haproxy", world["haproxy"].conf), ("nginx", world["nginx"].conf),
                          ("apache", world["apache"].conf)):
        for item in _lbview.lb_backends(lb_type, str(conf)):
            by_port[item["port"]] = item
    for lb in LB_TYPES:
        for case, _kind, name, _why in CASES:
            item = by_port[world["ports"][(lb, case)]]
            assert item["name_rule"] == RULE_OF[lb], (lb, case, item)
            assert item["verify_name"] == name, (lb, case, item)
