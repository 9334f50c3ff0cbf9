"""Where HAProxy takes a server `crt`'s private key from, as the collection's view must (a review of 2026-12-07).

HAProxy 2.6 (ssl_sock_load_files_into_ckch): a key inside the crt's PEM wins; else, when `ssl-load-extra-files` lets
it (`all`, the default, or `key`), `<crt>.key`, or with `ssl-load-extra-del-ext` `<crt less its .crt>.key`; else it
does not start ("No Private Key found"). The collection looked only for `<crt>.key`, and preferred it: a working
client certificate was NOT_A_CERTIFICATE (no key) with del-ext, and KEY_MISMATCH beside a stale `<crt>.key`; and a
configuration HAProxy refuses was judged as if it started.

The backend asks for a client certificate (HAProxy with `verify required` on its bind, tests/testlib/mtls.py); the
load balancer is a real HAProxy whose health checks (check-ssl, verify required) say UP or DOWN for each server line.
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from testlib import lbjudge, pki
from testlib.mtls import HAProxyServer, Material
from testlib.servers import HAProxyLB


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "crtkey")
    material = Material(base / "mtls")
    files = base / "client"
    files.mkdir()
    chain = open(material.client_pem).read()
    key = open(material.client_key).read()
    # del-ext: split.crt's key in split.key (HAProxy looks there with ssl-load-extra-del-ext, not in split.crt.key)
    pki.write(files / "split.crt", chain)
    pki.write(files / "split.key", key, 0o600)
    # the key inside the PEM wins over a stale both.pem.key beside it (another client's key)
    pki.write(files / "both.pem", chain + key, 0o600)
    pki.write(files / "both.pem.key", open(material.stranger_key).read(), 0o600)
    # the usual <crt>.key, which del-ext does not change for a name that does not end in .crt
    pki.write(files / "plain.pem", chain)
    pki.write(files / "plain.pem.key", key, 0o600)
    # a key block OpenSSL does not read (OpenSSH's format) in the PEM: HAProxy goes on to <crt>.key (the view took
    # the block for the key for a while on 2026-12-07, a review of that change)
    ssh_key = pki.new_key().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    pki.write(files / "ssh.pem", chain + ssh_key, 0o600)
    pki.write(files / "ssh.pem.key", key, 0o600)
    with contextlib.ExitStack() as running:
        backend = running.enter_context(HAProxyServer(base / "backend", material, version="1.2"))
        line = ("    server %%s 127.0.0.1:%d ssl verify required ca-file %s crt %%s sni str(backend.test) "
                "check check-ssl check-sni backend.test\n" % (backend.port, material.client_ca))
        servers = "".join(line % (name, files / crt) for name, crt in (
            ("split", "split.crt"), ("both", "both.pem"), ("plain", "plain.pem"), ("ssh", "ssh.pem")))
        lb = HAProxyLB(base / "lb", lbjudge.haproxy_head("    ssl-load-extra-del-ext") + "backend be_crt\n" + servers)
        running.enter_context(lb)
        yield {"base": base, "files": files, "lb": lb, "material": material, "backend": backend}


def _items(result):
    return {item["server"]: item for item in result["lb_backends"]}


def test_the_key_is_taken_where_haproxy_takes_it(world):
    says = lbjudge.haproxy_settled(world["lb"])
    assert {name: status for name, (status, _check, _last) in says.items()} == {
        "split": "UP", "both": "UP", "plain": "UP", "ssh": "UP"}, says
    result = lbjudge.read({"haproxy": world["lb"]})
    items = _items(result)
    verdicts = lbjudge.judged(result)
    for index, item in enumerate(result["lb_backends"]):
        assert lbjudge.accepted(item, verdicts.get(index)), (item["server"], item["error"], item["endpoint"])
    assert items["split"]["client_cert"]["path"] == str(world["files"] / "split.crt")


def test_no_key_where_haproxy_looks_is_a_configuration_haproxy_refuses(world, tmp_path):
    files, material = world["files"], world["material"]
    cases = {  # global lines, crt -> what the collection says
        "none": ("    ssl-load-extra-files none", files / "plain.pem", "looks in no other file"),
        "key-elsewhere": ("", files / "split.crt", "looks in %s.key, which is no file" % (files / "split.crt")),
    }
    for name, (global_lines, crt, said) in cases.items():
        lb = HAProxyLB(tmp_path / name, lbjudge.haproxy_head(global_lines) + (
            "backend be_r\n    server r 127.0.0.1:%d ssl verify required ca-file %s crt %s check\n"
            % (world["backend"].port, material.client_ca, crt))).write()
        checked = subprocess.run(["haproxy", "-c", "-f", str(lb.conf)], capture_output=True, text=True, check=False)
        assert checked.returncode != 0 and "No Private Key found" in checked.stdout + checked.stderr, checked
        (item,) = lbjudge.read({"haproxy": lb})["lb_backends"]
        assert item["error"]["code"] == "INVALID_CONFIG", (name, item)
        assert said in item["error"]["message"] and "HAProxy refuses" in item["error"]["message"], (name, item)
