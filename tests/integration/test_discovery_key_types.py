"""A server that loads certificates of several key types (nginx's `ssl_certificate` and Apache's
`SSLCertificateFile` given more than once: RSA beside ECDSA, the common pair) serves one certificate per key type,
and which one a client gets depends on what its handshake offers. Discovery used to make one site of the last
certificate listed and probe it unrestricted: the probe got the ECDSA certificate, so an RSA certificate listed
last was "not what the server serves" (the role planned a reload, which could change nothing), and one listed
first was never looked at, expired or not.

Each key type is now its own site (`<site>+rsa`, `<site>+ec`), probed asking for that type, and a certificate a
later one of the same type replaces is not a site. HAProxy, which picks among a bind's certificates for one name
by key type (several `crt`, a `.rsa`/`.ecdsa` bundle), likewise. Held here to REAL nginx 1.22, Apache 2.4 and
HAProxy 2.6: what each site's
probe got must be what `openssl s_client -sigalgs` (the reference: it asks by signature algorithm, over TLS 1.2 or
1.3) gets from the running server for that key type, and the certificate file discovery names for it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info
from testlib import lbjudge, pki
from testlib.ansible_run import ROLE_PLAY, diagnose_sites, haproxy_judged_vars, run_module, run_playbook
from testlib.module_runner import run_main
from testlib.servers import ApacheLB, HAProxyLB, NginxLB, free_ports

CA = pki.CA("Key Types")
# what `openssl s_client -sigalgs` offers to get each key type's certificate (any TLS version)
SIGALGS = {"RSA": "rsa_pss_rsae_sha256:rsa_pkcs1_sha256", "EC": "ecdsa_secp256r1_sha256", "Ed25519": "ed25519"}
KEYS = {"RSA": lambda: pki.new_key("rsa"), "EC": pki.new_key, "Ed25519": ed25519.Ed25519PrivateKey.generate}


def _files(base, label, name, kind, **kwargs):
    leaf = CA.leaf(name, names=[name], key=KEYS[kind](), **kwargs)
    return {"cert": pki.write(base / ("%s.crt" % label), CA.chain_pem(leaf)),
            "key": pki.write(base / ("%s.key" % label), leaf.key_pem(), 0o600),
            "fingerprint": leaf.fingerprint, "kind": kind}


def _ngx_certs(*files):
    return "".join("        ssl_certificate %s;\n        ssl_certificate_key %s;\n" % (f["cert"], f["key"])
                   for f in files)


def _openssl_leaf(port, name, kind, host="127.0.0.1"):
    """The leaf the running server sends a client asking for `kind` by signature algorithm, by openssl itself."""
    proc = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-servername", name,
                           "-sigalgs", SIGALGS[kind]], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                          check=False)
    pem = proc.stdout.decode()
    assert "-----BEGIN CERTIFICATE-----" in pem, proc.stderr.decode()[-2000:]
    block = pem[pem.index("-----BEGIN CERTIFICATE-----"):pem.index("-----END CERTIFICATE-----") + 25]
    return pki.Issued(pki.x509.load_pem_x509_certificate(block.encode()), None).fingerprint


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "key-types")
    f = {}
    for label, name, kind in (("rsa-ec.rsa", "rsa-ec.test", "RSA"), ("rsa-ec.ec", "rsa-ec.test", "EC"),
                              ("ec-rsa.ec", "ec-rsa.test", "EC"), ("tls13.rsa", "tls13.test", "RSA"),
                              ("tls13.ec", "tls13.test", "EC"), ("inh.rsa", "inherit.test", "RSA"),
                              ("inh.ec", "inherit.test", "EC"), ("own.ec", "own.test", "EC"),
                              ("stale.rsa-old", "stale.test", "RSA"), ("stale.ec", "stale.test", "EC"),
                              ("stale.rsa", "stale.test", "RSA"), ("ed.rsa", "ed.test", "RSA"),
                              ("ed.ed25519", "ed.test", "Ed25519"), ("ap.rsa", "ap-both.test", "RSA"),
                              ("ap.ec", "ap-both.test", "EC"), ("ap-main.ec", "ap-merged.test", "EC"),
                              ("ap-main.rsa", "ap-merged.test", "RSA"), ("ap-own.ec", "ap-merged.test", "EC")):
        f[label] = _files(base, label, name, kind)
    # listed first and expired: before, never looked at
    f["ec-rsa.rsa"] = _files(base, "ec-rsa.rsa", "ec-rsa.test", "RSA", days=10, start_days=-30)
    for label, name, kind in (("mixed.rsa", "mixed.test", "RSA"), ("mixed.test", "mixed.test", "EC"),
                              ("uns.rsa", "unservable.test", "RSA"), ("uns.ec", "unservable.test", "EC"),
                              ("pp13.rsa", "pp13.test", "RSA"), ("pp13.ec", "pp13.test", "EC")):
        f[label] = _files(base, label, name, kind)
    p = dict(zip(("rsa_ec", "ec_rsa", "tls13", "inherit", "own", "stale", "ed", "ap_both", "ap_merged", "mixed",
                  "unservable", "pp13"), free_ports(12)))

    def server(port, name, *files, extra="", listen=""):
        return ("    server {\n        listen 127.0.0.1:%d ssl%s;\n        server_name %s;\n%s%s        return 200;\n"
                "    }\n" % (port, listen, name, _ngx_certs(*files), extra))

    # the http block's two certificates: inherited by a server with none of its own, replaced by one's own
    body = (_ngx_certs(f["inh.rsa"], f["inh.ec"]).replace("        ", "    ")
            + server(p["rsa_ec"], "rsa-ec.test", f["rsa-ec.rsa"], f["rsa-ec.ec"])
            + server(p["ec_rsa"], "ec-rsa.test", f["ec-rsa.ec"], f["ec-rsa.rsa"])
            + server(p["tls13"], "tls13.test", f["tls13.rsa"], f["tls13.ec"], extra="        ssl_protocols TLSv1.3;\n")
            + server(p["inherit"], "inherit.test")
            + server(p["own"], "own.test", f["own.ec"])
            + server(p["stale"], "stale.test", f["stale.rsa-old"], f["stale.ec"], f["stale.rsa"])
            + server(p["ed"], "ed.test", f["ed.rsa"], f["ed.ed25519"])
            # one of two certificates named by a variable (resolved per handshake: here the ECDSA mixed.test.crt)
            + server(p["mixed"], "mixed.test", f["mixed.rsa"], {"cert": str(base / "$ssl_server_name.crt"),
                                                                "key": str(base / "$ssl_server_name.key")})
            # the server's own settings leave no handshake for its RSA certificate
            + server(p["unservable"], "unservable.test", f["uns.rsa"], f["uns.ec"],
                     extra="        ssl_protocols TLSv1.2;\n        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;\n")
            # TLS 1.3 only, behind a PROXY protocol header: s_client, which sets signature algorithms, sends none
            + server(p["pp13"], "pp13.test", f["pp13.rsa"], f["pp13.ec"], listen=" proxy_protocol",
                     extra="        ssl_protocols TLSv1.3;\n"))
    nginx = NginxLB(base / "nginx", [p[k] for k in ("rsa_ec", "ec_rsa", "tls13", "inherit", "own", "stale", "ed",
                                                    "mixed", "unservable", "pp13")], body)
    # Apache: a VirtualHost with both; the main server's two beside a VirtualHost's one (mod_ssl takes the
    # VirtualHost's first in place of the main server's first, and keeps the main server's second)
    vhost = ("<VirtualHost 127.0.0.1:%d>\n    ServerName %s\n    SSLEngine on\n%s</VirtualHost>\n")
    certs = "".join("    SSLCertificateFile %s\n    SSLCertificateKeyFile %s\n" % (x["cert"], x["key"])
                    for x in (f["ap.rsa"], f["ap.ec"]))
    apache = ApacheLB(base / "apache", [p["ap_both"], p["ap_merged"]],
                      "SSLCertificateFile %s\nSSLCertificateKeyFile %s\nSSLCertificateFile %s\n"
                      "SSLCertificateKeyFile %s\n" % (f["ap-main.ec"]["cert"], f["ap-main.ec"]["key"],
                                                      f["ap-main.rsa"]["cert"], f["ap-main.rsa"]["key"])
                      + vhost % (p["ap_both"], "ap-both.test", certs)
                      + vhost % (p["ap_merged"], "ap-merged.test", "    SSLCertificateFile %s\n    "
                                 "SSLCertificateKeyFile %s\n" % (f["ap-own.ec"]["cert"], f["ap-own.ec"]["key"])))
    # HAProxy: two `crt` of one name, and a multi-certificate bundle (`crt b.pem` loads b.pem.rsa and b.pem.ecdsa);
    # HAProxy's files hold the key (its `.key` is not there)
    for label, name, kind in (("two-rsa.pem", "ha-two.test", "RSA"), ("two-ec.pem", "ha-two.test", "EC"),
                              ("bundle.pem.rsa", "ha-bundle.test", "RSA"),
                              ("bundle.pem.ecdsa", "ha-bundle.test", "EC")):
        leaf = CA.leaf(name, names=[name], key=KEYS[kind]())
        f[label] = {"cert": pki.write(base / label, CA.chain_pem(leaf) + leaf.key_pem(), 0o600),
                    "fingerprint": leaf.fingerprint, "kind": kind}
        f[label]["key"] = f[label]["cert"]
    ha_two, ha_bundle = free_ports(2)
    p.update(ha_two=ha_two, ha_bundle=ha_bundle)
    haproxy = HAProxyLB(base / "haproxy", lbjudge.haproxy_head() + (
        "frontend two\n    bind 127.0.0.1:%d ssl crt %s crt %s\n    http-request return status 200\n"
        "frontend bundle\n    bind 127.0.0.1:%d ssl crt %s\n    http-request return status 200\n" % (
            ha_two, f["two-rsa.pem"]["cert"], f["two-ec.pem"]["cert"], ha_bundle, base / "bundle.pem")))
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for item in (nginx, apache, haproxy):
            running.enter_context(item)
        yield {"nginx": nginx, "apache": apache, "haproxy": haproxy, "files": f, "ports": p, "base": base}


# site name -> (the file label discovery must name, the port it is served on)
EXPECTED = {
    "nginx-rsa-ec.test+rsa": ("rsa-ec.rsa", "rsa_ec"), "nginx-rsa-ec.test+ec": ("rsa-ec.ec", "rsa_ec"),
    "nginx-ec-rsa.test+rsa": ("ec-rsa.rsa", "ec_rsa"), "nginx-ec-rsa.test+ec": ("ec-rsa.ec", "ec_rsa"),
    "nginx-tls13.test+rsa": ("tls13.rsa", "tls13"), "nginx-tls13.test+ec": ("tls13.ec", "tls13"),
    "nginx-inherit.test+rsa": ("inh.rsa", "inherit"), "nginx-inherit.test+ec": ("inh.ec", "inherit"),
    "nginx-own.test": ("own.ec", "own"),
    "nginx-stale.test+rsa": ("stale.rsa", "stale"), "nginx-stale.test+ec": ("stale.ec", "stale"),
    "nginx-ed.test+rsa": ("ed.rsa", "ed"), "nginx-ed.test+ed25519": ("ed.ed25519", "ed"),
    "apache-ap-both.test+rsa": ("ap.rsa", "ap_both"), "apache-ap-both.test+ec": ("ap.ec", "ap_both"),
    "apache-ap-merged.test+ec": ("ap-own.ec", "ap_merged"), "apache-ap-merged.test+rsa": ("ap-main.rsa", "ap_merged"),
    "haproxy-ha-two.test+rsa": ("two-rsa.pem", "ha_two"), "haproxy-ha-two.test+ec": ("two-ec.pem", "ha_two"),
    "haproxy-ha-bundle.test+rsa": ("bundle.pem.rsa", "ha_bundle"),
    "haproxy-ha-bundle.test+ec": ("bundle.pem.ecdsa", "ha_bundle"),
    "nginx-mixed.test+rsa": ("mixed.rsa", "mixed"), "nginx-unservable.test+ec": ("uns.ec", "unservable"),
}
# site name -> (its error's code, the file label it names, or None)
NOT_PROBED = {"nginx-mixed.test": ("DYNAMIC_PATH", None),
              "nginx-unservable.test+rsa": ("KEY_TYPE_NOT_SERVED", "uns.rsa"),
              "nginx-pp13.test+rsa": ("UNSUPPORTED_SETTING", "pp13.rsa")}


@pytest.fixture(scope="module")
def discovered(world):
    result = run_module("backend_cert_info", {
        "discover": [{"type": "nginx", "config": str(world["nginx"].conf)},
                     {"type": "apache", "config": str(world["apache"].conf)},
                     {"type": "haproxy", "config": str(world["haproxy"].conf)}],
        "include_pem": False, "timeout": 15})
    assert not result.get("failed"), result
    assert all(d["error"] is None for d in result["discovery"]), result["discovery"]
    return result


def test_each_key_type_is_a_site_with_the_file_the_server_serves_for_it(world, discovered):
    files, ports = world["files"], world["ports"]
    sites = {s["name"]: s for s in discovered["sites"]}
    assert sorted(sites) == sorted(list(EXPECTED) + list(NOT_PROBED) + ["nginx-pp13.test+ec"])
    endpoints = {(e["host"], e["port"], e["server_name"], e.get("key_type")): e for e in discovered["endpoints"]}
    for name, (label, port) in EXPECTED.items():
        site, expected = sites[name], files[label]
        assert site["cert_file"] == expected["cert"] and site["key_file"] == expected["key"], (name, site)
        assert site["endpoint"]["port"] == ports[port], (name, site["endpoint"])
        # the reference: what the running server sends a client asking for this key type, by openssl
        served = _openssl_leaf(ports[port], site["endpoint"]["server_name"], expected["kind"])
        assert served == expected["fingerprint"], (name, "the server does not serve this file for its key type")
        # the collection's probe got it, and says so
        if name == "nginx-own.test":  # one certificate: one site, probed as before
            assert "key_type" not in site["endpoint"]
        else:
            assert site["endpoint"]["key_type"] == expected["kind"], site["endpoint"]
        probe = endpoints[(site["endpoint"]["host"], site["endpoint"]["port"], site["endpoint"]["server_name"],
                           site["endpoint"].get("key_type"))]
        assert probe["ok"] and probe["chain"][0] == expected["fingerprint"], (name, probe)
        assert site["served_matches_disk"] is True and site["key_matches_cert"] is True, (name, site)
        assert site["error"] is None, (name, site["error"])
    # TLS 1.3 only: the RSA certificate is reached over TLS 1.3, by its signature algorithms
    tls13 = endpoints[("127.0.0.1", ports["tls13"], "tls13.test", "RSA")]
    assert tls13["tls_version"] == "TLSv1.3", tls13
    # a TLS 1.2 server's RSA certificate is asked for by its cipher suites
    assert endpoints[("127.0.0.1", ports["rsa_ec"], "rsa-ec.test", "RSA")]["tls_version"] == "TLSv1.2"


def test_a_certificate_no_client_is_sent_or_this_host_cannot_ask_for(world, discovered):
    """A site whose certificate the server never sends (its ciphers leave its key type no handshake), or that only
    s_client could ask for where it cannot (behind a PROXY protocol header, TLS 1.3 only), says so; the other key
    type of those servers is probed as usual (behind the header: the server's own choice, ECDSA, taken when it is
    of the type asked for). A variable path is DYNAMIC_PATH, and its sibling is still probed for its type."""
    files = world["files"]
    sites = {s["name"]: s for s in discovered["sites"]}
    for name, (code, label) in NOT_PROBED.items():
        assert sites[name]["error"]["code"] == code, (name, sites[name]["error"])
        assert sites[name]["cert_file"] == (files[label]["cert"] if label else None), sites[name]
    assert "RSA" in sites["nginx-unservable.test+rsa"]["error"]["message"]
    ec = sites["nginx-pp13.test+ec"]
    assert ec["endpoint"] == {"host": "127.0.0.1", "port": world["ports"]["pp13"], "server_name": "pp13.test",
                              "proxy_protocol": "v1", "key_type": "EC"}
    assert ec["served_matches_disk"] is True and ec["error"] is None, ec
    (probe,) = [e for e in discovered["endpoints"] if e["port"] == world["ports"]["pp13"] and e["key_type"] == "EC"]
    assert probe["tls_version"] == "TLSv1.3" and probe["chain"][0] == files["pp13.ec"]["fingerprint"], probe


def test_a_certificate_replaced_by_a_later_one_of_its_key_type_is_no_site(world, discovered, capfd):
    files = world["files"]
    named = [s["cert_file"] for s in discovered["sites"]]
    assert files["stale.rsa-old"]["cert"] not in named
    # the module warns (run in-process as Ansible runs it; ansible-core 2.19 prints a module's warning as it is made)
    capfd.readouterr()
    run_main(backend_cert_info.main, {"discover": [{"type": "nginx", "config": str(world["nginx"].conf)}],
                                      "include_pem": False, "timeout": 15})
    warnings = [w for w in capfd.readouterr().err.splitlines() if files["stale.rsa-old"]["cert"] in w]
    assert len(warnings) == 1 and "(RSA)" in warnings[0] and files["stale.rsa"]["cert"] in warnings[0], warnings


def test_key_type_endpoint_option(world):
    port = world["ports"]["ec_rsa"]
    files = world["files"]
    result = run_module("backend_cert_info", {"endpoints": [
        {"host": "127.0.0.1", "port": port, "server_name": "ec-rsa.test", "key_type": kind}
        for kind in ("rsa", "ECDSA", "EC")] + [{"host": "127.0.0.1", "port": port, "server_name": "ec-rsa.test"}],
        "include_pem": False, "timeout": 15})
    got = [(e.get("key_type"), e["chain"][0] if e["chain"] else None) for e in result["endpoints"]]
    # ECDSA and EC are the same probe; without key_type the server's choice for OpenSSL's default order (ECDSA)
    assert got == [("RSA", files["ec-rsa.rsa"]["fingerprint"]), ("EC", files["ec-rsa.ec"]["fingerprint"]),
                   (None, files["ec-rsa.ec"]["fingerprint"])], got
    # an Ed25519 certificate signs the ECDSA suites too: asked for EC, the server beside its RSA one has none
    ed = run_module("backend_cert_info", {"endpoints": [
        {"host": "127.0.0.1", "port": world["ports"]["ed"], "server_name": "ed.test", "key_type": kind}
        for kind in ("EC", "Ed25519")], "include_pem": False, "timeout": 15})
    as_ec, as_ed = ed["endpoints"]
    assert not as_ec["ok"] and as_ec["chain"] == [] and as_ec["error"]["code"] == "TLS_HANDSHAKE_FAILED", as_ec
    assert as_ed["ok"] and as_ed["chain"][0] == files["ed.ed25519"]["fingerprint"], as_ed
    # a key type the server has no certificate of: an error, not another certificate
    own = run_module("backend_cert_info", {"endpoints": [
        {"host": "127.0.0.1", "port": world["ports"]["own"], "server_name": "own.test", "key_type": "RSA"}],
        "include_pem": False, "timeout": 15})
    entry = own["endpoints"][0]
    assert not entry["ok"] and entry["chain"] == [] and entry["error"]["code"] == "TLS_HANDSHAKE_FAILED", entry
    bad = run_module("backend_cert_info", {"endpoints": [{"host": "127.0.0.1", "port": port, "key_type": "dsa"}]})
    assert bad.get("failed") and "key_type must be one of RSA, EC, Ed25519, Ed448" in bad["msg"], bad
    assert "Traceback" not in json.dumps(bad)


def test_diagnose_judges_each_key_type_and_plans_only_for_the_expired_one(world, tmp_path):
    # Before: nginx-ec-rsa.test was one site of its RSA file, served the ECDSA one: "reload" (which changes
    # nothing), and the expired RSA certificate was the served chain's verdict nobody saw.
    sites = diagnose_sites(tmp_path, CA.root.pem,
                           cert_remediation_discover=[{"type": "nginx", "config": str(world["nginx"].conf)}])
    assert sites["nginx-ec-rsa.test+rsa"]["action"] == "push", sites["nginx-ec-rsa.test+rsa"]
    assert "EXPIRED" in sites["nginx-ec-rsa.test+rsa"]["reasons"]
    assert "SERVED_DIFFERS_FROM_DISK" not in sites["nginx-ec-rsa.test+rsa"]["reasons"]
    nginx_sites = {name for name in list(EXPECTED) + list(NOT_PROBED) + ["nginx-pp13.test+ec"]
                   if name.startswith("nginx-")}
    assert set(sites) == nginx_sites, sorted(sites)
    # a certificate never sent, or one this host cannot ask for: a person's, never a push
    for name in ("nginx-unservable.test+rsa", "nginx-pp13.test+rsa"):
        assert (sites[name]["action"], sites[name]["reasons"][0]) == ("manual", NOT_PROBED[name][0]), sites[name]
    # (the variable path's site, probed without a key type, got the ECDSA certificate its variable names: healthy)
    for name in nginx_sites - {"nginx-ec-rsa.test+rsa", "nginx-unservable.test+rsa", "nginx-pp13.test+rsa"}:
        assert sites[name]["action"] == "none", sites[name]


def test_the_role_fixes_the_certificate_the_load_balancer_refuses_and_leaves_the_other(tmp_path):
    """HAProxy verifies a backend whose nginx holds an RSA and an ECDSA certificate; HAProxy's handshake gets the
    ECDSA one, expired, and has the backend DOWN. The role, reading HAProxy's view and discovering the backend's
    sites (no CA path given: HAProxy's anchors are the ones), gives that verdict to `+ec` alone, pushes its renewal
    into the ECDSA files, reloads and HAProxy has the backend UP; the RSA site is judged as HAProxy would judge it
    on the chain its own probe got (valid), and its files are not touched."""
    name = "dual-lb.test"
    old_ec = CA.leaf(name, names=[name], days=10, start_days=-30)
    renewed_ec = CA.leaf(name, names=[name])
    rsa = CA.leaf(name, names=[name], key=pki.new_key("rsa"))
    files = {kind: (pki.write(tmp_path / ("%s.crt" % kind), CA.chain_pem(leaf)),
                    pki.write(tmp_path / ("%s.key" % kind), leaf.key_pem(), 0o600))
             for kind, leaf in (("rsa", rsa), ("ec", old_ec))}
    rsa_bytes = {path: open(path, "rb").read() for path in files["rsa"]}
    source = tmp_path / "source" / "nginx-dual-lb.test+ec"
    source.mkdir(parents=True)
    pki.write(source / "cert.pem", renewed_ec.pem)
    pki.write(source / "chain.pem", CA.intermediate.pem)
    pki.write(source / "key.pem", renewed_ec.key_pem(), 0o600)
    ca_file = pki.write(tmp_path / "ca.pem", CA.root.pem)
    port, = free_ports(1)
    backend = NginxLB(tmp_path / "nginx", port, "    server {\n        listen 127.0.0.1:%d ssl;\n        server_name "
                      "%s;\n%s        return 200;\n    }\n" % (port, name, _ngx_certs(
                          {"cert": files["rsa"][0], "key": files["rsa"][1]},
                          {"cert": files["ec"][0], "key": files["ec"][1]})))
    lb = HAProxyLB(tmp_path / "lb", lbjudge.haproxy_head() + (
        "backend be_dual\n    server dual 127.0.0.1:%d ssl verify required ca-file %s sni str(%s) check check-sni %s\n"
        % (port, ca_file, name, name)))
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({
        "load_balancers": {"hosts": {"lb": dict(local)}},
        "backends": {"hosts": {"dual": dict(local)}, "vars": haproxy_judged_vars(
            tmp_path, lb.conf, cert_remediation_discover=[{"type": "nginx", "config": str(backend.conf)}],
            cert_remediation_commands={"nginx": {"test": " ".join(backend.test_command),
                                                 "reload": " ".join(backend.reload_command)}})}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(ROLE_PLAY)

    def report():
        return {s["site"]: s for s in json.loads((tmp_path / "report.json").read_text())["hosts"]["dual"]["sites"]}

    with backend, lb:
        assert lbjudge.haproxy_settled(lb)["dual"][0] == "DOWN"
        before = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "diagnose"})
        assert before.returncode == 0, before.stdout[-5000:]
        sites = report()
        assert sorted(sites) == ["nginx-dual-lb.test+ec", "nginx-dual-lb.test+rsa"], sorted(sites)
        (line,) = sites["nginx-dual-lb.test+ec"]["before"]["lb"]
        assert (line["valid"], line["codes"]) == (False, ["EXPIRED"]), line
        assert sites["nginx-dual-lb.test+ec"]["action"] == "push"
        # the RSA site: judged as HAProxy judges (its CA, its name), on the chain the site's own probe got
        rsa_site = sites["nginx-dual-lb.test+rsa"]
        assert rsa_site["action"] == "none", rsa_site
        assert [(x["backend"], x["valid"]) for x in rsa_site["before"]["lb"]] == [("be_dual/dual", True)], rsa_site
        fixed = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "remediate"})
        assert fixed.returncode == 0, fixed.stdout[-5000:]
        assert report()["nginx-dual-lb.test+ec"]["status"] == "done", report()
        assert _openssl_leaf(port, name, "EC") == renewed_ec.fingerprint
        assert _openssl_leaf(port, name, "RSA") == rsa.fingerprint
        assert {path: open(path, "rb").read() for path in files["rsa"]} == rsa_bytes
        deadline = time.monotonic() + 15
        while lbjudge.haproxy_settled(lb)["dual"][0] != "UP" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert lb.stat()["dual"][0] == "UP", lb.stat()


def test_declared_sites_name_their_key_type(world, tmp_path):
    """cert_remediation_sites declares one site per key type of a server holding both, each endpoint with its
    key_type (the role's argument spec takes it): each is judged on the certificate of its type."""
    files, port = world["files"], world["ports"]["ec_rsa"]
    sites = [{"name": "shop-%s" % kind.lower(), "server_type": "nginx", "cert_path": files[label]["cert"],
              "key_path": files[label]["key"], "server_names": ["ec-rsa.test"],
              "endpoint": {"host": "127.0.0.1", "port": port, "server_name": "ec-rsa.test", "key_type": kind}}
             for kind, label in (("RSA", "ec-rsa.rsa"), ("EC", "ec-rsa.ec"))]
    report = diagnose_sites(tmp_path, CA.root.pem, cert_remediation_sites=sites)
    assert (report["shop-rsa"]["action"], report["shop-rsa"]["reasons"]) == ("push", ["EXPIRED"]), report["shop-rsa"]
    assert report["shop-rsa"]["before"]["served"]["fingerprint"] == files["ec-rsa.rsa"]["fingerprint"]
    assert report["shop-ec"]["action"] == "none", report["shop-ec"]
