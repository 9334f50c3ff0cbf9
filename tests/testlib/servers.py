"""Real nginx, Apache and HAProxy processes on loopback, started by command (no systemd).

Each server gets a directory of its own with its config, pid file and logs; sites are
{name, port, server_names, cert, key, chain (Apache only)}. Also misbehaving TCP peers for the
probe tests (silent, resetting). Used by the integration tests, the lab and the benchmarks.
"""

from __future__ import annotations

import collections
import csv
import io
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

APACHE_MODULES = "/usr/lib/apache2/modules"


_RECENT_PORTS = collections.deque(maxlen=4096)


def free_port():
    """A free loopback port that this process has not been given in its last 4,096 calls.

    The port is released at once, and the kernel offers a just-released port again now and then: two calls in a
    row returned the same port, so a world that picks its ports before it binds them got two listeners on one port
    (nginx chose between two backends by SNI; pebble's ACME server and its DNS server both took 35903, CI
    2026-12-05). Remembering what was handed out keeps every caller's ports distinct, not only free_ports()'s."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _RECENT_PORTS:
            _RECENT_PORTS.append(port)
            return port


def free_ports(count):
    """`count` distinct free loopback ports, for a world that picks all its listeners' ports before it starts them."""
    return [free_port() for _index in range(count)]


def wait_port(port, host="127.0.0.1", timeout=15.0, up=True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise RuntimeError("port %s:%d did not come %s within %ss" % (host, port, "up" if up else "down", timeout))


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(map(str, cmd)), proc.returncode, proc.stdout,
                                                     proc.stderr))
    return proc


def _kill_pidfile(pidfile):
    try:
        pid = int(Path(pidfile).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _attempt in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def haproxy_command(socket_path, command):
    """The answer of HAProxy's stats socket to one command (`show stat`, `show ssl ca-file <file>`...)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


def haproxy_stat(socket_path):
    """HAProxy's `show stat` over its stats socket: one dict per server (FRONTEND and BACKEND rows left out)."""
    rows = csv.DictReader(io.StringIO(haproxy_command(socket_path, "show stat").lstrip("# ")))
    return [row for row in rows if row["svname"] not in ("FRONTEND", "BACKEND")]


def http_status(url, timeout=15):
    """The HTTP status a load balancer answers a GET with (an error status included)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class Server:
    kind = ""

    def __init__(self, workdir, sites, plain_ports=()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sites = list(sites)
        self.plain_ports = list(plain_ports)
        self.pidfile = self.dir / ("%s.pid" % self.kind)

    def _fresh_sites_dir(self):
        """<dir>/sites, emptied of the .conf files of an earlier start."""
        sites_dir = self.dir / "sites"
        sites_dir.mkdir(exist_ok=True)
        for old in sites_dir.glob("*.conf"):
            old.unlink()
        return sites_dir

    @property
    def ports(self):
        return [s["port"] for s in self.sites] + self.plain_ports

    def stop(self):
        _kill_pidfile(self.pidfile)
        for port in self.ports:
            wait_port(port, up=False, timeout=10)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class Nginx(Server):
    kind = "nginx"

    @property
    def conf(self):
        return self.dir / "nginx.conf"

    def write_config(self):
        sites_dir = self._fresh_sites_dir()
        for site in self.sites:
            (sites_dir / ("%s.conf" % site["name"])).write_text(
                "server {\n"
                "    listen 127.0.0.1:%(port)d ssl;\n"
                "    server_name %(names)s;\n"
                "    ssl_certificate %(cert)s;\n"
                "    ssl_certificate_key %(key)s;\n"
                "    location / { return 200 \"%(name)s\\n\"; }\n"
                "}\n" % dict(site, names=" ".join(site["server_names"]) or "_"))
        plain = "".join("    server { listen 127.0.0.1:%d; return 200 \"plain\\n\"; }\n" % p for p in self.plain_ports)
        self.write_main("    include %s/sites/*.conf;\n%s" % (self.dir, plain))

    def write_main(self, http_body, top="", after=""):
        """nginx.conf for a process of our own (pid, logs and temp files under self.dir) around http_body; `top`
        first (load_module lines), `after` after the http block (a stream block)."""
        temp = "".join("    %s_temp_path %s/tmp/%s;\n" % (t, self.dir, t)
                       for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.dir / "tmp").mkdir(exist_ok=True)
        self.conf.write_text(
            top + ("user root;\n" if os.geteuid() == 0 else "")
            + "worker_processes 1;\n"
            "pid %(d)s/nginx.pid;\n"
            "error_log %(d)s/error.log;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            "    access_log off;\n"
            "%(temp)s"
            "%(body)s"
            "}\n%(after)s" % {"d": self.dir, "temp": temp, "body": http_body, "after": after})

    @property
    def test_command(self):
        return ["nginx", "-t", "-q", "-c", str(self.conf)]

    @property
    def reload_command(self):
        return ["nginx", "-s", "reload", "-c", str(self.conf)]

    def start(self):
        self.write_config()
        _run(["nginx", "-c", str(self.conf), "-e", str(self.dir / "error.log")])
        for port in self.ports:
            wait_port(port)


class ProtocolBackends(Nginx):
    """One nginx, one server block per site on its own loopback port, with its own certificate and protocols: sites
    [{name, port, cert, key, protocols[, fqdn][, proxy_protocol][, extra]}] (a request answers the site's name; with
    proxy_protocol true the site expects a PROXY protocol header before the handshake; extra: more lines of its
    server block)."""

    def write_config(self):
        self.write_main("".join(
            "    server {\n        listen 127.0.0.1:%(port)d ssl%(pp)s;\n        server_name %(fqdn)s;\n"
            "        ssl_certificate %(cert)s;\n        ssl_certificate_key %(key)s;\n"
            "        ssl_protocols %(protocols)s;\n%(extra)s"
            "        location / { return 200 \"%(name)s\\n\"; }\n    }\n"
            % dict({"fqdn": "_", "extra": ""}, pp=" proxy_protocol" if site.get("proxy_protocol") else "", **site)
            for site in self.sites))


class KindBackends(Nginx):
    """One nginx serving one certificate per kind (files[kind] = (cert, key)), each kind on every port listed for it
    (kind_ports[kind]); a request answers the kind's name. Tests give each (load balancer, case) its own port, so no
    load balancer reuses a connection or a TLS session between cases."""

    def __init__(self, workdir, kind_ports, files):
        super().__init__(workdir, [])
        self.kind_ports = kind_ports
        self.files = files

    @property
    def ports(self):
        return [p for ports in self.kind_ports.values() for p in ports]

    def write_config(self):
        self.write_main("".join(
            "    server {\n%s        ssl_certificate %s;\n        ssl_certificate_key %s;\n"
            "        location / { return 200 \"%s\\n\"; }\n    }\n" % (
                "".join("        listen 127.0.0.1:%d ssl;\n" % p for p in ports), self.files[kind][0],
                self.files[kind][1], kind)
            for kind, ports in self.kind_ports.items()))


class Apache(Server):
    kind = "apache"

    @property
    def conf(self):
        return self.dir / "apache2.conf"

    def write_config(self):
        sites_dir = self._fresh_sites_dir()
        for site in self.sites:
            names = site["server_names"] or ["localhost"]
            lines = ["Listen 127.0.0.1:%d" % site["port"],
                     "<VirtualHost 127.0.0.1:%d>" % site["port"],
                     "    ServerName %s" % names[0]]
            if names[1:]:
                lines.append("    ServerAlias %s" % " ".join(names[1:]))
            lines += ["    SSLEngine on",
                      "    SSLCertificateFile %s" % site["cert"],
                      "    SSLCertificateKeyFile %s" % site["key"]]
            if site.get("chain"):
                lines.append("    SSLCertificateChainFile %s" % site["chain"])
            lines.append("</VirtualHost>")
            (sites_dir / ("%s.conf" % site["name"])).write_text("\n".join(lines) + "\n")
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        modules = "".join("LoadModule %s_module %s/mod_%s.so\n" % (m, APACHE_MODULES, m)
                          for m in ("mpm_event", "authz_core", "ssl", "socache_shmcb", "dir"))
        # Workers run as www-data: the docroot must be readable by them wherever self.dir is.
        if not getattr(self, "htdocs", None):
            self.htdocs = Path(tempfile.mkdtemp(prefix="certops-htdocs-"))
            self.htdocs.chmod(0o755)
        (self.htdocs / "index.html").write_text("ok\n")
        (self.htdocs / "index.html").chmod(0o644)
        self.conf.write_text(
            "ServerRoot %(d)s\n"
            "ServerName localhost\n"
            "PidFile %(d)s/apache.pid\n"
            "ErrorLog %(d)s/error.log\n"
            "LogLevel warn\n"
            "DefaultRuntimeDir %(d)s\n"
            "Mutex file:%(d)s default\n"
            "%(user)s%(modules)s"
            "SSLSessionCache shmcb:%(d)s/ssl_scache(512000)\n"
            "StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMaxRequestWorkers 16\n"
            "DocumentRoot %(htdocs)s\nDirectoryIndex index.html\n"
            "<Directory %(htdocs)s>\n    Require all granted\n</Directory>\n"
            "%(plain)s"
            "IncludeOptional sites/*.conf\n" % {
                "d": self.dir, "user": user, "modules": modules, "htdocs": self.htdocs,
                "plain": "".join("Listen 127.0.0.1:%d\n" % p for p in self.plain_ports)})

    @property
    def test_command(self):
        return ["apache2", "-t", "-f", str(self.conf)]

    @property
    def reload_command(self):
        return ["apache2", "-k", "graceful", "-f", str(self.conf)]

    def stop(self):
        super().stop()
        if getattr(self, "htdocs", None):
            shutil.rmtree(str(self.htdocs), ignore_errors=True)

    def start(self):
        self.write_config()
        _run(["apache2", "-k", "start", "-f", str(self.conf)])
        for port in self.ports:
            wait_port(port)


class HAProxy(Server):
    """A TLS-terminating HAProxy: `bind ... ssl crt <file>` per site (or `crt-list` when crt_list=True)."""

    kind = "haproxy"

    def __init__(self, workdir, sites, plain_ports=(), crt_list=False):
        super().__init__(workdir, sites, plain_ports)
        self.crt_list = crt_list

    @property
    def conf(self):
        return self.dir / "haproxy.cfg"

    def write_config(self):
        lines = ["global", "    stats socket %s/admin.sock mode 600 level admin" % self.dir,
                 "    crt-base %s" % self.dir, "",
                 "defaults", "    mode http", "    timeout connect 2s", "    timeout client 5s",
                 "    timeout server 5s", ""]
        for site in self.sites:
            if self.crt_list:
                listfile = self.dir / ("%s.crtlist" % site["name"])
                listfile.write_text("%s %s\n" % (site["cert"], " ".join(site["server_names"])))
                bind = "crt-list %s" % listfile
            else:
                bind = "crt %s" % site["cert"]
            lines += ["frontend fe_%s" % site["name"].replace("-", "_"),
                      "    bind 127.0.0.1:%d ssl %s" % (site["port"], bind),
                      "    http-request return status 200 content-type text/plain string %s" % site["name"], ""]
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def test_command(self):
        return ["haproxy", "-c", "-q", "-f", str(self.conf)]

    @property
    def reload_command(self):
        return ["haproxy", "-f", str(self.conf), "-D", "-p", str(self.pidfile), "-sf",
                self.pidfile.read_text().strip()]

    def start(self):
        self.write_config()
        _run(["haproxy", "-f", str(self.conf), "-D", "-p", str(self.pidfile)])
        for port in self.ports:
            wait_port(port)

    def stop(self):
        try:
            pids = self.pidfile.read_text().split()
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(int(pid), 15)
            except (ProcessLookupError, ValueError):
                pass
        for port in self.ports:
            wait_port(port, up=False, timeout=10)


class HAProxyLB(Server):
    """An HAProxy load balancer of our own from a whole configuration text (@SOCKET@: its admin stats socket)."""
    kind = "haproxy"

    def __init__(self, workdir, text):
        super().__init__(workdir, [])
        self.text = text

    @property
    def conf(self):
        return self.dir / "haproxy.cfg"

    @property
    def socket(self):
        return self.dir / "lb.sock"

    def write(self):
        """The configuration file, written without starting HAProxy (for a file it refuses, say)."""
        self.conf.write_text(self.text.replace("@SOCKET@", str(self.socket)))
        return self

    def start(self):
        self.write()
        _run(["haproxy", "-c", "-q", "-f", str(self.conf)])
        _run(["haproxy", "-f", str(self.conf), "-D", "-p", str(self.pidfile)])
        deadline = time.monotonic() + 10
        while not self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        _kill_pidfile(self.pidfile)

    def stat(self):
        """{server: (status, check_status, last_chk)} from `show stat`."""
        return {r["svname"]: (r["status"], r["check_status"], r["last_chk"]) for r in haproxy_stat(self.socket)}


NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"  # Debian's libnginx-mod-stream


class NginxLB(Nginx):
    """An nginx load balancer of our own: the http block's body as given (plain_ports: where it listens), and a
    `stream` block's body when given (the stream module loaded)."""

    def __init__(self, workdir, port, body, stream=None):
        super().__init__(workdir, [], plain_ports=[port] if isinstance(port, int) else list(port))
        self.body = body
        self.stream = stream

    def write_config(self):
        if self.stream is None:
            self.write_main(self.body)
        else:
            self.write_main(self.body, top="load_module %s;\n" % NGINX_STREAM_MODULE,
                            after="stream {\n%s}\n" % self.stream)


class ApacheLB(Server):
    """An Apache load balancer of our own (mod_proxy, mod_ssl, balancers, and any other `modules` by name): the
    configuration body as given."""

    kind = "apache"

    def __init__(self, workdir, ports, body, modules=()):
        super().__init__(workdir, [], plain_ports=ports)
        self.body = body
        self.modules = tuple(modules)

    @property
    def conf(self):
        return self.dir / "apache2.conf"

    def write(self):
        """The configuration file, written without starting Apache (for a file it refuses, say)."""
        modules = "".join("LoadModule %s_module %s/mod_%s.so\n" % (m, APACHE_MODULES, m) for m in (
            "mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "proxy_balancer",
            "lbmethod_byrequests", "slotmem_shm") + self.modules)
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            "ServerRoot %(d)s\nServerName localhost\nPidFile %(d)s/apache.pid\nErrorLog %(d)s/error.log\n"
            "LogLevel warn ssl:info proxy:info\nDefaultRuntimeDir %(d)s\nMutex file:%(d)s default\n%(user)s%(modules)s"
            "StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMaxRequestWorkers 16\n%(listen)s%(body)s" % {
                "d": self.dir, "user": user, "modules": modules, "body": self.body,
                "listen": "".join("Listen 127.0.0.1:%d\n" % p for p in self.plain_ports)})
        return self

    def start(self):
        self.write()
        _run(["apache2", "-t", "-f", str(self.conf)])
        _run(["apache2", "-k", "start", "-f", str(self.conf)])
        for port in self.ports:
            wait_port(port)
        # Apache writes its pid file after it binds: a stop right after the start would find none, and stop nothing
        deadline = time.monotonic() + 10
        while not self.pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


class Misbehaving:
    """TCP peers that break the TLS client in the ways real backends do: never speak, or reset."""

    def __init__(self, behaviour):
        assert behaviour in ("silent", "reset")
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stopped:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            if self.behaviour == "reset":
                conn.recv(64)  # wait for the ClientHello, then RST instead of an answer
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self.held.append(conn)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped = True
        self.sock.close()
        for conn in self.held:
            conn.close()


def have(binary):
    return shutil.which(binary) is not None or os.path.exists("/usr/sbin/%s" % binary)
