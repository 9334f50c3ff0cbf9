"""Sites of one host that share a live certificate and key (one file for several server blocks, real nginx), or
only a chain file (Apache vhosts with one SSLCertificateChainFile, real Apache).

Each site is pushed and verified in turn, so a later site's push into the shared file replaced the certificate an
earlier site had just been verified with: the run reported both sites done while one served the other's certificate,
and every later run pushed again (a review of 2026-12-03). Now pre-flight refuses, before anything is written, unless
every site sharing the file is pushed the same certificate and chain; then both are pushed and a second run does
nothing. Sites share a file also when their paths differ but name it through symlinks.
"""

from __future__ import annotations

import json
import sys

import pytest

from testlib import pki
from testlib.ansible_run import ROLE_PLAY, recap, run_playbook, served_leaf
from testlib.servers import Apache, Nginx, free_port


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    ca = pki.CA("Shared")
    hosts, servers, out = {}, [], {"root": root, "ca": ca, "hosts": {}}
    try:
        # linked: site a names the files through symlinks (certbot's live/ -> ../archive/), site b names them
        # directly; the paths differ, the files are the same
        for host, same, linked in (("differ", False, False), ("same", True, False), ("linked", False, True)):
            names = ["a-%s.shared.test" % host, "b-%s.shared.test" % host]
            old = ca.leaf(names[0], names=names, days=30, start_days=-60)  # expired, for both names
            base = root / host
            base.mkdir()
            cert = pki.write(base / "site.crt", old.pem + ca.intermediate.pem)
            key = pki.write(base / "site.key", old.key_pem(), 0o600)
            paths = [(cert, key), (cert, key)]
            if linked:
                (base / "live").mkdir()
                (base / "live" / "site.crt").symlink_to("../site.crt")
                (base / "live" / "site.key").symlink_to("../site.key")
                paths[0] = (str(base / "live" / "site.crt"), str(base / "live" / "site.key"))
            ports = [free_port(), free_port()]
            server = Nginx(base / "srv", [{"name": "%s%d" % (host, i), "port": port, "server_names": [name],
                                           "cert": paths[i][0], "key": paths[i][1]}
                                          for i, (port, name) in enumerate(zip(ports, names))])
            server.start()
            servers.append(server)
            renewed_both = ca.leaf(names[0], names=names, days=90)
            sites = []
            for i, (port, name) in enumerate(zip(ports, names)):
                site = "%s-%s" % ("ab"[i], host)
                renewed = renewed_both if same else ca.leaf(name, days=90)  # differ: each its own certificate
                source = root / "source" / site
                source.mkdir(parents=True)
                pki.write(source / "cert.pem", renewed.pem)
                pki.write(source / "chain.pem", ca.intermediate.pem)
                pki.write(source / "key.pem", renewed.key_pem(), 0o600)
                sites.append({"name": site, "server_type": "nginx", "cert_path": paths[i][0], "key_path": paths[i][1],
                              "endpoint": {"host": "127.0.0.1", "port": port, "server_name": name},
                              "server_names": [name], "test_command": " ".join(server.test_command),
                              "reload_command": " ".join(server.reload_command)})
            hosts[host] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                           "cert_remediation_sites": sites}
            out["hosts"][host] = {"ports": ports, "names": names, "old": old, "renewed": renewed_both,
                                  "files": {cert: open(cert, "rb").read(), key: open(key, "rb").read()}}
        # Apache vhosts with their own certificate and key and one shared SSLCertificateChainFile: only the
        # intermediates are written to the shared file, and they are the same, so both are pushed.
        names = ["a-chainfile.shared.test", "b-chainfile.shared.test"]
        base = root / "chainfile"
        base.mkdir()
        # (a line of text before the intermediate: the push replaces the file, which --diff would then show)
        chain = pki.write(base / "chain.pem", "# the vhosts' intermediates\n" + ca.intermediate.pem)
        olds = [ca.leaf(name, days=30, start_days=-60) for name in names]
        files = [(pki.write(base / ("%d.crt" % i), old.pem), pki.write(base / ("%d.key" % i), old.key_pem(), 0o600))
                 for i, old in enumerate(olds)]
        ports = [free_port(), free_port()]
        server = Apache(base / "srv", [{"name": "chainfile%d" % i, "port": port, "server_names": [name], "cert": cert,
                                        "key": key, "chain": chain}
                                       for i, (port, name, (cert, key)) in enumerate(zip(ports, names, files))])
        server.start()
        servers.append(server)
        sites, renewed = [], []
        for i, (port, name, (cert, key)) in enumerate(zip(ports, names, files)):
            site = "%s-chainfile" % "ab"[i]
            renewed.append(ca.leaf(name, days=90))
            source = root / "source" / site
            source.mkdir(parents=True)
            pki.write(source / "cert.pem", renewed[-1].pem)
            pki.write(source / "chain.pem", ca.intermediate.pem)
            pki.write(source / "key.pem", renewed[-1].key_pem(), 0o600)
            sites.append({"name": site, "server_type": "apache", "cert_path": cert, "key_path": key,
                          "chain_path": chain, "endpoint": {"host": "127.0.0.1", "port": port, "server_name": name},
                          "server_names": [name], "test_command": " ".join(server.test_command),
                          "reload_command": " ".join(server.reload_command)})
        hosts["chainfile"] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                              "cert_remediation_sites": sites}
        out["hosts"]["chainfile"] = {"ports": ports, "names": names, "renewed": renewed}
        inventory = root / "inventory.json"
        inventory.write_text(json.dumps({"backends": {"hosts": hosts, "vars": {
            "cert_remediation_ca_path": pki.write(root / "ca.pem", ca.root.pem),
            "cert_remediation_source_dir": str(root / "source"),
            "cert_remediation_backup_dir": str(root / "backups"),
            "cert_remediation_reload": "command", "cert_remediation_reload_wait": 10}}}))
        playbook = root / "play.yml"
        playbook.write_text(ROLE_PLAY)
        out["first"] = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "remediate"},
                                    args=["--diff"])
        out["chain"], out["intermediate"] = chain, ca.intermediate.pem
        out["second"] = run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "remediate"})
        yield out
    finally:
        for server in servers:
            server.stop()  # by its own pid file


@pytest.mark.parametrize("name", ["differ", "linked"])
def test_sites_sharing_a_file_with_different_certificates_are_refused_before_anything_is_written(world, name):
    # linked: one site names the files through symlinks. Before, the paths were compared as strings, so both sites were
    # pushed their own certificate into the one file, both reported done, and one served a certificate without its
    # name (a review of 2026-12-05).
    host = world["hosts"][name]
    first = world["first"]
    assert recap(first.stdout)[name]["failed"] == 1, first.stdout[-4000:]
    assert "pre-flight refused the renewed material; nothing was changed on %s" % name in first.stdout
    assert "a-%s and b-%s share" % (name, name) in first.stdout
    assert "would be pushed different certificates" in first.stdout
    for path, data in host["files"].items():
        assert open(path, "rb").read() == data
    for port, name_ in zip(host["ports"], host["names"]):
        assert served_leaf(port, name_) == host["old"].fingerprint
    if name == "linked":
        assert (world["root"] / "linked" / "live" / "site.crt").is_symlink()


def test_sites_sharing_a_file_with_the_same_certificate_are_both_pushed_once(world):
    host = world["hosts"]["same"]
    counts = recap(world["first"].stdout)
    assert counts["same"]["failed"] == 0, world["first"].stdout[-4000:]
    for port, name in zip(host["ports"], host["names"]):
        assert served_leaf(port, name) == host["renewed"].fingerprint
    again = recap(world["second"].stdout)["same"]
    assert again["changed"] == 0 and again["failed"] == 0, again


def test_vhosts_sharing_only_a_chain_file_with_the_same_intermediates_are_pushed(world):
    host = world["hosts"]["chainfile"]
    counts = recap(world["first"].stdout)
    assert counts["chainfile"]["failed"] == 0, world["first"].stdout[-4000:]
    for port, name, renewed in zip(host["ports"], host["names"], host["renewed"]):
        assert served_leaf(port, name) == renewed.fingerprint
    again = recap(world["second"].stdout)["chainfile"]
    assert again["changed"] == 0 and again["failed"] == 0, again
    # written, and not shown by --diff: a chain file may hold anything (a key someone put in it; the same file as a
    # combined PEM), and its diff printed it (a review of 2026-12-07)
    assert open(world["chain"]).read() == world["intermediate"]
    assert "--- before: %s" % world["chain"] not in world["first"].stdout
    assert "+++ after" in world["first"].stdout  # --diff was on: the backup directories made are diffed
