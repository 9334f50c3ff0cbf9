"""backend_cert_info against real nginx, Apache and HAProxy processes and misbehaving peers on loopback."""

from __future__ import annotations

import pytest

from testlib import pki
from testlib.ansible_run import recap, run_module, run_playbook
from testlib.servers import Apache, HAProxy, Misbehaving, Nginx, free_port, free_ports

TARGET = __import__("pathlib").Path(__file__).parent / "targets" / "backend_cert_info"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Four sites on three real servers; one renewed on disk but never reloaded."""
    root = tmp_path_factory.mktemp("servers")
    ca = pki.CA("Integration")
    certs = root / "certs"
    certs.mkdir()
    shop = ca.leaf("shop.test", names=["shop.test", "www.shop.test"])
    stale_old, stale_new = ca.leaf("stale.test"), ca.leaf("stale.test")
    api = ca.leaf("api.test", names=["api.test", "api2.test"], key=pki.new_key("rsa", 2048))
    edge = ca.leaf("edge.test", names=["edge.test"])
    files = {
        "shop.crt": ca.chain_pem(shop), "shop.key": shop.key_pem(),
        "stale.crt": ca.chain_pem(stale_old), "stale.key": stale_old.key_pem(),
        "api.crt": api.pem, "api.key": api.key_pem(), "api-chain.crt": ca.intermediate.pem,
        "edge.pem": ca.chain_pem(edge) + edge.key_pem(),
    }
    for name, text in files.items():
        pki.write(certs / name, text, mode=0o600 if "key" in name or name == "edge.pem" else 0o644)
    p = dict(zip(("shop", "stale", "api", "edge", "plain"), free_ports(5)))
    nginx = Nginx(root / "nginx", [
        {"name": "shop", "port": p["shop"], "server_names": ["shop.test", "www.shop.test"],
         "cert": str(certs / "shop.crt"), "key": str(certs / "shop.key")},
        {"name": "stale", "port": p["stale"], "server_names": ["stale.test"],
         "cert": str(certs / "stale.crt"), "key": str(certs / "stale.key")}], plain_ports=[p["plain"]])
    apache = Apache(root / "apache", [
        {"name": "api", "port": p["api"], "server_names": ["api.test", "api2.test"], "cert": str(certs / "api.crt"),
         "key": str(certs / "api.key"), "chain": str(certs / "api-chain.crt")}])
    haproxy = HAProxy(root / "haproxy", [
        {"name": "edge", "port": p["edge"], "server_names": [], "cert": str(certs / "edge.pem")}])
    with nginx, apache, haproxy:
        # Renewed on disk, never reloaded: the classic cause of the alert.
        pki.write(certs / "stale.crt", ca.chain_pem(stale_new))
        pki.write(certs / "stale.key", stale_new.key_pem(), mode=0o600)
        full = [ca.intermediate.fingerprint]

        def site(name, server_type, leaf, names, port, cert, key, chain=None, served=None, matches=True, listen=None):
            return {"name": name, "server_type": server_type, "cert_file": str(certs / cert),
                    "key_file": str(certs / key), "chain_file": str(certs / chain) if chain else None,
                    "server_names": names, "port": port, "listen": listen or ["127.0.0.1:%d" % port],
                    "served_chain": [(served or leaf).fingerprint] + full, "disk_chain": [leaf.fingerprint] + full,
                    "served_matches_disk": matches}

        expected = [
            site("nginx-shop.test", "nginx", shop, ["shop.test", "www.shop.test"], p["shop"], "shop.crt", "shop.key"),
            site("nginx-stale.test", "nginx", stale_new, ["stale.test"], p["stale"], "stale.crt", "stale.key",
                 served=stale_old, matches=False),
            site("apache-api.test", "apache", api, ["api.test", "api2.test"], p["api"], "api.crt", "api.key",
                 chain="api-chain.crt"),
            site("haproxy-edge.test", "haproxy", edge, ["edge.test"], p["edge"], "edge.pem", "edge.pem"),
        ]
        yield {"nginx": nginx, "apache": apache, "haproxy": haproxy, "expected": expected, "ports": p,
               "certs": certs, "ca": ca, "shop": shop}


def test_discovery_and_served_chains(lab):
    proc = run_playbook(TARGET / "discover.yml", extra_vars={
        "nginx_conf": str(lab["nginx"].conf), "apache_conf": str(lab["apache"].conf),
        "haproxy_conf": str(lab["haproxy"].conf), "expected_sites": lab["expected"],
        "stale_site": "nginx-stale.test"})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert recap(proc.stdout)["localhost"] == {"ok": 6, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 0,
                                               "rescued": 0, "ignored": 0}


def test_haproxy_crt_list_names(lab, tmp_path):
    """crt-list: the names come from the list's SNI filters, not the certificate."""
    port = free_port()
    server = HAProxy(tmp_path / "hap", [{"name": "listed", "port": port, "server_names": ["listed.test", "alias.test"],
                                         "cert": str(lab["certs"] / "edge.pem")}], crt_list=True)
    with server:
        result = run_module("backend_cert_info", {"discover": [{"type": "haproxy", "config": str(server.conf)}],
                                                  "include_pem": False})
    (site,) = result["sites"]
    assert site["name"] == "haproxy-listed.test" and site["server_names"] == ["listed.test", "alias.test"]
    assert site["endpoint"] == {"host": "127.0.0.1", "port": port, "server_name": "listed.test"}
    assert site["served_matches_disk"] is True and site["key_matches_cert"] is True


def test_declared_sites_and_endpoint_dedup(lab):
    """Declared sites are checked like discovered ones; an endpoint probed for two reasons is probed once."""
    port = lab["ports"]["shop"]
    certs = lab["certs"]
    result = run_module("backend_cert_info", {
        "sites": [{"name": "shop", "server_type": "nginx", "cert_path": str(certs / "shop.crt"),
                   "key_path": str(certs / "api.key"), "endpoint": {"host": "127.0.0.1", "port": port},
                   "server_names": ["shop.test"]}],
        "endpoints": [{"host": "127.0.0.1", "port": port, "server_name": "shop.test"}],
        "include_pem": False})
    (site,) = result["sites"]
    assert site["origin"] == "declared" and site["served_matches_disk"] is True
    assert site["key_matches_cert"] is False  # the API's key is not the shop's
    assert len(result["endpoints"]) == 1 and result["endpoints"][0]["server_name"] == "shop.test"
    assert "chain_pem" not in result["endpoints"][0] and "pem" not in result["certificates"][0]


def test_misbehaving_peers_are_bounded(lab):
    timeout = 2.0
    with Misbehaving("silent") as silent, Misbehaving("reset") as reset:
        closed = free_port()
        result = run_module("backend_cert_info", {"timeout": timeout, "endpoints": [
            "127.0.0.1:%d" % closed, "127.0.0.1:%d" % silent.port, "127.0.0.1:%d" % lab["ports"]["plain"],
            "127.0.0.1:%d" % reset.port, "no-such-host.invalid:443",
            {"host": "127.0.0.1", "port": lab["ports"]["shop"], "server_name": "shop.test"}]})
    assert result.get("failed") is not True, result
    codes = [(e["error"] or {}).get("code") for e in result["endpoints"]]
    assert codes == ["CONNECTION_REFUSED", "TIMEOUT", "NOT_TLS", "CONNECTION_RESET", "DNS_FAILURE", None]
    for endpoint in result["endpoints"]:
        # The contract: an endpoint never takes longer than its timeout plus a small margin.
        assert endpoint["elapsed_ms"] <= (timeout + 1) * 1000, endpoint
    assert result["endpoints"][5]["ok"] and result["endpoints"][5]["tls_version"].startswith("TLS")
    assert result["summary"]["errors"] == 5


def test_bad_arguments_fail_cleanly(lab):
    for args, needle in [({"endpoints": ["host:notaport"]}, "port"),
                         ({"discover": ["iis"]}, "expected one of"),
                         ({"paths": ["/x"], "query": "[[["}, "invalid query"),
                         ({"paths": ["/x"], "timeout": 0}, "must be positive")]:
        result = run_module("backend_cert_info", args)
        assert result.get("failed") is True, result
        assert needle in result["msg"] and "Traceback" not in str(result), result


def test_an_endpoint_can_ask_for_no_sni(tmp_path):
    """sni: false sends none, as nginx's proxy_ssl_server_name off does: the backend answers with its default
    certificate, which a probe with any name would not show. A declared site keeps it (its served chain is the
    default one), server_name with sni: false is refused, and "false" as text is read as a boolean."""
    ca = pki.CA("No SNI")
    default, named = ca.leaf("default.sni.test"), ca.leaf("named.sni.test")
    port = free_port()
    for name, leaf in (("default", default), ("named", named)):
        pki.write(tmp_path / ("%s.crt" % name), ca.chain_pem(leaf))
        pki.write(tmp_path / ("%s.key" % name), leaf.key_pem(), mode=0o600)
    sites = [{"name": "a-default", "port": port, "server_names": ["default.sni.test"],
              "cert": str(tmp_path / "default.crt"), "key": str(tmp_path / "default.key")},
             {"name": "b-named", "port": port, "server_names": ["named.sni.test"],
              "cert": str(tmp_path / "named.crt"), "key": str(tmp_path / "named.key")}]
    with Nginx(tmp_path / "nginx", sites):
        result = run_module("backend_cert_info", {"endpoints": [
            {"host": "localhost", "port": port, "server_name": "named.sni.test"},
            {"host": "localhost", "port": port, "sni": False},
            {"host": "localhost", "port": port, "sni": "false"}]})
        served = [(e["server_name"], e["chain"][0]) for e in result["endpoints"]]
        assert served == [("named.sni.test", named.fingerprint), (None, default.fingerprint)], served
        declared = run_module("backend_cert_info", {"sites": [
            {"name": "named", "server_type": "nginx", "cert_path": str(tmp_path / "named.crt"),
             "key_path": str(tmp_path / "named.key"), "server_names": ["named.sni.test"],
             "endpoint": {"host": "localhost", "port": port, "sni": False}}]})
        (site,) = declared["sites"]
        assert site["endpoint"]["server_name"] is None and site["served_matches_disk"] is False, site
        refused = run_module("backend_cert_info", {"endpoints": [
            {"host": "localhost", "port": port, "sni": False, "server_name": "named.sni.test"}]})
        assert refused.get("failed") and refused["error"]["code"] == "INVALID_ARGUMENT", refused
        assert "sni: false" in refused["msg"]
