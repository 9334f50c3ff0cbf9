"""cert_remediation with symlinked live files and rollbacks that must not change what is served (real nginx).

One play over five hosts, each with an nginx of its own on loopback, declared sites:

- ``linked``: certbot's layout (live/fullchain.pem -> ../archive/cert1.pem, live/privkey.pem -> ...); a push
  writes through the links: they stay links, the targets get the new bytes and keep their mode and group;
- ``linked_fails``: the same layout, the config test fails: rolled back byte for byte, the links still links;
- ``unloaded``: nginx serves an expired certificate A, the disk holds B (valid, few days left); the config test
  fails before any reload: the rollback must not reload, so the server still serves A;
- ``reload_fails``: the reload runs, then reports failure: the rollback must reload, so the server serves the
  old certificate again (what the rollback's reload is for);
- ``no_rollback``: the config test fails with ``cert_remediation_rollback: false``: the failure says the files written
  stay and where the backups are (it said "nothing was written");
- ``unnamed_owner``: certbot's layout, the files belong to a uid and gid with no passwd or group entry (containers,
  NFS, LDAP), the config test fails: the rollback gives them back to that uid and gid (it gave them to root);
- ``dangling`` and ``dangling_fails``: certbot's links whose archive/ targets were removed while nginx serves what it
  loaded: the push writes the targets and the links stay links; when the config test fails, the rollback removes the
  targets it wrote and the links are still the same links to nothing (the push replaced each link with a file, and the
  rollback then removed the live paths altogether);
- ``shell_test``: a config test that is a shell line (``test -s <cert> && nginx -t ...``): it runs through
  ``/bin/sh -c`` as docs/security.md says, and the push goes through (it ran without a shell and always failed).
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import stat
import sys
from pathlib import Path

import pytest

from testlib import pki
from testlib.ansible_run import ROLE_PLAY, recap, run_playbook, served_leaf
from testlib.servers import Nginx, free_port

FILES = ("live/fullchain.pem", "live/privkey.pem", "archive/cert1.pem", "archive/privkey1.pem")
UNNAMED_UID, UNNAMED_GID = 4242, 4243  # no passwd or group entry (checked by the test that uses them)


def _group():
    """A group other than root's for the targets when we may chown (a symlink's own group would be root's)."""
    if os.geteuid() == 0:
        for name in ("ssl-cert", "nogroup"):
            try:
                return grp.getgrnam(name).gr_gid
            except KeyError:
                pass
    return os.getegid()


def snapshot(root):
    """{relative path: (kind, link target or sha256, mode, gid), or None when absent} of a site's live/ and archive/
    files."""
    out = {}
    for name in FILES:
        path = root / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:  # a link's target removed (dangling)
            out[name] = None
            continue
        if stat.S_ISLNK(info.st_mode):
            out[name] = ("link", os.readlink(path), None, None)
        else:
            out[name] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(info.st_mode),
                         info.st_gid)
    return out


class World:
    def __init__(self, root):
        self.root = root
        self.ca = pki.CA("Links")
        self.ca_file = pki.write(root / "ca.pem", self.ca.root.pem)
        self.gid = _group()
        self.servers, self.hosts, self.sites = [], {}, {}

    def site(self, name, *, linked, cert_mode=0o644, **decl):
        """A site on its own nginx: certbot's links (or plain files) holding an expired certificate."""
        fqdn = "%s.links.test" % name.replace("_", "-")
        old = self.ca.leaf(fqdn, days=30, start_days=-60)
        base = self.root / name
        for sub in ("live", "archive"):
            (base / sub).mkdir(parents=True)
        cert = pki.write(base / "archive" / "cert1.pem", old.pem + self.ca.intermediate.pem, cert_mode)
        key = pki.write(base / "archive" / "privkey1.pem", old.key_pem(), 0o600)
        for path in (cert, key):
            os.chown(path, -1, self.gid)
        if linked:
            os.symlink("../archive/cert1.pem", base / "live" / "fullchain.pem")
            os.symlink("../archive/privkey1.pem", base / "live" / "privkey.pem")
            cert, key = str(base / "live" / "fullchain.pem"), str(base / "live" / "privkey.pem")
        port = free_port()
        server = Nginx(base / "srv", [{"name": name, "port": port, "server_names": [fqdn], "cert": cert,
                                       "key": key}])
        server.start()
        self.servers.append(server)
        renewed = self.ca.leaf(fqdn, days=90)
        source = self.root / "source" / name
        source.mkdir(parents=True)
        pki.write(source / "cert.pem", renewed.pem)
        pki.write(source / "chain.pem", self.ca.intermediate.pem)
        pki.write(source / "key.pem", renewed.key_pem(), 0o600)
        declared = {"name": name, "server_type": "nginx", "cert_path": cert, "key_path": key,
                    "endpoint": {"host": "127.0.0.1", "port": port, "server_name": fqdn}, "server_names": [fqdn],
                    "test_command": " ".join(server.test_command), "reload_command": " ".join(server.reload_command)}
        declared.update({k: v(server) if callable(v) else v for k, v in decl.items()})
        self.hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                            "cert_remediation_sites": [declared]}
        self.sites[name] = {"dir": base, "port": port, "fqdn": fqdn, "old": old, "new": renewed, "cert": cert,
                            "key": key}
        return self.sites[name]

    def run(self):
        inventory = self.root / "inventory.json"
        inventory.write_text(json.dumps({"backends": {"hosts": self.hosts, "vars": {
            "cert_remediation_ca_path": self.ca_file,
            "cert_remediation_source_dir": str(self.root / "source"),
            "cert_remediation_backup_dir": str(self.root / "backups"),
            "cert_remediation_report_dir": str(self.root / "reports"),
            "cert_remediation_reload": "command",
            "cert_remediation_reload_wait": 10}}}))
        (self.root / "reports").mkdir()
        playbook = self.root / "play.yml"
        playbook.write_text(ROLE_PLAY)
        return run_playbook(playbook, inventory=inventory, extra_vars={"cert_remediation_mode": "remediate"})

    def stop(self):
        for server in self.servers:
            server.stop()  # by its own pid file


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = World(tmp_path_factory.mktemp("links"))
    try:
        world.site("linked", linked=True, cert_mode=0o640)
        world.site("linked_fails", linked=True, test_command="false")
        unloaded = world.site("unloaded", linked=False, test_command="false")
        world.site("reload_fails", linked=True,
                   reload_command=lambda server: " ".join(server.reload_command) + " && false")
        world.site("no_rollback", linked=False, test_command="false")
        world.hosts["no_rollback"]["cert_remediation_rollback"] = False
        unnamed = world.site("unnamed_owner", linked=True, test_command="false")
        if os.geteuid() == 0:
            for path in (unnamed["cert"], unnamed["key"]):
                os.chown(path, UNNAMED_UID, UNNAMED_GID)
        for name, decl in (("dangling", {}), ("dangling_fails", {"test_command": "false"})):
            site = world.site(name, linked=True, **decl)
            for target in ("cert1.pem", "privkey1.pem"):
                (site["dir"] / "archive" / target).unlink()  # nginx keeps serving what it loaded
        shell_cert = world.root / "shell_test" / "archive" / "cert1.pem"
        world.site("shell_test", linked=False,
                   test_command=lambda server: "test -s %s && %s" % (shell_cert, " ".join(server.test_command)))
        # unloaded: nginx keeps serving the expired A it loaded; the disk now holds B, valid for a few days only
        # (fewer than cert_remediation_min_days: a push is due).
        loaded = unloaded["old"]
        on_disk = world.ca.leaf(unloaded["fqdn"], days=10)
        pki.write(unloaded["cert"], on_disk.pem + world.ca.intermediate.pem)
        pki.write(unloaded["key"], on_disk.key_pem(), 0o600)
        unloaded.update(loaded=loaded, on_disk=on_disk)
        world.before = {name: snapshot(site["dir"]) for name, site in world.sites.items()
                        if name not in ("unloaded", "no_rollback", "shell_test")}
        world.owners = {p: (os.stat(unnamed[p]).st_uid, os.stat(unnamed[p]).st_gid) for p in ("cert", "key")}
        world.before["unloaded"] = {p: Path(unloaded[p]).read_bytes() for p in ("cert", "key")}
        world.served_before = {name: served_leaf(site["port"], site["fqdn"]) for name, site in world.sites.items()}
        world.proc = world.run()
        world.recap = recap(world.proc.stdout)
        world.report = {s["site"]: s for host in json.loads((world.root / "reports" / "report.json").read_text())[
            "hosts"].values() for s in host["sites"]}
        yield world
    finally:
        world.stop()


def _output(world):
    return world.proc.stdout[-6000:] + world.proc.stderr[-2000:]


def test_push_writes_through_the_links(world):
    site, before = world.sites["linked"], world.before["linked"]
    assert world.recap["linked"]["failed"] == 0, _output(world)
    assert world.report["linked"]["status"] == "done", world.report["linked"]
    after = snapshot(site["dir"])
    # The links are untouched: still links, to the same targets.
    for name in ("live/fullchain.pem", "live/privkey.pem"):
        assert after[name] == before[name], (name, after[name])
    # The targets hold the renewed bytes and keep their own mode and group (never a symlink's 0777).
    cert, key = site["dir"] / "archive" / "cert1.pem", site["dir"] / "archive" / "privkey1.pem"
    assert cert.read_text() == site["new"].pem + world.ca.intermediate.pem
    assert key.read_text() == site["new"].key_pem()
    assert after["archive/cert1.pem"][2:] == (0o640, world.gid)
    assert after["archive/privkey1.pem"][2:] == (0o600, world.gid)
    assert served_leaf(site["port"], site["fqdn"]) == site["new"].fingerprint
    # The backups are the targets' bytes and modes (regular files, not links), in 0700 directories.
    backups = sorted(p for p in (world.root / "backups" / "linked").rglob("*") if p.is_file() or p.is_symlink())
    assert [p.name for p in backups] == ["0-fullchain.pem", "1-privkey.pem"], backups
    old_cert, old_key = site["old"].pem + world.ca.intermediate.pem, site["old"].key_pem()
    for path, text, mode in zip(backups, (old_cert, old_key), (0o640, 0o600)):
        assert not path.is_symlink() and path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == mode
    for path in (world.root / "backups").rglob("*"):
        assert stat.S_IMODE(os.lstat(path).st_mode) != 0o777, path


def test_rollback_without_a_reload_does_not_change_what_is_served(world):
    site = world.sites["unloaded"]
    assert world.served_before["unloaded"] == site["loaded"].fingerprint
    assert world.recap["unloaded"]["failed"] == 1, _output(world)
    entry = world.report["unloaded"]
    assert entry["action"] == "push" and entry["rolled_back"], entry
    # The files are back to B, and nginx, never reloaded in this run, still serves A: what it served before.
    assert {p: Path(site[p]).read_bytes() for p in ("cert", "key")} == world.before["unloaded"]
    assert served_leaf(site["port"], site["fqdn"]) == site["loaded"].fingerprint
    assert entry["after"]["serving_old"] is True, entry
    assert "serving what it served before: True" in world.proc.stdout


@pytest.mark.parametrize("name", ["linked_fails", "reload_fails"])
def test_a_failed_site_is_restored_byte_for_byte_and_keeps_its_links(world, name):
    """linked_fails: the config test fails (no reload); reload_fails: the reload ran, so the rollback reloads again."""
    site = world.sites[name]
    assert world.recap[name]["failed"] == 1, _output(world)
    entry = world.report[name]
    assert entry["rolled_back"] and entry["after"]["serving_old"], entry
    # Byte for byte, mode and group, and the links still links to the same targets.
    assert snapshot(site["dir"]) == world.before[name]
    assert served_leaf(site["port"], site["fqdn"]) == site["old"].fingerprint


def test_without_rollback_the_failure_says_what_was_written_stays(world):
    site = world.sites["no_rollback"]
    assert world.recap["no_rollback"]["failed"] == 1, _output(world)
    # the renewed files were written and stay (cert_remediation_rollback: false); the message must not say otherwise
    assert Path(site["cert"]).read_text() == site["new"].pem + world.ca.intermediate.pem
    failure = json.loads((world.root / "reports" / "report.json").read_text())["hosts"]["no_rollback"]["failed"]
    assert "nothing was written" not in failure and "not rolled back: cert_remediation_rollback is false" in failure
    assert str(world.root / "backups" / "no_rollback") in failure


def test_a_rollback_gives_the_files_back_to_an_owner_without_a_name(world):
    if os.geteuid() != 0:
        pytest.skip("needs root to give files to another uid")
    for number, table in ((UNNAMED_UID, pwd.getpwuid), (UNNAMED_GID, grp.getgrgid)):
        with pytest.raises(KeyError):  # the case is an id without a name
            table(number)
    site = world.sites["unnamed_owner"]
    assert world.recap["unnamed_owner"]["failed"] == 1, _output(world)
    entry = world.report["unnamed_owner"]
    assert entry["rolled_back"] and entry["after"]["serving_old"], entry
    assert snapshot(site["dir"]) == world.before["unnamed_owner"]  # bytes and mode
    assert world.owners["cert"] == world.owners["key"] == (UNNAMED_UID, UNNAMED_GID)
    for part in ("cert", "key"):
        info = os.stat(site[part])
        assert (info.st_uid, info.st_gid) == world.owners[part], part
    for path in (world.root / "backups" / "unnamed_owner").rglob("*"):
        if path.is_file():  # the backups keep the owner too
            assert (path.stat().st_uid, path.stat().st_gid) == (UNNAMED_UID, UNNAMED_GID), path


def test_a_config_test_that_is_a_shell_line_runs_through_a_shell(world):
    site = world.sites["shell_test"]
    assert world.recap["shell_test"]["failed"] == 0, _output(world)
    assert world.report["shell_test"]["status"] == "done", world.report["shell_test"]
    assert served_leaf(site["port"], site["fqdn"]) == site["new"].fingerprint


def test_a_push_writes_the_target_of_a_symlink_to_nothing_and_keeps_the_link(world):
    site, before = world.sites["dangling"], world.before["dangling"]
    assert before["archive/cert1.pem"] is None and before["live/fullchain.pem"][0] == "link"
    assert world.recap["dangling"]["failed"] == 0, _output(world)
    assert world.report["dangling"]["status"] == "done", world.report["dangling"]
    after = snapshot(site["dir"])
    for name in ("live/fullchain.pem", "live/privkey.pem"):
        assert after[name] == before[name], (name, after[name])  # the same links
    assert (site["dir"] / "archive" / "cert1.pem").read_text() == site["new"].pem + world.ca.intermediate.pem
    assert (site["dir"] / "archive" / "privkey1.pem").read_text() == site["new"].key_pem()
    assert served_leaf(site["port"], site["fqdn"]) == site["new"].fingerprint


def test_a_rollback_leaves_a_symlink_to_nothing_as_it_was(world):
    site = world.sites["dangling_fails"]
    assert world.recap["dangling_fails"]["failed"] == 1, _output(world)
    entry = world.report["dangling_fails"]
    assert entry["rolled_back"] and entry["after"]["serving_old"], entry
    assert snapshot(site["dir"]) == world.before["dangling_fails"]  # links to nothing, no target left behind
    assert served_leaf(site["port"], site["fqdn"]) == site["old"].fingerprint
