"""How HAProxy 2.6, nginx 1.22 and Apache 2.4 read some of their own configuration, against the REAL servers: each
load balancer's own answer (HAProxy's check status from `show stat` and what `show ssl ca-file` loaded, a proxied
request's HTTP status) is asserted for every case, and the collection's reading -- lb_backend_info (the real module
runner) probes each backend as the load balancer connects to it, lb_verify_items and cert_chain_verify judge it --
must agree with it.

One root CA R (trusted) and one unrelated CA O; one leaf from R for every name the cases ask for, served by one
nginx on a port per case, so no load balancer reuses a connection or a TLS session between cases.

- HAProxy `ca-file <directory>`: HAProxy loads the first certificate of each *.pem, *.crt, *.cer file there. `cadir`
  keeps R as `R.pem.bak` beside `O.pem` (HAProxy: DOWN, only O loaded), `cadir_ok` keeps R as `R.crt` beside
  `O.pem.bak` (UP).
- HAProxy `no-check-ssl`: the checks are plain TCP (L4OK, UP) while the traffic, with a wrong `sni`, is refused
  (503): the backend is judged on the traffic's name, HOSTNAME_MISMATCH.
- nginx: `upstream App.Pool.Test` named by `proxy_pass https://app.pool.test` (nginx finds it whatever the case:
  200); `proxy_ssl_name app.internal:<port>` (nginx strips the port: 200).
- Apache `SSLProxyCACertificatePath`: R as `R.pem` (not rehashed: 500) and as `<hash>.0` (200).
- Apache, a main server without SSLProxyEngine (apache_a): a main-server <Proxy> section holding R, used by a
  VirtualHost that verifies with O: the section's context is the main server's, without SSLProxyEngine (500,
  AH01961); a BalancerMember under a <Proxy> section of its own URL (verify with O) that does not apply to it (200).
- Apache, a main server with SSLProxyEngine on (apache_b): a main-server ProxyPass, judged in each VirtualHost with
  its settings (one verifying with O: 500, one with R: 200), and no main-server item (no request reaches the main
  server); a main-server <Proxy> section (CA O, no SSLProxyVerify) over a VirtualHost that verifies with R: the main
  server's `SSLProxyVerify none` applies (200).
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import shutil
import tempfile

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs
from testlib import lbjudge, pki
from testlib.servers import (
    ApacheLB,
    HAProxyLB,
    KindBackends,
    NginxLB,
    _run,
    free_ports,
    haproxy_command,
    http_status,
)

ROOT = pki.issue("Semantics Root CA", ca=True, days=3650)
OTHER = pki.issue("Semantics Other CA", ca=True, days=3650)
NAMES = ["backend.test", "app.pool.test", "app.internal", "localhost"]
LEAF = pki.issue("backend.test", issuer=ROOT, names=NAMES)
BACKENDS = ("cadir", "cadir_ok", "nocheck", "upcase", "sslname", "capath", "capath_ok", "proxysec", "member",
            "mainpass", "proxysec2")
# case -> (what the load balancer does: accepted, how the collection finds the backend in its result)
CASES = {
    ("haproxy", "cadir"): False,
    ("haproxy", "cadir_ok"): True,
    ("haproxy", "nocheck"): False,  # its checks pass (L4OK), its traffic is refused
    ("nginx", "upcase"): True,
    ("nginx", "sslname"): True,
    ("apache_a", "capath"): False,
    ("apache_a", "capath_ok"): True,
    ("apache_a", "proxysec"): False,
    ("apache_a", "member"): True,
    ("apache_b", "mainpass_other"): False,
    ("apache_b", "mainpass_root"): True,
    ("apache_b", "proxysec2"): True,
}


def _haproxy_config(ports, dirs, ca_file, fe_port):
    return lbjudge.haproxy_head() + """
frontend fe_nocheck
    bind 127.0.0.1:%(fe)d
    default_backend be_nocheck

backend be_cadir
    server cadir 127.0.0.1:%(cadir)d ssl verify required ca-file %(cadir_dir)s check check-sni backend.test
    server cadir_ok 127.0.0.1:%(cadir_ok)d ssl verify required ca-file %(cadir_ok_dir)s check check-sni backend.test

backend be_nocheck
    default-server ssl verify required ca-file %(ca)s check check-sni backend.test
    server nocheck 127.0.0.1:%(nocheck)d sni str(wrong.test) no-check-ssl
""" % dict(ports, fe=fe_port, ca=ca_file, cadir_dir=dirs["cadir"], cadir_ok_dir=dirs["cadir_ok"])


def _nginx_config(ports, ca_file, lb_port):
    return """    upstream App.Pool.Test { server 127.0.0.1:%(upcase)d; }
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate %(ca)s;
    server {
        listen 127.0.0.1:%(lb)d;
        location /upcase/ { proxy_pass https://app.pool.test/; }
        location /sslname/ {
            proxy_pass https://127.0.0.1:%(sslname)d/;
            proxy_ssl_server_name on;
            proxy_ssl_name app.internal:%(sslname)d;
        }
    }
""" % dict(ports, ca=ca_file, lb=lb_port)


def _apache_a_config(ports, files, lb_port):
    """The main server has no SSLProxyEngine."""
    return """<Proxy "https://localhost:%(proxysec)d/">
    SSLProxyCACertificateFile %(root)s
</Proxy>
<VirtualHost 127.0.0.1:%(lb)d>
    ServerName a.lb.test
    SSLProxyEngine on
    <Location /capath/>
        ProxyPass https://localhost:%(capath)d/
    </Location>
    <Location /capath_ok/>
        ProxyPass https://localhost:%(capath_ok)d/
    </Location>
    <Proxy "https://localhost:%(capath)d/">
        SSLProxyVerify require
        SSLProxyCACertificatePath %(plain_dir)s
    </Proxy>
    <Proxy "https://localhost:%(capath_ok)d/">
        SSLProxyVerify require
        SSLProxyCACertificatePath %(hashed_dir)s
    </Proxy>
    ProxyPass /proxysec/ https://localhost:%(proxysec)d/
    <Proxy "https://localhost:%(member)d/">
        SSLProxyVerify require
        SSLProxyCACertificateFile %(other)s
    </Proxy>
    <Proxy "balancer://pool">
        BalancerMember https://localhost:%(member)d/
    </Proxy>
    ProxyPass /member/ balancer://pool/
</VirtualHost>
""" % dict(ports, lb=lb_port, **files)


def _apache_b_config(ports, files, lb_ports):
    """The main server has SSLProxyEngine on and a ProxyPass of its own; two VirtualHosts on ports of their own."""
    return """SSLProxyEngine on
ProxyPass /mainpass/ https://localhost:%(mainpass)d/
<Proxy "https://localhost:%(proxysec2)d/">
    SSLProxyCACertificateFile %(other)s
</Proxy>
<VirtualHost 127.0.0.1:%(lb_other)d>
    ServerName other.lb.test
    SSLProxyVerify require
    SSLProxyCACertificateFile %(other)s
</VirtualHost>
<VirtualHost 127.0.0.1:%(lb_root)d>
    ServerName root.lb.test
    SSLProxyVerify require
    SSLProxyCACertificateFile %(root)s
    ProxyPass /proxysec2/ https://localhost:%(proxysec2)d/
</VirtualHost>
""" % dict(ports, lb_other=lb_ports["other"], lb_root=lb_ports["root"], **files)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "semantics")
    cert = pki.write(base / "leaf.crt", LEAF.pem)
    key = pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    files = {"root": pki.write(base / "R.pem", ROOT.pem), "other": pki.write(base / "O.pem", OTHER.pem)}
    # Apache's children (www-data when run as root) open a hashed CA directory at each handshake, long after the
    # parent read the CA files: its directories live where they can reach them, not under pytest's 0700 base.
    shared = pathlib.Path(tempfile.mkdtemp(prefix="lb-semantics-"))
    shared.chmod(0o755)
    dirs = {name: (shared if name.endswith("_dir") else base) / name
            for name in ("cadir", "cadir_ok", "plain_dir", "hashed_dir")}
    for directory in dirs.values():
        directory.mkdir()
        directory.chmod(0o755)
    pki.write(dirs["cadir"] / "R.pem.bak", ROOT.pem)  # not a name HAProxy loads
    pki.write(dirs["cadir"] / "O.pem", OTHER.pem)
    pki.write(dirs["cadir_ok"] / "R.crt", ROOT.pem)
    pki.write(dirs["cadir_ok"] / "O.pem.bak", OTHER.pem)
    pki.write(dirs["plain_dir"] / "R.pem", ROOT.pem)  # never rehashed: OpenSSL's lookup does not open it
    pki.write(dirs["hashed_dir"] / ("%s.0" % _certs.name_hash(ROOT.cert.subject)), ROOT.pem)
    files.update(plain_dir=dirs["plain_dir"], hashed_dir=dirs["hashed_dir"])
    picked = free_ports(len(BACKENDS) + 5)
    ports = dict(zip(BACKENDS, picked))
    fe_port, nginx_port, apache_a_port, b_other, b_root = picked[len(BACKENDS):]
    haproxy = HAProxyLB(base / "haproxy", _haproxy_config(ports, dirs, files["root"], fe_port))
    nginx = NginxLB(base / "nginx", nginx_port, _nginx_config(ports, files["root"], nginx_port))
    nginx.write_config()
    _run(nginx.test_command)
    apache_a = ApacheLB(base / "apache_a", [apache_a_port], _apache_a_config(ports, files, apache_a_port))
    apache_b = ApacheLB(base / "apache_b", [b_other, b_root],
                        _apache_b_config(ports, files, {"other": b_other, "root": b_root}))
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        running.callback(shutil.rmtree, shared, True)
        for server in (KindBackends(base / "backends", {"leaf": list(ports.values())}, {"leaf": (cert, key)}),
                       haproxy, nginx, apache_a, apache_b):
            running.enter_context(server)
        yield {"haproxy": haproxy, "nginx": nginx, "apache_a": apache_a, "apache_b": apache_b, "dirs": dirs,
               "ports": ports,
               "lb_ports": {"fe": fe_port, "nginx": nginx_port, "apache_a": apache_a_port, "b_other": b_other,
                            "b_root": b_root}}


def _error_log(server):
    return (server.dir / "error.log").read_text()


@pytest.fixture(scope="module")
def said(world):
    """{case: (accepted, raw answer)}: each load balancer's own answer."""
    stat = lbjudge.haproxy_settled(world["haproxy"])
    ports = world["lb_ports"]
    out = {
        ("haproxy", "cadir"): (stat["cadir"][0] == "UP", stat["cadir"]),
        ("haproxy", "cadir_ok"): (stat["cadir_ok"][0] == "UP", stat["cadir_ok"]),
    }
    traffic = http_status("http://127.0.0.1:%d/" % ports["fe"])
    out[("haproxy", "nocheck")] = (traffic == 200, (stat["nocheck"], traffic))
    for path in ("upcase", "sslname"):
        status = http_status("http://127.0.0.1:%d/%s/" % (ports["nginx"], path))
        out[("nginx", path)] = (status == 200, status)
    for path in ("capath", "capath_ok", "proxysec", "member"):
        status = http_status("http://127.0.0.1:%d/%s/" % (ports["apache_a"], path))
        out[("apache_a", path)] = (status == 200, status)
    for case, port, path in (("mainpass_other", "b_other", "mainpass"), ("mainpass_root", "b_root", "mainpass"),
                             ("proxysec2", "b_root", "proxysec2")):
        status = http_status("http://127.0.0.1:%d/%s/" % (ports[port], path))
        out[("apache_b", case)] = (status == 200, status)
    return out


def test_the_load_balancers_answer_as_measured(said, world):
    assert {case: answer[0] for case, answer in said.items()} == CASES, said
    # HAProxy: the checks' own reasons, and the traffic of no-check-ssl refused while its plain checks pass
    assert said[("haproxy", "cadir")][1][1] == "L6RSP"
    assert said[("haproxy", "nocheck")][1] == (("UP", "L4OK", ""), 503)
    # Apache: a refused proxied request answers 500 (AH01084 wins over the handshake's 502), for its reason
    assert all(said[case][1] == 500 for case, accepted in CASES.items() if case[0].startswith("apache") and
               not accepted)
    assert "AH01961" in _error_log(world["apache_a"])  # proxysec: SSL proxy requested, not enabled there
    assert "unable to get local issuer certificate" in _error_log(world["apache_a"])  # capath


def test_haproxy_loads_from_a_ca_directory_what_the_collection_reads(world, views):
    """`show ssl ca-file <dir>`: the certificates HAProxy loaded from each directory, those the collection reads."""
    view = views["haproxy"]
    subjects = {c["fingerprint_sha256"]: c["subject"] for c in view["certificates"]}
    for server in ("cadir", "cadir_ok"):
        listing = haproxy_command(world["haproxy"].socket, "show ssl ca-file %s" % world["dirs"][server])
        loaded = sorted(re.findall(r"^Subject: /(.*)$", listing, re.M))
        (item,) = [i for i in view["lb_backends"] if i["server"] == server]
        assert loaded == sorted(subjects[f] for f in item["ca_fingerprints"]), (server, listing, item)
    assert len(re.findall(r"^Subject:", haproxy_command(
        world["haproxy"].socket, "show ssl ca-file %s" % world["dirs"]["cadir"]), re.M)) == 1


@pytest.fixture(scope="module")
def views(world):
    """lb_backend_info over HAProxy, nginx and the first Apache, then over the second Apache (one config per type)."""
    return {"haproxy": lbjudge.read({"haproxy": world["haproxy"]}), "nginx": lbjudge.read({"nginx": world["nginx"]}),
            "apache_a": lbjudge.read({"apache": world["apache_a"]}),
            "apache_b": lbjudge.read({"apache": world["apache_b"]})}


def _case_of(lb, item, world):
    if lb in ("haproxy", "nginx"):
        return (lb, item["server"]) if lb == "haproxy" else (lb, item["location"].split()[-1].strip("/"))
    path = item["location"].split()[-1].strip("/")
    if lb == "apache_b" and path == "mainpass":
        vhost = item["location"].split()[0]
        return (lb, "mainpass_other" if vhost.endswith(":%d" % world["lb_ports"]["b_other"]) else "mainpass_root")
    return (lb, path)


@pytest.fixture(scope="module")
def collection(views, world):
    """{case: (accepted, item, verdict)}: the collection's answer -- the backend reached, its item free of errors
    (a configuration its load balancer refuses, a CA it cannot use) and its served chain valid as judged."""
    out = {}
    for lb, view in views.items():
        verdicts = lbjudge.judged(view)
        for index, item in enumerate(view["lb_backends"]):
            case = _case_of(lb, item, world)
            assert case not in out, ("one item per case", case)
            verdict = verdicts.get(index)
            out[case] = (lbjudge.accepted(item, verdict), item, verdict)
    return out


def test_the_collection_reads_every_case_once(collection):
    assert set(collection) == set(CASES)
    # the main server's ProxyPass is read in each VirtualHost, and not for the main server (it answers no request)
    assert not any((item["location"] or "").startswith("main server") for _a, item, _v in collection.values())


def test_the_collection_agrees_with_each_load_balancer(said, collection):
    disagree = {case: (said[case], collection[case][0], collection[case][1]["error"],
                       collection[case][2] and lbjudge.error_codes(collection[case][2]))
                for case in CASES if said[case][0] != collection[case][0]}
    assert not disagree, disagree


def test_each_refusal_is_named_as_the_load_balancer_refuses(collection, world):
    def codes(case):
        _accepted, item, verdict = collection[case]
        return (item["error"] or {}).get("code"), verdict and lbjudge.error_codes(verdict)

    assert codes(("haproxy", "cadir")) == (None, ["UNTRUSTED_ROOT"])  # O alone loaded
    assert codes(("haproxy", "nocheck")) == (None, ["HOSTNAME_MISMATCH"])  # judged on the traffic's wrong.test
    assert collection[("haproxy", "nocheck")][1]["health_check"]["tls"] is False
    assert codes(("apache_a", "capath"))[0] == "NOT_A_CERTIFICATE"  # OpenSSL finds no anchor there
    assert codes(("apache_a", "proxysec"))[0] == "INVALID_CONFIG"  # SSLProxyEngine not on in that context
    assert codes(("apache_b", "mainpass_other")) == (None, ["UNTRUSTED_ROOT"])
    # accepted without verification: Apache's SSLProxyVerify none in these contexts
    for case in (("apache_a", "member"), ("apache_b", "proxysec2")):
        assert collection[case][1]["verify"] is False
    item = collection[("nginx", "upcase")][1]
    assert (item["source"], item["address"], item["port"], item["verify_name"]) == (
        "upstream", "127.0.0.1", world["ports"]["upcase"], "app.pool.test")  # the group's member, its name checked
    assert collection[("nginx", "sslname")][1]["endpoint"]["server_name"] == "app.internal"
