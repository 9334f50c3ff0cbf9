"""Hostile configuration inputs: configuration files that are FIFOs, devices or huge, numbers longer than int()
reads, limits too large to allocate, a NUL in a cipher string, descriptors past select()'s reach, a FIFO where
fleet_report writes its Prometheus file, and CRL files and directories a load balancer names that are none.

Everything that could hang runs through test_hostile_inputs.bounded (a forked child with a deadline): a regression
fails the test instead of hanging the suite.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import (
    _certs,
    _collect,
    _confread,
    _discover,
    _lbview,
    _probe,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, port_number
from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info, lb_backend_info
from testlib import pki
from testlib.module_runner import run_main


def _sibling(name):
    """A test module next to this one, by path (test directories are no packages under --import-mode=importlib)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location("_hostile_config_" + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bounded = _sibling("test_hostile_inputs.py").bounded

MAX_CONFIG_BYTES = getattr(_confread, "MAX_CONFIG_BYTES", 32 * 1024 * 1024)
LONG = "1" * 5000  # int() refuses strings of more than 4300 digits (Python >= 3.11; 3.10.7, 3.9.14, 3.8.14)


def _error(fn):
    """fn()'s result as {"result": ...}, or the CertError it raises as {"error": {code, message}}."""
    try:
        return {"result": fn()}
    except CertError as exc:
        return {"error": exc.as_dict()}


def _discover_one(server_type, config, **spec):
    """The discovery report entry of backend_cert_info's collect for one configuration."""
    result = _collect.collect(discover=[dict(spec, type=server_type, config=config)])
    (status,) = result["discovery"]
    return status


# ---------------------------------------------------------------- 1. a configuration file that is no regular file

@pytest.mark.parametrize("case", ["nginx", "apache", "haproxy", "haproxy-crt-list", "nginx-include", "apache-include",
                                  "lb-haproxy", "lb-nginx", "lb-apache"])
def test_a_fifo_configuration_is_named_not_read(tmp_path, case):
    fifo = str(tmp_path / "fifo.conf")
    os.mkfifo(fifo)
    main = str(tmp_path / "main.conf")
    mains = {"haproxy-crt-list": "frontend f\n  bind 127.0.0.1:8443 ssl crt-list %s\n",
             "nginx-include": "http { include %s; }\n", "apache-include": "Include %s\n"}
    if case in mains:
        Path(main).write_text(mains[case] % fifo)
    parsers = {"haproxy-crt-list": _discover.haproxy_sites, "nginx-include": _discover.nginx_sites,
               "apache-include": _discover.apache_sites}

    def call():
        if case in parsers:
            return parsers[case](main, _confread.FileSource())
        if case.startswith("lb-"):
            return _lbview.lb_backends(case[3:], fifo)
        return _discover.discover(case, fifo)

    outcome = bounded(lambda: _error(call))
    if case.endswith("-include"):  # an include lists regular files only: the FIFO is not even named
        assert outcome == {"result": []}
        return
    assert outcome["error"]["code"] == "NOT_REGULAR_FILE", outcome
    assert fifo in outcome["error"]["message"] and "a FIFO" in outcome["error"]["message"]


def test_nginx_dump_is_not_run_on_a_fifo(tmp_path):
    """`nginx -T -c <FIFO>` blocks in nginx's own read: the module does not run it (here a stand-in that reads its
    -c argument as nginx does), the parser names the FIFO."""
    fifo = str(tmp_path / "nginx.conf")
    os.mkfifo(fifo)
    fake = tmp_path / "nginx"
    fake.write_text('#!/bin/sh\nexec cat "$4"\n')
    fake.chmod(0o755)
    result = bounded(lambda: run_main(backend_cert_info.main, {
        "discover": [{"type": "nginx", "config": fifo, "binary": str(fake)}], "timeout": 1}))
    (status,) = result["discovery"]
    assert status["error"]["code"] == "NOT_REGULAR_FILE", status


def test_lb_view_does_not_dump_a_fifo(tmp_path):
    """The same through lb_backend_info, with this machine's real nginx (`nginx -T -c <FIFO>` blocks)."""
    fifo = str(tmp_path / "nginx.conf")
    os.mkfifo(fifo)
    result = bounded(lambda: run_main(lb_backend_info.main, {"lb_type": ["nginx"], "config": {"nginx": fifo},
                                                             "probe": False}))
    (config,) = result["configs"]
    assert config["error"]["code"] == "NOT_REGULAR_FILE", config


def test_nginx_dump_is_bounded_in_time(tmp_path, monkeypatch):
    """An nginx that never ends (an include of a FIFO blocks nginx itself): the dump gives up, the files are read."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _infomodule

    monkeypatch.setattr(_infomodule, "NGINX_DUMP_TIMEOUT", 1)
    config = pki.write(tmp_path / "nginx.conf", "events {}\nhttp {}\n")
    fake = tmp_path / "nginx"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    started = time.monotonic()
    result = bounded(lambda: run_main(backend_cert_info.main, {
        "discover": [{"type": "nginx", "config": config, "binary": str(fake)}], "timeout": 1}))
    assert time.monotonic() - started < 30
    (status,) = result["discovery"]
    assert status.get("error") is None, status


@pytest.mark.parametrize("what", ["socket", "/dev/zero", "directory"])
def test_other_non_regular_configurations(tmp_path, what):
    path = str(tmp_path / "cfg")
    server = None
    if what == "socket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
    elif what == "directory":
        os.mkdir(path)
    else:
        path = what
    try:
        status = bounded(lambda: _discover_one("apache", path))
    finally:
        if server is not None:
            server.close()
    assert status["error"]["code"] == "NOT_REGULAR_FILE", status
    assert path in status["error"]["message"]


# ---------------------------------------------------------------- 2. size

def test_an_oversized_included_configuration_is_too_large(tmp_path):
    big = tmp_path / "big.conf"
    with open(big, "wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: no disk
    main = tmp_path / "apache2.conf"
    main.write_text("Include %s\n" % big)
    status = bounded(lambda: _discover_one("apache", str(main)))
    assert status["error"]["code"] == "TOO_LARGE", status
    assert str(big) in status["error"]["message"]


def test_a_configuration_at_the_limit_is_read(tmp_path):
    main = tmp_path / "haproxy.cfg"
    text = "frontend f\n  bind 127.0.0.1:8443 ssl crt /etc/x.pem\n"
    main.write_text(text + "#" * (MAX_CONFIG_BYTES - len(text) - 1) + "\n")
    assert os.path.getsize(main) == MAX_CONFIG_BYTES
    (site,) = _discover.haproxy_sites(str(main), _confread.FileSource())
    assert site["cert_file"] == "/etc/x.pem"


def test_newlines_read_as_before(tmp_path):
    """Bytes decoded as open(path, 'r') did: universal newlines, invalid UTF-8 replaced."""
    main = tmp_path / "a.conf"
    main.write_bytes(b"Listen 443\r\nDefine X \xff\rListen 8443\n")
    assert _confread.FileSource().read(str(main)) == "Listen 443\nDefine X \ufffd\nListen 8443\n"


# ---------------------------------------------------------------- 3. numbers longer than int() reads


@pytest.mark.parametrize("endpoint", ["127.0.0.1:" + LONG, {"host": "127.0.0.1", "port": LONG},
                                      "127.0.0.1:" + "0" * 5000 + "443"])
def test_a_long_endpoint_port_is_an_argument_error(endpoint):
    if isinstance(endpoint, str) and endpoint.endswith("443"):  # leading zeros are read as the servers read them
        assert _collect.parse_endpoint(endpoint)["port"] == 443
        return
    result = run_main(backend_cert_info.main, {"endpoints": [endpoint], "timeout": 1}, expect="fail")
    assert result["error"]["code"] == "INVALID_ARGUMENT" and "between 1 and 65535" in result["msg"]


def test_long_ports_are_no_ports():
    assert port_number(LONG) is None
    assert port_number("0" * 5000 + "443") == 443  # leading zeros, as the servers read them
    assert _discover.parse_listen("127.0.0.1:" + LONG) is None
    assert _lbview._depth("0" * 5000 + "3") == 3
    assert _lbview._depth(LONG) is None
    assert _lbview._split_hostport("10.0.0.1:" + LONG, None)[1:] == (
        None, "the port of %r is not a port number" % ("10.0.0.1:" + LONG))


def test_long_listen_and_bind_ports(tmp_path):
    nginx = {"/n/nginx.conf": "http { server { listen 127.0.0.1:%s ssl; server_name a.test; "
                              "ssl_certificate /x.pem; } }\n" % LONG}
    (site,) = _discover.nginx_sites("/n/nginx.conf", _confread.FileSource(nginx))
    assert site["endpoint"] is None and site["cert_file"] == "/x.pem"
    haproxy = {"/h.cfg": "frontend f\n  bind 127.0.0.1:%s ssl crt /x.pem\n" % LONG}
    (site,) = _discover.haproxy_sites("/h.cfg", _confread.FileSource(haproxy))
    assert site["endpoint"] is None


@pytest.mark.parametrize("line,code", [
    ("server s 10.0.0.1:%s ssl verify none" % LONG, "UNSUPPORTED_ADDRESS"),
    ("server-template s %s 10.0.0.1:443 ssl verify none" % LONG, "INVALID_CONFIG"),
    ("server-template s 1-%s 10.0.0.1:443 ssl verify none" % LONG, "INVALID_CONFIG"),
    ("server-template s %s 10.0.0.1:443 ssl verify none" % ("0" * 5000 + "1"), None),
], ids=["server-port", "template-count", "template-range", "template-leading-zeros"])
def test_long_haproxy_numbers_are_items_with_a_code(line, code):
    source = _confread.FileSource({"/h.cfg": "backend be\n    %s\n" % line})
    (item,) = _lbview.lb_backends("haproxy", "/h.cfg", source)
    assert (item["error"] or {}).get("code") == code, item


@pytest.mark.parametrize("lb_type,config", [
    ("nginx", "http { server { listen 80; location / { proxy_pass https://10.0.0.1:443; proxy_ssl_verify_depth %s; "
              "} } }\n" % LONG),
    ("apache", "<VirtualHost *:80>\n  SSLProxyEngine on\n  SSLProxyVerifyDepth %s\n"
               "  ProxyPass / https://10.0.0.1:443/\n</VirtualHost>\n" % LONG),
], ids=["nginx", "apache"])
def test_long_verify_depths_are_no_depth(lb_type, config):
    (item,) = _lbview.lb_backends(lb_type, "/lb.conf", _confread.FileSource({"/lb.conf": config}))
    assert item["verify_depth"] is None and item["address"] == "10.0.0.1", item


# ---------------------------------------------------------------- 4. max_file_size

@pytest.mark.parametrize("size", [10 ** 18, 2 ** 63, 64 * 1024 * 1024 + 1])
def test_max_file_size_has_an_upper_bound(tmp_path, size):
    path = pki.write(tmp_path / "small.pem", "hello\n")
    result = run_main(backend_cert_info.main, {"paths": [path], "max_file_size": size}, expect="fail")
    assert "max_file_size must be at most 67108864" in result["msg"]
    assert result["error"]["code"] == "INVALID_ARGUMENT"


def test_max_file_size_at_the_bound_is_taken(tmp_path):
    path = pki.write(tmp_path / "small.pem", "hello\n")
    result = run_main(backend_cert_info.main, {"paths": [path], "max_file_size": 64 * 1024 * 1024})
    assert result["files"][0]["error"]["code"] == "NOT_A_CERTIFICATE"


# ---------------------------------------------------------------- 5. a NUL in a cipher string

@pytest.mark.parametrize("ciphers", ["DEFAULT\x00junk", "\x00"])
def test_a_nul_in_a_cipher_string_is_no_common_cipher(ciphers):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(CertError) as info:
        _probe.restrict_context(ctx, ciphers=ciphers)
    assert info.value.code == "NO_COMMON_CIPHER"


# ---------------------------------------------------------------- 6. descriptors past select()'s FD_SETSIZE

class _Pending:
    """What _await_verdict sees of a TLS socket with nothing to read yet (recv: SSLWantReadError)."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def setblocking(self, flag):
        self.sock.setblocking(flag)

    def recv(self, size):
        try:
            return self.sock.recv(size)
        except BlockingIOError:
            raise ssl.SSLWantReadError("read would block") from None


@pytest.fixture
def high_fd_pair():
    """A socketpair whose first end has a descriptor >= 1024 (select()'s FD_SETSIZE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1100
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip("RLIMIT_NOFILE hard limit %d: no descriptor >= 1024 to test with" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    import fcntl

    low, peer = socket.socketpair()
    high = fcntl.fcntl(low.fileno(), fcntl.F_DUPFD, 1024)
    low.close()
    sock = socket.socket(fileno=high)
    try:
        assert sock.fileno() >= 1024
        yield sock, peer
    finally:
        sock.close()
        peer.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_await_verdict_waits_on_a_high_descriptor_until_the_deadline(high_fd_pair):
    sock, _peer = high_fd_pair
    start = time.monotonic()
    _probe._await_verdict(_Pending(sock), {"messages": []}, start + 0.3, 0.01)
    assert 0.25 <= time.monotonic() - start < 3


def test_await_verdict_on_a_high_descriptor_returns_when_data_comes(high_fd_pair):
    sock, peer = high_fd_pair
    timer = threading.Timer(0.2, peer.sendall, (b"x",))
    timer.start()
    try:
        start = time.monotonic()
        _probe._await_verdict(_Pending(sock), {"messages": []}, start + 10, 5)
        assert time.monotonic() - start < 5
    finally:
        timer.cancel()


# ---------------------------------------------------------------- 7. fleet_report's Prometheus file

def _fleet_report(path, fmt="prometheus"):
    """The fleet_report action's result for one file, run in this process."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.playbook.task import Task
    from ansible.template import Templar

    from ansible_collections.certops.backend_tls.plugins.action.fleet_report import ActionModule

    task = Task()
    task.args = {"report": {"schema_version": 1, "hosts": {}}, "files": [{"format": fmt, "path": str(path)}]}
    task.check_mode = False
    loader = DataLoader()
    action = ActionModule(task, mock.MagicMock(), PlayContext(), loader, Templar(loader=loader), None)
    return action.run(task_vars={})


@pytest.mark.parametrize("fmt", ["prometheus", "json"])
def test_fleet_report_refuses_a_fifo(tmp_path, fmt):
    fifo = tmp_path / "m.prom"
    os.mkfifo(fifo)
    result = bounded(lambda: _fleet_report(fifo, fmt))
    assert result["failed"] is True and result["error"]["code"] == "NOT_REGULAR_FILE", result
    assert "a FIFO" in result["msg"] and str(fifo) in result["msg"]
    assert os.path.exists(fifo) and not os.path.isfile(fifo)  # left as it was


def test_fleet_report_refuses_an_oversized_previous_file(tmp_path):
    from ansible_collections.certops.backend_tls.plugins.action import fleet_report

    path = tmp_path / "m.prom"
    limit = getattr(fleet_report, "MAX_PREVIOUS_BYTES", 64 * 1024 * 1024)
    with open(path, "wb") as handle:
        handle.truncate(limit + 1)  # sparse
    result = bounded(lambda: _fleet_report(path))
    assert result.get("failed") is True and result["error"]["code"] == "TOO_LARGE", result
    assert os.path.getsize(path) == limit + 1


def test_fleet_report_still_writes_a_regular_file(tmp_path):
    path = tmp_path / "m.prom"
    path.write_text("# previous\r\n")
    result = _fleet_report(path)
    assert result["changed"] is True and not result.get("failed"), result
    assert path.read_text().startswith("#")


def test_a_discover_binary_that_cannot_run_is_not_the_task_s_failure(tmp_path):
    """`nginx -T` through a binary that does not exist: the configuration is read file by file (the task used to
    fail with "Error executing command", losing every other result)."""
    config = pki.write(tmp_path / "nginx.conf", "events {}\nhttp {}\n")
    result = run_main(backend_cert_info.main, {
        "discover": [{"type": "nginx", "config": config, "binary": str(tmp_path / "no-such-nginx")}],
        "paths": [config], "timeout": 1})
    (status,) = result["discovery"]
    assert status["error"] is None and status["config_file"] == config, status
    assert [f["path"] for f in result["files"]] == [config]


# ---------------------------------------------------------------- 8. CRL files and directories a load balancer names

def _crl_pem(issuer):
    """A real (empty) CRL of issuer, PEM."""
    return pki.crl_pem(pki.crl(issuer)).encode()


def _haproxy_crl_error(directory, crl_file, as_nobody=False):
    """The error lb_view gives the one HAProxy server whose crl-file is crl_file (bytes: the configuration's own
    bytes), computed in a bounded child."""
    ca = pki.CA("HostileCrl")
    pki.write(os.path.join(directory, "ca.pem"), ca.root.pem)
    config = os.path.join(directory, "haproxy.cfg")
    line = b"backend be\n    server s 10.0.0.1:443 ssl verify required ca-file %s crl-file %s\n" % (
        os.path.join(directory, "ca.pem").encode(), crl_file if isinstance(crl_file, bytes) else crl_file.encode())
    pki.write(config, line)

    def run():
        view = _lbview.lb_view([("haproxy", config)], probe=False)
        (item,) = view["lb_backends"]
        return {"error": item["error"], "crls": view["crls"], "crl_fingerprints": item["crl_fingerprints"]}

    return bounded(run, as_nobody=as_nobody)


@pytest.mark.parametrize("kind, code", [
    ("directory", "NOT_A_CRL"),
    ("fifo", "NOT_REGULAR_FILE"),
    ("huge", "TOO_LARGE"),
    ("random bytes", "NOT_A_CRL"),
    ("many BEGIN lines", "NOT_A_CRL"),
    ("/dev/zero", "NOT_REGULAR_FILE"),
    ("dangling symlink", "NOT_FOUND"),
    ("non-UTF-8 path", "NOT_FOUND"),
])
def test_a_crl_file_that_is_no_crl_file_is_a_coded_backend_error(tmp_path, kind, code):
    path = str(tmp_path / "revoked.crl")
    if kind == "directory":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)  # a read would block until a writer comes: never opened
    elif kind == "huge":
        with open(path, "wb") as handle:
            handle.truncate(_lbview.MAX_CRL_BYTES + 1)  # sparse: no disk
    elif kind == "random bytes":
        pki.write(path, os.urandom(4096))
    elif kind == "many BEGIN lines":
        pki.write(path, b"-----BEGIN X509 CRL-----\n" * 100000)
    elif kind == "/dev/zero":
        path = kind
    elif kind == "dangling symlink":
        os.symlink(str(tmp_path / "gone.crl"), path)
    else:  # the file exists under its bytes; the configuration is read as text, invalid UTF-8 replaced
        path = os.path.join(os.fsencode(str(tmp_path)), b"revoked-\xff.crl")
        with open(path, "wb") as handle:
            handle.write(_crl_pem(pki.CA("Bytes").root))
    outcome = _haproxy_crl_error(str(tmp_path), path)
    assert outcome["error"]["code"] == code, outcome
    shown = os.fsdecode(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    assert outcome["error"]["message"].startswith("CRL file %s: " % shown), outcome
    assert (outcome["crls"], outcome["crl_fingerprints"]) == ([], [])


def test_an_unreadable_crl_file_is_permission_denied():
    top = tempfile.mkdtemp(prefix="certops-hostile-crl-")  # not under root's 0700 pytest tmp: nobody must enter
    try:
        os.chmod(top, 0o755)
        path = pki.write(os.path.join(top, "locked.crl"), _crl_pem(pki.CA("Locked").root), 0o600)
        if os.geteuid() != 0:
            os.chmod(path, 0o000)
        outcome = _haproxy_crl_error(top, path, as_nobody=True)
    finally:
        shutil.rmtree(top)
    assert outcome["error"]["code"] == "PERMISSION_DENIED", outcome
    assert outcome["error"]["message"].startswith("CRL file %s: " % path)


@pytest.mark.parametrize("mode, code", [(0o000, "PERMISSION_DENIED"), (0o311, "PERMISSION_DENIED")],
                         ids=["locked", "enter-only"])
def test_an_unlistable_crl_directory_is_permission_denied(mode, code):
    top = tempfile.mkdtemp(prefix="certops-hostile-crl-")
    try:
        os.chmod(top, 0o755)
        directory = os.path.join(top, "crl.d")
        os.mkdir(directory)
        pki.write(os.path.join(directory, "a.r0"), _crl_pem(pki.CA("Unlisted").root))
        os.chmod(directory, mode)
        config = pki.write(os.path.join(top, "apache2.conf"),
                           "<VirtualHost *:443>\n  SSLProxyEngine on\n  SSLProxyCARevocationPath %s\n"
                           "  SSLProxyCARevocationCheck chain\n  ProxyPass / https://10.0.0.1/\n</VirtualHost>\n"
                           % directory)

        def run():
            (item,) = _lbview.lb_view([("apache", config)], probe=False)["lb_backends"]
            return item["error"]

        error = bounded(run, as_nobody=True)
    finally:
        os.chmod(os.path.join(top, "crl.d"), 0o755)
        shutil.rmtree(top)
    assert error["code"] == code and error["message"].startswith("CRL file %s: " % directory), error


def test_a_crl_directory_of_hostile_files_is_read_without_hanging(tmp_path):
    """Apache's SSLProxyCARevocationPath holding a FIFO, a socket, a huge file and junk, next to one real CRL: the
    FIFO and the socket are not even opened, the rest passed over, the CRL read."""
    directory = tmp_path / "crl.d"
    directory.mkdir()
    ca = pki.CA("Dir")
    real = _certs.name_hash(ca.root.cert.subject)  # under hashed names, where OpenSSL's lookup opens files
    os.mkfifo(directory / "00000000.r0")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(directory / "11111111.r0"))
    with open(directory / "22222222.r0", "wb") as handle:
        handle.truncate(_lbview.MAX_CRL_BYTES + 1)
    pki.write(directory / "33333333.r0", b"\xff\xfe junk")
    pki.write(directory / ("%s.r0" % real), _crl_pem(ca.root))
    os.mkfifo(directory / ("%s.r1" % real))  # the next one OpenSSL would look for
    config = pki.write(tmp_path / "apache2.conf", "<VirtualHost *:443>\n  SSLProxyEngine on\n"
                       "  SSLProxyCARevocationPath %s\n  SSLProxyCARevocationCheck chain\n"
                       "  ProxyPass / https://10.0.0.1/\n</VirtualHost>\n" % directory)
    try:
        outcome = bounded(lambda: _lbview.lb_view([("apache", config)], probe=False))
    finally:
        server.close()
    (item,) = outcome["lb_backends"]
    assert item["error"] is None and len(item["crl_fingerprints"]) == 1, item
    assert [c["issuer"] for c in outcome["crls"]] == ["CN=Dir Root CA"]
    for name in ("00000000.r0", "11111111.r0", "%s.r1" % real):
        assert not os.path.isfile(directory / name)  # left as they were
