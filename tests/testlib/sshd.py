"""A real OpenSSH server on loopback for the transport tests, started and stopped by pid.

Everything it uses is its own: config file, host key, pid file, log and authorized_keys live in one
directory (made readable for the login user, who reads authorized_keys). The system's
/etc/ssh/sshd_config and any system sshd are never read or touched. hack/setup-ssh.sh installs the
server and creates the unprivileged login user (`certops-ssh`, sudo to root without a password).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from testlib.servers import _run, free_port, wait_port

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
USER = "certops-ssh"
PRIVSEP_DIR = "/run/sshd"  # compiled into Debian's sshd; made by the init system, which containers lack


def missing(user=USER):
    """Why an sshd test cannot run here, or None."""
    if os.geteuid() != 0:
        return "sshd must be started as root (it switches to the login user)"
    for path in (SSHD, SFTP_SERVER, shutil.which("ssh-keygen") or "ssh-keygen", shutil.which("sudo") or "sudo"):
        if not os.path.exists(path):
            return "%s not installed: run hack/setup-ssh.sh" % path
    try:
        pwd.getpwnam(user)
    except KeyError:
        return "no user %s: run hack/setup-ssh.sh" % user
    if not os.path.exists("/etc/sudoers.d/%s" % user):
        return "no sudo rule for %s (become): run hack/setup-ssh.sh" % user
    return None


def keygen(path, comment="certops-test"):
    """A new ed25519 key pair at path / path.pub (no passphrase); returns its SHA256 fingerprint."""
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return fingerprint(str(path) + ".pub")


def fingerprint(pub_path):
    """'SHA256:...' as sshd logs it."""
    return _run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub_path)]).stdout.split()[1]


class Sshd:
    """sshd -D on 127.0.0.1:<free port>, key authentication only, one allowed user, VERBOSE log."""

    def __init__(self, user=USER):
        self.user = user
        # Not under pytest's tmp_path: the login user must traverse to authorized_keys (sshd reads it as them).
        self.dir = Path(tempfile.mkdtemp(prefix="certops-sshd-"))
        os.chmod(self.dir, 0o755)
        self.config = self.dir / "sshd_config"
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.authorized_keys = self.dir / "authorized_keys"
        self.pidfile = self.dir / "sshd.pid"
        self.log = self.dir / "sshd.log"
        self.port = None
        self.proc = None

    def authorize(self, pub_path):
        with open(self.authorized_keys, "a") as handle:
            handle.write(Path(pub_path).read_text())
        os.chmod(self.authorized_keys, 0o644)

    def known_hosts_line(self):
        """The host key as a known_hosts entry for [127.0.0.1]:port, so clients can check it strictly."""
        key_type, key = Path(str(self.host_key) + ".pub").read_text().split()[:2]
        return "[127.0.0.1]:%d %s %s\n" % (self.port, key_type, key)

    def start(self):
        if not self.host_key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)])
        self.authorized_keys.touch()
        os.chmod(self.authorized_keys, 0o644)
        if not os.path.isdir(PRIVSEP_DIR):
            os.makedirs(PRIVSEP_DIR, mode=0o755)
        self.port = free_port()
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1:%d" % self.port,
            "HostKey %s" % self.host_key,
            "PidFile %s" % self.pidfile,
            "AuthorizedKeysFile %s" % self.authorized_keys,
            "AllowUsers %s" % self.user,
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            # No PAM: containers often lack a working PAM session stack (loginuid, systemd).
            "UsePAM no",
            # authorized_keys lives under /tmp (world-writable), which StrictModes rejects as a path component.
            "StrictModes no",
            "LogLevel VERBOSE",
            "MaxStartups 20",
            "Subsystem sftp %s" % SFTP_SERVER,
            "",
        ]))
        _run([SSHD, "-t", "-f", str(self.config)])
        self.proc = subprocess.Popen([SSHD, "-D", "-f", str(self.config), "-E", str(self.log)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("sshd did not start: %s" % self.read_log())
        return self

    def read_log(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def _descendants(self, pid):
        """Pids of every process below pid (sshd's per-connection children), deepest last."""
        children = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                out.append(child)
                todo.append(child)
        return out

    def stop(self):
        """Stop this sshd and the connections it forked, by pid (the directory stays: see cleanup)."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in [self.proc.pid] + self._descendants(self.proc.pid):
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            if self.port:
                wait_port(self.port, up=False, timeout=10)
        self.proc = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
