"""nginx's `stream` module as a TLS-verifying TCP load balancer (`proxy_pass` with `proxy_ssl on`), against the REAL
nginx 1.22 (Debian's libnginx-mod-stream): every case is one stream server on its own port in front of its own
backend, and nginx's own answer -- the backend's HTTP response relayed through the stream, or the connection closed
when nginx's TLS connection to the backend fails -- must agree with the collection's reading (lb_backend_info, the
real module runner) and verdict (lb_verify_items, cert_chain_verify).

- The name checked defaults to the proxy_pass host (an upstream group's name for a group), as in http; `proxy_ssl_name`
  sets it; `proxy_ssl_verify off` checks nothing.
- `proxy_protocol on` sends a PROXY protocol v1 header before the handshake: a backend that expects one answers
  nginx, and the collection's probe sends it too; without it that backend drops nginx's connection.
- `proxy_ssl_protocols TLSv1.3` cannot reach a TLS 1.2 backend: NO_COMMON_PROTOCOL.
- A proxy_pass without a port that names no upstream is a file nginx refuses: INVALID_CONFIG.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import NginxLB, ProtocolBackends, free_ports

R = pki.CA("Stream R")
O = pki.CA("Stream O")  # noqa: E741 - the other CA
GOOD = R.leaf("localhost", names=["localhost"])
OTHER = O.leaf("localhost", names=["localhost"])

# case -> (backend chain, its protocols, it expects a PROXY header, the stream server's settings, nginx relays the
# backend's answer, the collection's verdict: "valid", an error code of the verdict or of the probe)
CASES = {
    "verified": ("good", "TLSv1.2 TLSv1.3", False, "proxy_ssl_verify on;\n        proxy_ssl_name localhost;",
                 True, "valid"),
    "ip_name": ("good", "TLSv1.2 TLSv1.3", False, "proxy_ssl_verify on;", False, "HOSTNAME_MISMATCH"),
    "unverified": ("other", "TLSv1.2 TLSv1.3", False, "", True, "valid"),
    "untrusted": ("other", "TLSv1.2 TLSv1.3", False, "proxy_ssl_verify on;\n        proxy_ssl_name localhost;\n"
                  "        proxy_ssl_verify_depth 3;", False, "UNTRUSTED_ROOT"),
    "group": ("good", "TLSv1.2 TLSv1.3", False, "proxy_ssl_verify on;", False, "HOSTNAME_MISMATCH"),
    "header": ("good", "TLSv1.2 TLSv1.3", True, "proxy_protocol on;\n        proxy_ssl_verify on;\n"
               "        proxy_ssl_name localhost;", True, "valid"),
    "no_header": ("good", "TLSv1.2 TLSv1.3", True, "proxy_ssl_verify on;\n        proxy_ssl_name localhost;",
                  False, "CONNECTION_RESET"),
    "tls13_only": ("good", "TLSv1.2", False, "proxy_ssl_protocols TLSv1.3;", False, "NO_COMMON_PROTOCOL"),
}


def _stream(ports, lb_ports, ca_file):
    out = ["    proxy_ssl_trusted_certificate %s;\n" % ca_file]
    for case, (_chain, _protocols, _pp, settings, _relays, _verdict) in CASES.items():
        target = "127.0.0.1:%d" % ports[case]
        if case == "group":
            out.append("    upstream Group_%s {\n        server %s;\n    }\n" % (case, target))
            target = "group_%s" % case  # found ignoring case, as nginx finds it
        out.append("    server {\n        listen 127.0.0.1:%d;\n        proxy_pass %s;\n        proxy_ssl on;\n"
                   "        %s\n    }\n" % (lb_ports[case], target, settings))
    return "".join(out)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    workdir = lbjudge.workdir(tmp_path_factory, "nginx-stream")
    ca_file = pki.write(workdir / "r-root.pem", R.root.pem)
    chains = {}
    for kind, ca, leaf in (("good", R, GOOD), ("other", O, OTHER)):
        chains[kind] = (pki.write(workdir / ("%s.crt" % kind), ca.chain_pem(leaf)),
                        pki.write(workdir / ("%s.key" % kind), leaf.key_pem(), 0o600))
    numbers = free_ports(2 * len(CASES))
    ports, lb_ports = dict(zip(CASES, numbers)), dict(zip(CASES, numbers[len(CASES):]))
    backends = ProtocolBackends(workdir / "backends", [
        {"name": case, "port": ports[case], "cert": chains[chain][0], "key": chains[chain][1],
         "protocols": protocols, "fqdn": "localhost", "proxy_protocol": pp}
        for case, (chain, protocols, pp, _settings, _relays, _verdict) in CASES.items()])
    lb = NginxLB(workdir / "lb", list(lb_ports.values()), "", stream=_stream(ports, lb_ports, ca_file))
    with backends, lb:
        said = {case: _relayed(lb_ports[case], case) for case in CASES}
        result = lbjudge.read({"nginx": lb})
        yield {"said": said, "result": result, "ports": ports, "workdir": workdir}


def _relayed(port, case):
    """Whether nginx relays the backend's answer to a request sent through the stream (the backend answers its own
    name); a TLS failure towards the backend closes the connection with nothing relayed."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.settimeout(15)
        sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    return data.startswith(b"HTTP/1.1 200") and data.endswith(case.encode() + b"\n")


def test_nginx_answers_as_measured(world):
    assert world["said"] == {case: spec[4] for case, spec in CASES.items()}


def test_the_collection_reads_and_agrees_with_nginx(world):
    result, ports = world["result"], world["ports"]
    by_port = {ports[case]: case for case in CASES}
    verdicts = lbjudge.judged(result)
    seen = {}
    for index, item in enumerate(result["lb_backends"]):
        case = by_port.get(item["port"], "unexpected %s" % item["server"])
        assert item["location"].startswith("stream 127.0.0.1:") and item["tls"], item
        assert item["proxy_protocol"] == ("v1" if "proxy_protocol on" in CASES[case][3] else None), item
        if item["error"] or not item["endpoint"]["ok"]:
            seen[case] = (item["error"] or item["endpoint"]["error"])["code"]
        else:
            codes = lbjudge.error_codes(verdicts[index])
            seen[case] = "valid" if verdicts[index]["valid"] else CASES[case][5] if CASES[case][5] in codes else codes
    assert seen == {case: spec[5] for case, spec in CASES.items()}
    group = [i for i in result["lb_backends"] if i["source"] == "upstream"]
    assert [(i["pool"], i["verify_name"]) for i in group] == [("group_group", "group_group")]
    for case, (_chain, _protocols, _pp, _settings, relays, verdict) in CASES.items():
        assert relays == (verdict == "valid"), case


def test_a_proxy_pass_without_a_port_is_refused(world):
    workdir = world["workdir"]
    (port,) = free_ports(1)
    lb = NginxLB(workdir / "refused", [port], "", stream="    server {\n        listen 127.0.0.1:%d;\n"
                 "        proxy_pass 127.0.0.1;\n        proxy_ssl on;\n    }\n" % port)
    lb.write_config()
    checked = subprocess.run(lb.test_command, capture_output=True, text=True, check=False)
    assert checked.returncode != 0 and "no port in upstream" in checked.stderr, checked.stderr
    result = lbjudge.read({"nginx": lb})
    (item,) = result["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "nginx refuses" in item["error"]["message"], item
