"""An nginx load balancer whose client key is encrypted, opened with `proxy_ssl_password_file`, against the REAL
nginx: the backend asks for a client certificate, each location's proxied request says whether nginx presented one
(200) or not (400), and `nginx -t` whether nginx can load the key at all. The collection (lb_backend_info through
the real module runner, cert_chain_verify on what it was served) must agree, and never say a password.

nginx reads the file a password a line, drops a CR before the line end, skips empty lines and tries each password
in turn (ngx_ssl_read_password_file, ngx_ssl_certificate); with none that decrypts the key it refuses to start.
"""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from testlib import lbjudge, pki
from testlib.servers import NginxLB, ProtocolBackends, free_ports, http_status

PASSWORD = "second-of-three"
ROOT = pki.issue("Password File Root CA", ca=True, days=3650)
LEAF = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])
CLIENT_CA = pki.issue("Password File Client CA", ca=True, days=3650)
CLIENT = pki.issue("lb-client", issuer=CLIENT_CA, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
VERIFY = "proxy_ssl_verify on; proxy_ssl_trusted_certificate {root}; proxy_ssl_name backend.test;"


def _files(base):
    """The material: the client key encrypted (PKCS#8), beside its certificate (cert and key in one file too), and
    password files nginx reads as holding the password (CRLF line ends, an empty line before it) or not."""
    encrypted = CLIENT.key_pem(PASSWORD.encode())
    assert "ENCRYPTED PRIVATE KEY" in encrypted
    return {"root": pki.write(base / "R.pem", ROOT.pem),
            "client_crt": pki.write(base / "client.crt", CLIENT.pem),
            "client_key": pki.write(base / "client.key", encrypted, 0o600),
            "combined": pki.write(base / "client-combined.pem", CLIENT.pem + encrypted, 0o600),
            "passwords": pki.write(base / "client.pass", "not-this-one\r\n\n%s\r\nnor-this\n" % PASSWORD, 0o600),
            "last_line": pki.write(base / "last-line.pass", "first\n" + PASSWORD, 0o600),  # no final line end
            "wrong": pki.write(base / "wrong.pass", "%s \nsecond-of-two\n" % PASSWORD, 0o600)}  # a space after it


# location -> its lines after proxy_pass; nginx's answer (200: it presented its client certificate, 400: it did not)
CASES = {
    "password_file": VERIFY + " proxy_ssl_certificate {client_crt}; proxy_ssl_certificate_key {client_key};"
                              " proxy_ssl_password_file {passwords};",
    "combined": VERIFY + " proxy_ssl_certificate {combined}; proxy_ssl_certificate_key {combined};"
                         " proxy_ssl_password_file {last_line};",
    "no_client_cert": VERIFY + " proxy_ssl_password_file {passwords};",  # the backend wants one: 400
}
ANSWER = {"password_file": 200, "combined": 200, "no_client_cert": 400}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "nginx-password-file")
    files = _files(base)
    *ports, lb_port = free_ports(len(CASES) + 1)
    ports = dict(zip(CASES, ports))  # a backend port a case: nginx resumes a TLS session per upstream
    client_ca = pki.write(base / "client-ca.pem", CLIENT_CA.pem)
    cert = pki.write(base / "leaf.crt", LEAF.pem + ROOT.pem)
    key = pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    backend = ProtocolBackends(base / "backend", [{
        "name": case, "port": port, "cert": cert, "key": key, "protocols": "TLSv1.2 TLSv1.3",
        "extra": "        ssl_verify_client on;\n        ssl_client_certificate %s;\n" % client_ca}
        for case, port in ports.items()])
    body = "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (lb_port, "".join(
        "        location /%s/ { proxy_pass https://127.0.0.1:%d/; %s }\n" % (
            case, ports[case], lines.format(**{k: str(v) for k, v in files.items()})) for case, lines in CASES.items()))
    nginx = NginxLB(base / "lb", lb_port, body)
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (backend, nginx):
            running.enter_context(server)
        yield {"nginx": nginx, "lb_port": lb_port, "files": files, "base": base}


@pytest.fixture(scope="module")
def view(world):
    return lbjudge.read({"nginx": world["nginx"]})


def test_nginx_presents_its_client_certificate_with_a_password_from_the_file(world):
    said = {case: http_status("http://127.0.0.1:%d/%s/" % (world["lb_port"], case)) for case in CASES}
    assert said == ANSWER


def test_the_collection_opens_the_key_as_nginx_does_and_agrees(world, view):
    verdicts = lbjudge.judged(view)
    items = {item["location"].split()[-1].strip("/"): (index, item) for index, item in enumerate(view["lb_backends"])}
    assert set(items) == set(CASES)
    for case in ("password_file", "combined"):
        index, item = items[case]
        assert item["client_key_passwords"] == str(world["files"]["passwords" if case == "password_file"
                                                                  else "last_line"]), item
        assert item["error"] is None and item["endpoint"]["error"] is None, (case, item)
        assert lbjudge.accepted(item, verdicts.get(index)), (case, item, verdicts.get(index))
        assert item["client_cert"]["fingerprint_sha256"] == CLIENT.fingerprint
    # a password file without a client certificate is nothing nginx uses: not reported (nginx's backend asks for a
    # certificate and answers 400 over HTTP without one, which no handshake shows)
    _index, item = items["no_client_cert"]
    assert item["client_key_passwords"] is None and item["client_cert"] is None and item["endpoint"]["ok"]
    # no password is ever in the result
    text = json.dumps(view)
    assert PASSWORD not in text and "not-this-one" not in text


def _refused_by_nginx_and_read(directory, lines, named):
    """An nginx load balancer of one location with these lines, which `nginx -t` refuses naming `named`: its one
    backend as the collection reads it."""
    lb = NginxLB(directory, free_ports(1)[0], "    server {\n        listen 127.0.0.1:1;\n"
                 "        location / { proxy_pass https://127.0.0.1:9/; %s }\n    }\n" % lines)
    lb.write_config()
    refused = subprocess.run(lb.test_command, check=False, capture_output=True, text=True)
    assert refused.returncode != 0 and named in refused.stderr, refused.stderr
    (item,) = lbjudge.read({"nginx": lb})["lb_backends"]
    return item


def test_no_password_that_opens_the_key_is_encrypted_and_nginx_refuses_to_start(world, tmp_path):
    """A file whose every password fails (one with a space after it: nginx keeps the space): `nginx -t` refuses the
    configuration, and the collection says ENCRYPTED, naming the file and not what it holds. Without a password
    file, the same."""
    files = world["files"]
    for passwords in (files["wrong"], None):
        lines = ("proxy_ssl_certificate %s; proxy_ssl_certificate_key %s;%s" % (
            files["client_crt"], files["client_key"],
            " proxy_ssl_password_file %s;" % passwords if passwords else ""))
        item = _refused_by_nginx_and_read(tmp_path / ("lb-%s" % bool(passwords)), lines, "client.key")
        error = item["endpoint"]["error"]
        assert error["code"] == "ENCRYPTED", item
        if passwords:
            assert "2 password(s) in %s" % passwords in error["message"], error
            assert PASSWORD not in json.dumps(item) and "second-of-two" not in json.dumps(item)


def test_a_password_file_nginx_cannot_read_is_a_configuration_it_refuses(world, tmp_path):
    """nginx reads proxy_ssl_password_file where it parses the directive, client certificate or not: a missing file
    and it does not start. The entry said nothing of it (a review of 2026-12-07)."""
    missing = tmp_path / "no-such.pass"
    item = _refused_by_nginx_and_read(tmp_path / "lb", "proxy_ssl_password_file %s;" % missing, "no-such.pass")
    assert item["error"]["code"] == "INVALID_CONFIG" and str(missing) in item["error"]["message"], item
    assert item["client_key_passwords"] is None  # (no client certificate: nothing it opens)


def test_a_password_file_that_is_a_directory_is_a_configuration_nginx_refuses(world, tmp_path):
    """nginx: read() failed (21: Is a directory). It was taken for a file this module could not read, and not said
    (a review of 2026-12-07)."""
    directory = tmp_path / "passwords.d"
    directory.mkdir()
    item = _refused_by_nginx_and_read(tmp_path / "lb", "proxy_ssl_password_file %s;" % directory, "passwords.d")
    assert item["error"]["code"] == "INVALID_CONFIG" and str(directory) in item["error"]["message"], item
