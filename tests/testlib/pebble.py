"""Pebble, Let's Encrypt's small ACME test CA, on loopback high ports, started by command (Debian's `pebble`).

    with Pebble(workdir, http_port=nginx_http_port) as ca:
        ca.directory_url        # https://127.0.0.1:<port>/dir -- the ACME directory
        ca.api_ca_file          # the CA bundle that Pebble's own HTTPS certificate (API, management) chains to
        ca.issuing_root_pem()   # the root Pebble issues from (new on every start): what a load balancer trusts

Pebble gets its own configuration: the ACME API and the management interface on free loopback ports,
an HTTPS certificate for 127.0.0.1 made by tests/testlib/pki.py, and `httpPort` -- the port its
validation authority connects to for HTTP-01, i.e. the plain-HTTP port of the backend under test.
Names are resolved by `pebble-challtestsrv` as Pebble's DNS server (`-dnsserver`): every A query is
answered 127.0.0.1, AAAA queries not at all, and TXT records for DNS-01 are set through its
management API (`set_txt`, `clear_txt`). Nothing system-wide is changed (no /etc/hosts edit).

Knobs (Pebble's own environment variables): `always_valid` (PEBBLE_VA_ALWAYS_VALID: every challenge is
valid without a request), `nonce_reject` (PEBBLE_WFE_NONCEREJECT: percentage of good nonces rejected as
badNonce; Pebble's default is 5, here 0 unless asked), `blocked` (domainBlocklist: names whose orders are
refused with rejectedIdentifier), `eab` ({kid: base64url HMAC key}: external account binding required).
Validation never sleeps (PEBBLE_VA_NOSLEEP=1). Processes are stopped by the pid of their Popen.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from testlib import pki
from testlib.servers import free_port

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"


def available():
    return os.access(PEBBLE, os.X_OK)


class Pebble:
    def __init__(self, workdir, *, http_port, tls_port=None, always_valid=False, nonce_reject=0, blocked=(),
                 eab=None, start_timeout=20.0):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.http_port = http_port
        self.tls_port = tls_port or free_port()
        self.always_valid = always_valid
        self.nonce_reject = nonce_reject
        self.blocked = list(blocked)
        self.eab = dict(eab or {})
        self.start_timeout = start_timeout
        self.port = free_port()
        self.management_port = free_port()
        self.dns_port = free_port()
        self.dns_management_port = free_port()
        self.procs = []
        self._context = None

    # -- what a test uses -------------------------------------------------------------------------------------
    @property
    def directory_url(self):
        return "https://127.0.0.1:%d/dir" % self.port

    @property
    def management_url(self):
        return "https://127.0.0.1:%d" % self.management_port

    @property
    def api_ca_file(self):
        """The root Pebble's own HTTPS certificate (API and management interface) chains to."""
        return str(self.dir / "api-ca.pem")

    def get(self, path):
        """GET on the management interface (e.g. /roots/0, /intermediates/0); returns the body as text."""
        with urllib.request.urlopen(self.management_url + path, context=self._ssl(), timeout=10) as resp:
            return resp.read().decode()

    def issuing_root_pem(self):
        return self.get("/roots/0")

    def issuing_intermediate_pem(self):
        return self.get("/intermediates/0")

    def set_txt(self, host, value):
        self._challtestsrv("/set-txt", {"host": host if host.endswith(".") else host + ".", "value": value})

    def clear_txt(self, host):
        self._challtestsrv("/clear-txt", {"host": host if host.endswith(".") else host + "."})

    @property
    def log(self):
        return (self.dir / "pebble.log").read_text(errors="replace")

    # -- start / stop ---------------------------------------------------------------------------------------
    def _ssl(self):
        if self._context is None:
            self._context = ssl.create_default_context(cafile=self.api_ca_file)
        return self._context

    def _challtestsrv(self, path, payload):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.dns_management_port, path),
                                     data=json.dumps(payload).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()

    def _write_config(self):
        ca = pki.CA("Pebble API")
        leaf = ca.leaf("localhost", names=["localhost"], ips=["127.0.0.1"])
        pki.write(self.dir / "api-ca.pem", ca.root.pem)
        cert = pki.write(self.dir / "api-cert.pem", ca.chain_pem(leaf))
        key = pki.write(self.dir / "api-key.pem", leaf.key_pem(), 0o600)
        config = {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.management_port,
            "certificate": cert,
            "privateKey": key,
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(self.eab),
            "externalAccountMACKeys": self.eab,
            "domainBlocklist": self.blocked,
        }
        path = self.dir / "pebble-config.json"
        path.write_text(json.dumps({"pebble": config}, indent=2))
        return path

    def _spawn(self, name, cmd, env=None):
        log = open(self.dir / ("%s.log" % name), "wb")  # the child keeps its own descriptor
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=str(self.dir))
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def _wait(self, what, check):
        deadline = time.monotonic() + self.start_timeout
        last = None
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError("%s exited (%s) while starting:\n%s" % (proc.args[0], proc.returncode,
                                                                               self._logs()))
            try:
                if check():
                    return
            except (OSError, ValueError, urllib.error.URLError) as exc:
                last = exc
            time.sleep(0.1)
        raise RuntimeError("%s did not come up within %ss (%s):\n%s" % (what, self.start_timeout, last, self._logs()))

    def _logs(self):
        return "\n".join("== %s\n%s" % (p.name, p.read_text(errors="replace")[-3000:])
                         for p in sorted(self.dir.glob("*.log")))

    def start(self):
        config = self._write_config()
        self._spawn("challtestsrv", [
            CHALLTESTSRV, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            "-dns01", "127.0.0.1:%d" % self.dns_port, "-management", "127.0.0.1:%d" % self.dns_management_port,
            "-http01", "", "-https01", "", "-tlsalpn01", ""])

        def dns_up():
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/" % self.dns_management_port, timeout=1).close()
            except urllib.error.HTTPError:
                pass  # its management API answers (404 for /): it is up
            return True

        self._wait("pebble-challtestsrv", dns_up)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT=str(self.nonce_reject),
                   PEBBLE_VA_ALWAYS_VALID="1" if self.always_valid else "0", PEBBLE_AUTHZREUSE="0")
        self._spawn("pebble", [PEBBLE, "-config", str(config), "-dnsserver", "127.0.0.1:%d" % self.dns_port,
                               "-strict=false"], env=env)

        def directory():
            with urllib.request.urlopen(self.directory_url, context=self._ssl(), timeout=2) as resp:
                return "newOrder" in json.loads(resp.read())

        self._wait("pebble", directory)
        return self

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.procs = []

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
