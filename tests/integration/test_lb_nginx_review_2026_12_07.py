"""nginx configurations the review of 2026-12-07 found read otherwise than the REAL nginx 1.22 reads them, each held
to nginx's own answer: a proxied request's status (200, or 502 when nginx's handshake with its backend fails), or
`nginx -t` refusing the file; the collection (lb_backend_info through the real module runner, lb_verify_items and
cert_chain_verify, profile openssl) must agree -- accepted where nginx answers, INVALID_CONFIG where it refuses:

- proxy_ssl_name naming $proxy_host as ${proxy_host} or inside a longer name ("$proxy_host:1"): static, checked;
- proxy_ssl_verify_depth above 2^31-1: nginx hands SSL_CTX_set_verify_depth(int) its low 32 bits, signed; over
  2^63-1 (or not digits: 0x2) nginx refuses the file ("invalid number");
- files nginx refuses: proxy_ssl_* inside `if`, `proxy_ssl_verify yes`, two prefix locations of one URI;
- proxy_pass https://127.0.0.1:PORT?a=b and https://pool?x=1: the host and port end at "?";
- a "$" in proxy_ssl_trusted_certificate's and proxy_ssl_crl's paths: part of the file name (no variables there);
- proxy_pass https://unix:/path:/: TLS over a unix-domain socket, UNSUPPORTED_ADDRESS (not probed, not judged).

One world of running servers (one nginx of backends, one on a unix socket, the load balancer) and one of files
`nginx -t` checks.
"""

from __future__ import annotations

import contextlib
import subprocess
import time

import pytest

from testlib import lbjudge, pki
from testlib.servers import KindBackends, Nginx, NginxLB, free_ports, http_status

ROOT = pki.issue("Review Root CA", ca=True, days=3650)
INT1 = pki.issue("Review Int 1", issuer=ROOT, ca=True, days=1825)
INT2 = pki.issue("Review Int 2", issuer=INT1, ca=True, days=1825)
TWO = pki.issue("backend.test", issuer=INT2, names=["backend.test"])  # two intermediates: needs depth 2
DIRECT = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])  # issued by the anchor: depth 0 will do
REVOKED = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])

VERIFY = "proxy_ssl_verify on; proxy_ssl_trusted_certificate {root}; "
# case -> (backend kind, the location's lines ({port}: the case's backend port; {root}, {dollar_ca}...: files
#          below), nginx's answer: 200 or 502)
CASES = {
    # 1: $proxy_host spelled otherwise: the upstream's name, "backend.test" or "pool1"
    "name_braces_pool": ("direct", "proxy_pass https://pool1/; " + VERIFY + "proxy_ssl_name ${{proxy_host}};", 502),
    "name_braces": ("direct", "proxy_pass https://backend.test/; " + VERIFY + "proxy_ssl_name ${{proxy_host}};", 200),
    "name_port": ("direct", "proxy_pass https://backend.test/; " + VERIFY + "proxy_ssl_name $proxy_host:1;", 200),
    "name_prefix": ("direct", "proxy_pass https://backend.test/; " + VERIFY + "proxy_ssl_name x$proxy_host;", 502),
    "name_case": ("direct", "proxy_pass https://backend.test/; " + VERIFY + "proxy_ssl_name ${{Proxy_Host}}:1;", 200),
    # 2: depths past an int (TWO needs 2, DIRECT 0)
    "depth_int_max": ("two", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name backend.test; "
                      "proxy_ssl_verify_depth 2147483647;", 200),
    "depth_int_min": ("direct", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name backend.test; "
                      "proxy_ssl_verify_depth 2147483648;", 502),
    "depth_minus_one": ("two", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name backend.test; "
                        "proxy_ssl_verify_depth 4294967295;", 200),
    "depth_zero_direct": ("direct", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name backend.test;"
                          " proxy_ssl_verify_depth 4294967296;", 200),
    "depth_zero_two": ("two", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name backend.test; "
                       "proxy_ssl_verify_depth 4294967296;", 502),
    "depth_one_two": ("two", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name backend.test; "
                      "proxy_ssl_verify_depth 4294967297;", 502),
    # 4: a query after host:port (the backend answers the request line "GET ?a=b" 400: nginx reached it)
    "query": ("direct", "proxy_pass https://127.0.0.1:{port}?a=b; " + VERIFY + "proxy_ssl_name backend.test;", 400),
    "query_pool": ("direct", "proxy_pass https://qpool?x=1; " + VERIFY + "proxy_ssl_name backend.test;", 400),
    # 5: "$" in the CA's and the CRL's file names
    "dollar_ca": ("direct", "proxy_pass https://127.0.0.1:{port}/; proxy_ssl_verify on; "
                  "proxy_ssl_trusted_certificate {dollar_ca}; proxy_ssl_name backend.test;", 200),
    "dollar_crl": ("direct", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name backend.test; "
                   "proxy_ssl_crl {dollar_crl};", 200),
    "dollar_crl_revoked": ("revoked", "proxy_pass https://127.0.0.1:{port}/; " + VERIFY + "proxy_ssl_name "
                           "backend.test; proxy_ssl_crl {dollar_crl};", 502),
}
# upstream name -> the case whose backend port it holds
UPSTREAMS = {"pool1": "name_braces_pool", "backend.test": "name_braces", "qpool": "query_pool"}

# files nginx refuses (case -> (a server's lines, "nginx -t" refuses it)); {port}: a backend port (none runs)
FILES = {
    "ssl_in_if": ("location /{i}/ {{ if ($arg_a) {{ proxy_ssl_verify on; }} proxy_pass https://127.0.0.1:{port}/; }}",
                  True),
    "ssl_in_server_if": ("if ($arg_a) {{ proxy_ssl_name a.test; }} "
                         "location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }}", True),
    "ssl_in_limit_except": ("location /{i}/ {{ limit_except GET {{ proxy_ssl_verify off; }} "
                            "proxy_pass https://127.0.0.1:{port}/; }}", True),
    "flag_yes": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; proxy_ssl_verify yes; }}", True),
    "flag_upper": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; proxy_ssl_verify OFF; }}", False),
    "dup_location": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }} location /{i}/ {{ return 200; }}",
                     True),
    "dup_location_noregex": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }} "
                             "location ^~ /{i}/ {{ return 200; }}", True),
    "dup_nested": ("location /{i}/ {{ location /{i}/a/ {{ proxy_pass https://127.0.0.1:{port}/; }} "
                   "location /{i}/a/ {{ return 200; }} }}", True),
    "dup_exact": ("location = /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }} location =/{i}/ {{ return 200; }}",
                  True),
    "regex_twice": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }} location ~ /x/ {{ return 200; }} "
                    "location ~ /x/ {{ return 201; }}", False),
    "named_twice": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }} location @x {{ return 200; }} "
                    "location @x {{ return 201; }}", False),
    "other_case": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }} location /{i}/A/ {{ return 200; }} "
                   "location /{i}/a/ {{ return 201; }}", False),
    "exact_and_prefix": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; }} "
                         "location = /{i}/ {{ return 200; }}", False),
    "depth_hex": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; proxy_ssl_verify_depth 0x2; }}", True),
    "depth_overflow": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; "
                       "proxy_ssl_verify_depth 9223372036854775808; }}", True),
    "depth_huge": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; "
                   "proxy_ssl_verify_depth 9999999999999999999999; }}", True),
    "depth_ngx_int_max": ("location /{i}/ {{ proxy_pass https://127.0.0.1:{port}/; "
                          "proxy_ssl_verify_depth 9223372036854775807; }}", False),
}


class UnixBackend(Nginx):
    """One TLS site on a unix-domain socket, serving cert/key."""

    def __init__(self, workdir, socket, cert, key):
        super().__init__(workdir, [])
        self.socket, self.cert, self.key = socket, cert, key

    def write_config(self):
        self.write_main("    server { listen unix:%s ssl; ssl_certificate %s; ssl_certificate_key %s;\n"
                        "             return 200 \"unix\\n\"; }\n" % (self.socket, self.cert, self.key))

    def start(self):
        super().start()
        for _attempt in range(200):
            if self.socket.exists():
                return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """{case: (nginx's status, the collection's item, its verdict)} for CASES and the unix socket."""
    base = lbjudge.workdir(tmp_path_factory, "nginx-review")
    files = {"root": pki.write(base / "root.pem", ROOT.pem), "dollar_ca": pki.write(base / "ca$x.pem", ROOT.pem),
             "dollar_crl": pki.write(base / "crl$x.pem", pki.crl_pem(pki.crl(ROOT, [REVOKED])))}
    served = {}
    for kind, leaf, chain in (("two", TWO, INT2.pem + INT1.pem), ("direct", DIRECT, ""), ("revoked", REVOKED, "")):
        served[kind] = (pki.write(base / ("%s.crt" % kind), leaf.pem + chain),
                        pki.write(base / ("%s.key" % kind), leaf.key_pem(), 0o600))
    *case_ports, lb_port = free_ports(len(CASES) + 1)
    ports = dict(zip(CASES, case_ports))
    kind_ports = {}
    for case, (kind, _lines, _status) in CASES.items():
        kind_ports.setdefault(kind, []).append(ports[case])
    socket = base / "be.sock"
    body = "".join("    upstream %s { server 127.0.0.1:%d; }\n" % (name, ports[case])
                   for name, case in UPSTREAMS.items())
    body += "    server {\n        listen 127.0.0.1:%d;\n" % lb_port
    body += "".join("        location /%s/ { %s }\n" % (case, lines.format(port=ports[case], **files))
                    for case, (_kind, lines, _status) in CASES.items())
    body += ("        location /unix/ { proxy_pass https://unix:%s:/; proxy_ssl_verify on; "
             "proxy_ssl_trusted_certificate %s; proxy_ssl_name backend.test; }\n    }\n" % (socket, files["root"]))
    nginx = NginxLB(base / "lb", lb_port, body)
    with contextlib.ExitStack() as running:
        running.enter_context(KindBackends(base / "be", kind_ports, served))
        running.enter_context(UnixBackend(base / "unix", socket, *served["direct"]))
        running.enter_context(nginx)
        said = {case: http_status("http://127.0.0.1:%d/%s/" % (lb_port, case)) for case in list(CASES) + ["unix"]}
        view = lbjudge.read({"nginx": nginx})
        verdicts = lbjudge.judged(view)
    out = {}
    for index, item in enumerate(view["lb_backends"]):
        case = item["location"].split()[-1].strip("/")
        assert case not in out, item
        out[case] = (said[case], item, verdicts.get(index))
    assert sorted(out) == sorted(said), view["lb_backends"]
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_the_collection_agrees_with_nginx_s_answer(world, case):
    status, item, verdict = world[case]
    assert status == CASES[case][2], (case, status)  # nginx's own answer, as measured
    reached = status != 502  # (400: the backend's answer to a request line of a query only)
    assert lbjudge.accepted(item, verdict) == reached, (case, item, verdict)


def test_the_depth_reported_is_the_int_nginx_hands_openssl(world):
    depths = {case: world[case][1]["verify_depth"] for case in CASES if case.startswith("depth_")}
    assert depths == {"depth_int_max": 2147483647, "depth_int_min": -1, "depth_minus_one": 100,
                      "depth_zero_direct": 0, "depth_zero_two": 0, "depth_one_two": 1}


def test_proxy_host_spelled_otherwise_is_the_name_checked(world):
    names = {case: world[case][1]["verify_name"] for case in CASES if case.startswith("name_")}
    assert names == {"name_braces_pool": "pool1", "name_braces": "backend.test", "name_port": "backend.test",
                     "name_prefix": "xbackend.test", "name_case": "backend.test"}


def test_a_unix_socket_backend_is_unsupported_not_a_host_named_unix(world):
    status, item, verdict = world["unix"]
    assert status == 200  # nginx reaches it
    assert item["error"]["code"] == "UNSUPPORTED_ADDRESS", item
    assert item["endpoint"] is None and verdict is None, (item, verdict)


def test_files_nginx_refuses_are_invalid_config(tmp_path):
    listen, backend_port = free_ports(2)
    servers = {}
    for index, (case, (lines, refused)) in enumerate(FILES.items()):
        servers[case] = ("    server {\n        listen 127.0.0.1:%d;\n        server_name s%d.test;\n        %s\n"
                         "    }\n" % (listen, index, lines.format(i=index, port=backend_port)))
        alone = NginxLB(tmp_path / case, listen, servers[case])
        alone.write_config()
        checked = subprocess.run(alone.test_command, capture_output=True, text=True, check=False)
        assert (checked.returncode != 0) == refused, (case, checked.stderr)
    # the collection, every case in one file (nginx -T refuses it: read from the files)
    together = NginxLB(tmp_path / "together", listen, "".join(servers.values()))
    together.write_config()
    items = {item["location"].split()[-1].strip("/").split("/")[0]: item  # (a nested location: /7/a/)
             for item in lbjudge.read({"nginx": together})["lb_backends"]}
    assert len(items) == len(FILES), items
    for index, (case, (_lines, refused)) in enumerate(FILES.items()):
        item = items[str(index)]
        if refused:
            assert item["error"]["code"] == "INVALID_CONFIG", (case, item)
            assert "nginx refuses" in item["error"]["message"], (case, item)
        else:
            assert item["error"] is None, (case, item)
