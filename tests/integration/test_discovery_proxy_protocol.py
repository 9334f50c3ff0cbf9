"""Sites behind the PROXY protocol, found by backend_cert_info's discovery and probed with the header their server
expects first, against REAL nginx, HAProxy and Apache (mod_remoteip); and a declared one remediated by the role.

Each server's own rule decides which sites expect the header, and each is held to the server both ways: a site
the collection probes with a header answers it and not a probe without one, and a site probed without one answers
that and not a probe with one. So a wrong reading of any rule fails here, as it fails the user's probe.

- nginx applies `listen ... proxy_protocol` (and `ssl`) to the listening socket: a server that shares the socket
  expects the header too (and speaks TLS, found as a site), whatever its own listen line says; a wildcard listen on
  the same port is another socket.
- HAProxy: `bind ... accept-proxy`, that bind line's addresses.
- Apache (2.4.71): `RemoteIPProxyProtocol On` in a VirtualHost, for the addresses it listens on and so every
  VirtualHost there; in the main server, every address; an `Off` that covers the address wins, except that for the
  very same address (or the main server's line again) the later line wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pathlib
import sys
import time

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from testlib import lbjudge, pki
from testlib.ansible_run import ROLE_PLAY, haproxy_judged_vars, recap, run_module, run_playbook
from testlib.servers import ApacheLB, HAProxyLB, NginxLB, ProtocolBackends, free_ports

CA = pki.CA("Proxy Protocol")


def _vhost(address, name, files, extra=""):
    return ("<VirtualHost %s>\n    ServerName %s\n    %s\n    SSLEngine on\n    SSLCertificateFile %s\n"
            "    SSLCertificateKeyFile %s\n</VirtualHost>\n" % (address, name, extra, *files[name][:2]))


def _nginx_body(port, files):
    n1, n2, n3, n4 = port
    servers = [("127.0.0.1:%d ssl proxy_protocol" % n1, "ngx-a.test"),  # the header
               ("127.0.0.1:%d ssl" % n1, "ngx-b.test"),  # the same socket: the header too
               ("127.0.0.1:%d ssl" % n2, "ngx-c.test"),  # no header, beside a wildcard socket that wants one
               ("127.0.0.1:%d ssl proxy_protocol;\n        listen 127.0.0.1:%d ssl" % (n3, n4), "ngx-d.test"),
               ("127.0.0.1:%d" % n1, "ngx-e.test")]  # neither option on its own line: TLS and the header too
    body = "".join("    server {\n        listen %s;\n        server_name %s;\n        ssl_certificate %s;\n"
                   "        ssl_certificate_key %s;\n        return 200;\n    }\n" % (listen, name, *files[name][:2])
                   for listen, name in servers)
    return body + "    server { listen %d proxy_protocol; server_name plain.test; return 200; }\n" % n2


def _haproxy_text(ports, files):
    h1, h2 = ports
    return lbjudge.haproxy_head() + (
        "frontend fe\n    bind 127.0.0.1:%d ssl crt %s accept-proxy\n    bind 127.0.0.1:%d ssl crt %s\n"
        "    http-request return status 200\n" % (h1, files["ha-a.test"][2], h2, files["ha-b.test"][2]))


def _apache_bodies(ports, files):
    """Five Apache servers: the main server's setting reaches every address, so each case of it has its own."""
    q = iter(ports)
    listen = {}

    def on(name):  # ApacheLB writes the Listen lines
        listen[name] = next(q)
        return ""

    one = on("p1") + "RemoteIPProxyProtocol On\n" + _vhost("127.0.0.1:%d" % listen["p1"], "ap1-a.test", files)
    two = "".join(on(p) for p in ("p2", "p3", "p4", "p5", "p6", "p7", "p10", "p11", "p12", "p14", "p15"))
    two += (_vhost("127.0.0.1:%d" % listen["p2"], "ap2-a.test", files)
            + _vhost("127.0.0.1:%d" % listen["p2"], "ap2-b.test", files, "RemoteIPProxyProtocol On")
            + _vhost("*:%d" % listen["p3"], "ap2-c.test", files)
            + _vhost("*:%d" % listen["p3"], "ap2-d.test", files, "RemoteIPProxyProtocol On")
            + _vhost("127.0.0.1:%d" % listen["p4"], "ap2-e.test", files, "RemoteIPProxyProtocol On")
            + _vhost("127.0.0.1:%d" % listen["p4"], "ap2-f.test", files, "RemoteIPProxyProtocol Off")
            + _vhost("127.0.0.1:%d" % listen["p5"], "ap2-g.test", files, "RemoteIPProxyProtocol On")
            + _vhost("127.0.0.1:%d" % listen["p6"], "ap2-h.test", files)
            + _vhost("*:%d" % listen["p7"], "ap2-i.test", files, "RemoteIPProxyProtocol On")
            + _vhost("127.0.0.1:%d" % listen["p7"], "ap2-j.test", files)
            # for the very same address the later line wins (mod_remoteip: AH03491 "is being overridden")
            + _vhost("127.0.0.1:%d" % listen["p10"], "ap2-k.test", files, "RemoteIPProxyProtocol Off")
            + _vhost("127.0.0.1:%d" % listen["p10"], "ap2-l.test", files, "RemoteIPProxyProtocol On")
            + _vhost("127.0.0.1:%d" % listen["p11"], "ap2-m.test", files,
                     "RemoteIPProxyProtocol Off\n    RemoteIPProxyProtocol On")
            + _vhost("*:%d" % listen["p12"], "ap2-n.test", files, "RemoteIPProxyProtocol Off")
            + _vhost("*:%d" % listen["p12"], "ap2-o.test", files, "RemoteIPProxyProtocol On")
            # an Off for an address that covers another's On wins
            + _vhost("*:%d" % listen["p14"], "ap2-p.test", files, "RemoteIPProxyProtocol Off")
            + _vhost("127.0.0.1:%d" % listen["p14"], "ap2-q.test", files, "RemoteIPProxyProtocol On")
            # 0.0.0.0 is * to Apache: the very same address, the later line wins
            + _vhost("0.0.0.0:%d" % listen["p15"], "ap2-r.test", files, "RemoteIPProxyProtocol Off")
            + _vhost("*:%d" % listen["p15"], "ap2-s.test", files, "RemoteIPProxyProtocol On"))
    three = on("p8") + "RemoteIPProxyProtocol On\n" + (
        _vhost("127.0.0.1:%d" % listen["p8"], "ap3-a.test", files, "RemoteIPProxyProtocol Off")
        + _vhost("127.0.0.1:%d" % listen["p8"], "ap3-b.test", files))
    four = on("p9") + "RemoteIPProxyProtocol Off\n"
    four += _vhost("127.0.0.1:%d" % listen["p9"], "ap4-a.test", files, "RemoteIPProxyProtocol On")
    five = on("p13") + "RemoteIPProxyProtocol Off\nRemoteIPProxyProtocol On\n"
    five += _vhost("127.0.0.1:%d" % listen["p13"], "ap5-a.test", files)
    return [([listen[p] for p in ps], body) for ps, body in (
        (["p1"], one), (["p2", "p3", "p4", "p5", "p6", "p7", "p10", "p11", "p12", "p14", "p15"], two), (["p8"], three),
        (["p9"], four), (["p13"], five))]


# site name -> whether its server expects a PROXY protocol header first
EXPECTS = {"ngx-a.test": True, "ngx-b.test": True, "ngx-c.test": False, "ngx-d.test": True, "ngx-e.test": True,
           "ha-a.test": True, "ha-b.test": False,
           "ap1-a.test": True, "ap2-a.test": True, "ap2-b.test": True, "ap2-c.test": True, "ap2-d.test": True,
           "ap2-e.test": False, "ap2-f.test": False, "ap2-g.test": True, "ap2-h.test": False, "ap2-i.test": True,
           "ap2-j.test": True, "ap2-k.test": True, "ap2-l.test": True, "ap2-m.test": True, "ap2-n.test": True,
           "ap2-o.test": True, "ap2-p.test": False, "ap2-q.test": False, "ap2-r.test": True,
           "ap2-s.test": True, "ap3-a.test": False, "ap3-b.test": False,
           "ap4-a.test": False, "ap5-a.test": True}
# Apache answers a connection to 127.0.0.1 with the VirtualHosts of that address before any of *, whatever the SNI
SERVED_BY = {"ap2-i.test": "ap2-j.test", "ap2-p.test": "ap2-q.test"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    workdir = lbjudge.workdir(tmp_path_factory, "proxy-protocol")
    leaves, files = {}, {}
    for name in EXPECTS:
        leaves[name] = CA.leaf(name, names=[name])
        chain = pki.write(workdir / ("%s.crt" % name), CA.chain_pem(leaves[name]))
        key = pki.write(workdir / ("%s.key" % name), leaves[name].key_pem(), mode=0o600)
        both = pki.write(workdir / ("%s.pem" % name), CA.chain_pem(leaves[name]) + leaves[name].key_pem(), mode=0o600)
        files[name] = (chain, key, both)
    ports = free_ports(4 + 2 + 15)
    servers = [NginxLB(workdir / "nginx", ports[0], _nginx_body(ports[:4], files)),
               HAProxyLB(workdir / "haproxy", _haproxy_text(ports[4:6], files))]
    servers[0].plain_ports = ports[:4]
    servers += [ApacheLB(workdir / ("apache%d" % i), listen, body, modules=["remoteip"])
                for i, (listen, body) in enumerate(_apache_bodies(ports[6:], files))]
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        yield {"servers": servers, "leaves": leaves}


def _discovered(world):
    nginx, haproxy, *apaches = world["servers"]
    discover = ([{"type": "nginx", "config": str(nginx.conf)}, {"type": "haproxy", "config": str(haproxy.conf)}]
                + [{"type": "apache", "config": str(apache.conf)} for apache in apaches])
    result = run_module("backend_cert_info", {"discover": discover, "include_pem": False, "timeout": 15})
    assert not result.get("failed"), result
    return result


def _ours(result):
    """{site name: discovered site}: each is named by its certificate file (an HAProxy `crt` names no server)."""
    sites = {}
    for site in result["sites"]:
        name = pathlib.Path(site["cert_file"]).stem
        if name in EXPECTS:
            sites[name] = site
    assert sorted(sites) == sorted(EXPECTS)
    return sites


def test_discovered_sites_behind_the_proxy_protocol(world):
    result = _discovered(world)
    sites = _ours(result)
    read = {name: site["endpoint"].get("proxy_protocol") for name, site in sites.items()}
    assert read == {name: "v1" if expects else None for name, expects in EXPECTS.items()}
    by_key = {(e["host"], e["port"], e["server_name"], e.get("proxy_protocol")): e for e in result["endpoints"]}
    for name, site in sites.items():
        endpoint = site["endpoint"]
        served = by_key[(endpoint["host"], endpoint["port"], endpoint["server_name"], endpoint.get("proxy_protocol"))]
        leaf = world["leaves"][SERVED_BY.get(name, name)]
        assert served["ok"] and served["chain"][0] == leaf.fingerprint, (name, served)
        assert len(served["chain"]) == 2 and site["served_matches_disk"] is (name not in SERVED_BY), (name, site)
        assert site["error"] is None, site


def test_each_reading_is_the_servers_own(world):
    """The other way round fails on every site: each server really expects what the collection read, no more."""
    sites = _ours(_discovered(world))
    names = sorted(sites)
    flipped = [{"host": sites[name]["endpoint"]["host"], "port": sites[name]["endpoint"]["port"],
                "server_name": sites[name]["endpoint"]["server_name"] or "",
                "proxy_protocol": None if EXPECTS[name] else "v2"} for name in names]
    probed = run_module("backend_cert_info", {"endpoints": flipped, "timeout": 15})
    assert not probed.get("failed"), probed
    assert len(probed["endpoints"]) == len(names)
    for name, endpoint in zip(names, probed["endpoints"]):
        # (nginx answers an unexpected header as a plain-HTTP error: NOT_TLS)
        assert not endpoint["ok"] and endpoint["error"]["code"] in (
            "CONNECTION_RESET", "TLS_HANDSHAKE_FAILED", "NOT_TLS"), (name, endpoint)
        assert endpoint.get("proxy_protocol") == (None if EXPECTS[name] else "v2"), (name, endpoint)


def test_a_declared_endpoint_sends_either_version(world):
    """An endpoint given with proxy_protocol v1 or v2 is probed with that header, and each is a probe of its own."""
    nginx = world["servers"][0]
    port = nginx.plain_ports[0]
    probed = run_module("backend_cert_info", {"timeout": 15, "endpoints": [
        {"host": "127.0.0.1", "port": port, "server_name": "ngx-a.test", "proxy_protocol": "v2"},
        {"host": "127.0.0.1", "port": port, "server_name": "ngx-a.test", "proxy_protocol": "v1"},
        {"host": "127.0.0.1", "port": port, "server_name": "ngx-a.test", "proxy_protocol": "v2"}]})
    assert [(e["proxy_protocol"], e["ok"], e["chain"][:1]) for e in probed["endpoints"]] == [
        ("v2", True, [world["leaves"]["ngx-a.test"].fingerprint]),
        ("v1", True, [world["leaves"]["ngx-a.test"].fingerprint])], probed["endpoints"]
    refused = run_module("backend_cert_info", {"endpoints": [
        {"host": "127.0.0.1", "port": port, "proxy_protocol": "v3"}]})
    assert refused.get("failed") and refused["error"]["code"] == "INVALID_ARGUMENT", refused
    assert "proxy_protocol must be v1 or v2" in refused["msg"]


def _expired_site(tmp_path, name):
    """(old, renewed, cert file, key file): a site's live files with an expired leaf, and its renewal under
    <tmp_path>/source/pp (the role's source directory)."""
    old = CA.leaf(name, names=[name], days=30, start_days=-60)
    renewed = CA.leaf(name, names=[name], days=90)
    cert = pki.write(tmp_path / "site.crt", CA.chain_pem(old))
    key = pki.write(tmp_path / "site.key", old.key_pem(), 0o600)
    source = tmp_path / "source" / "pp"
    source.mkdir(parents=True)
    pki.write(source / "cert.pem", renewed.pem)
    pki.write(source / "chain.pem", CA.intermediate.pem)
    pki.write(source / "key.pem", renewed.key_pem(), 0o600)
    return old, renewed, cert, key


def test_the_role_remediates_a_site_behind_the_proxy_protocol(tmp_path):
    """A declared site whose endpoint sends the header: the role reads what it serves, pushes the renewed
    certificate, reloads, verifies it through the header, and a second run has nothing to do."""
    name = "pp.role.test"
    old, renewed, cert, key = _expired_site(tmp_path, name)
    (port,) = free_ports(1)
    server = ProtocolBackends(tmp_path / "srv", [{"name": "pp", "port": port, "cert": cert, "key": key,
                                                  "protocols": "TLSv1.2 TLSv1.3", "fqdn": name,
                                                  "proxy_protocol": True}])
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"backends": {"hosts": {"pp": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_remediation_sites": [{
            "name": "pp", "server_type": "nginx", "cert_path": cert, "key_path": key, "server_names": [name],
            "endpoint": {"host": "127.0.0.1", "port": port, "server_name": name, "proxy_protocol": "v1"},
            "test_command": " ".join(server.test_command), "reload_command": " ".join(server.reload_command)}]}},
        "vars": {"cert_remediation_ca_path": pki.write(tmp_path / "ca.pem", CA.root.pem),
                 "cert_remediation_source_dir": str(tmp_path / "source"),
                 "cert_remediation_backup_dir": str(tmp_path / "backups"), "cert_remediation_report_dir": str(tmp_path),
                 "cert_remediation_report_formats": ["json"],
                 "cert_remediation_reload": "command", "cert_remediation_reload_wait": 10}}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(ROLE_PLAY)

    def served():
        probe = _probe.probe("127.0.0.1", port, server_name=name, timeout=10, proxy_protocol="v1")
        assert probe["ok"], probe
        return hashlib.sha256(probe["chain_der"][0]).hexdigest()

    with server:
        assert served() == old.fingerprint
        first = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "remediate"})
        assert recap(first.stdout)["pp"]["failed"] == 0, first.stdout[-5000:]
        assert served() == renewed.fingerprint
        (site,) = json.loads((tmp_path / "report.json").read_text())["hosts"]["pp"]["sites"]
        assert site["status"] == "done" and site["endpoint"]["proxy_protocol"] == "v1", site
        second = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "remediate"})
        again = recap(second.stdout)["pp"]
        assert (again["changed"], again["failed"]) == (0, 0), second.stdout[-3000:]


def test_the_role_judged_by_a_load_balancer_that_sends_the_header(tmp_path):
    """cert_remediation_lb_hosts with HAProxy's `send-proxy` to a backend that expects the header: the load balancer's
    view probes it as HAProxy's checks do, judges it EXPIRED (HAProxy has it DOWN), the role pushes the renewal and
    reloads, and HAProxy's own check then has it UP."""
    name = "pp-lb.role.test"
    _old, renewed, cert, key = _expired_site(tmp_path, name)
    ca_file = pki.write(tmp_path / "ca.pem", CA.root.pem)
    (port,) = free_ports(1)
    backend = ProtocolBackends(tmp_path / "srv", [{"name": "pp", "port": port, "cert": cert, "key": key,
                                                   "protocols": "TLSv1.2 TLSv1.3", "fqdn": name,
                                                   "proxy_protocol": True}])
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head() + (
        "backend be_pp\n    server pp 127.0.0.1:%d ssl verify required ca-file %s sni str(%s) check check-sni %s "
        "send-proxy\n" % (port, ca_file, name, name)))
    inventory = tmp_path / "inventory.json"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(json.dumps({
        "load_balancers": {"hosts": {"lb": dict(local)}},
        "backends": {"hosts": {"pp": dict(local, cert_remediation_sites=[{
            "name": "pp", "server_type": "nginx", "cert_path": cert, "key_path": key, "server_names": [name],
            "endpoint": {"host": "127.0.0.1", "port": port, "server_name": name, "proxy_protocol": "v1"},
            "test_command": " ".join(backend.test_command), "reload_command": " ".join(backend.reload_command)}])},
            "vars": haproxy_judged_vars(tmp_path, lb.conf, cert_remediation_ca_path=ca_file)}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(ROLE_PLAY)

    def report():
        (entry,) = json.loads((tmp_path / "report.json").read_text())["hosts"].values()
        (site,) = entry["sites"]
        return site

    with backend, lb:
        assert lbjudge.haproxy_settled(lb)["pp"][0] == "DOWN"
        before = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "diagnose"})
        assert before.returncode == 0, before.stdout[-5000:]
        site = report()
        assert site["endpoint"]["proxy_protocol"] == "v1", site
        (line,) = site["before"]["lb"]
        assert (line["valid"], line["codes"]) == (False, ["EXPIRED"]), line
        fixed = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "remediate"})
        assert fixed.returncode == 0 and report()["status"] == "done", fixed.stdout[-5000:]
        probe = _probe.probe("127.0.0.1", port, server_name=name, timeout=10, proxy_protocol="v1")
        assert hashlib.sha256(probe["chain_der"][0]).hexdigest() == renewed.fingerprint
        deadline = time.monotonic() + 15
        while lbjudge.haproxy_settled(lb)["pp"][0] != "UP" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert lb.stat()["pp"][0] == "UP", lb.stat()
