"""What an nginx 1.22 load balancer offers and checks in its handshake with a backend, against the REAL nginx: each
location's proxied request (200 when nginx's handshake with its backend succeeds, 502 when it fails) is asserted,
and the collection's reading -- lb_backend_info (the real module runner) probes each backend as nginx connects to
it, lb_verify_items and cert_chain_verify judge it -- must agree. Found by a differential fuzz of the nginx view
(2026-12-06), each a verdict that was healthy while nginx failed, or the reverse:

- proxy_ssl_protocols with a hole: OpenSSL's client offers the LOWEST run of enabled versions only ("TLSv1 TLSv1.2
  TLSv1.3" is TLS 1.0 alone, which OpenSSL 3 refuses); its words ignoring case (`tlsv1.3`); a word nginx refuses;
- proxy_ssl_conf_command MinProtocol, MaxProtocol, Protocol and CipherString, which nginx applies over
  proxy_ssl_protocols and proxy_ssl_ciphers; another command (Groups) is not judged (UNSUPPORTED_SETTING);
- a quoted proxy_ssl_name with a space, which X509_check_host compares as written;
- a CA file or CRL file that cannot be read where nginx does not verify (nginx never loads them there);
- a CA file of "TRUSTED CERTIFICATE"s whose trust settings refuse serverAuth, or trust clientAuth only;
- a proxy_pass with variables naming a host: without `resolver` every request fails, unless another proxy_pass
  without variables made an upstream of that host and port at start;
- a security level in proxy_ssl_ciphers (`DEFAULT:@SECLEVEL=0`, the usual way to reach a legacy backend), which
  decides the key sizes and signature hashes nginx's OpenSSL accepts in the chain.

One nginx serves the backends, one site per location on its own port (no session is shared between cases), each
with its own protocols; one root CA R signs every leaf.
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import NginxLB, ProtocolBackends, _run, free_ports, http_status

ROOT = pki.issue("Handshake Root CA", ca=True, days=3650)
LEAF = pki.issue("backend.test", issuer=ROOT, names=["backend.test", "localhost"])
# case -> (the backend's ssl_protocols, the location's own lines (after proxy_pass; {port} is the backend's port),
#          nginx's answer: accepted?); {root} and the like: the files below
VERIFY = "proxy_ssl_verify on; proxy_ssl_trusted_certificate {root}; proxy_ssl_name backend.test;"
CASES = {
    "control": ("TLSv1.2 TLSv1.3", VERIFY, True),
    "hole": ("TLSv1.2 TLSv1.3", "proxy_ssl_protocols TLSv1 TLSv1.2 TLSv1.3;", False),
    "hole_high": ("TLSv1.2 TLSv1.3", "proxy_ssl_protocols TLSv1.1 TLSv1.3;", False),
    "lower_case": ("TLSv1.3", "proxy_ssl_protocols TLSv1.2 tlsv1.3;", True),
    "lower_case_refused": ("TLSv1.2", "proxy_ssl_protocols tlsv1.3;", False),
    "min13": ("TLSv1.2 TLSv1.3", "proxy_ssl_conf_command MinProtocol TLSv1.3;", False),
    "min13_range": ("TLSv1.2", "proxy_ssl_protocols TLSv1.2 TLSv1.3; proxy_ssl_conf_command MinProtocol TLSv1.3;",
                    False),
    "max12": ("TLSv1.3", "proxy_ssl_protocols TLSv1.2 TLSv1.3; proxy_ssl_conf_command MaxProtocol TLSv1.2;", False),
    "protocol_minus": ("TLSv1.3", "proxy_ssl_protocols TLSv1.2 TLSv1.3; proxy_ssl_conf_command Protocol -TLSv1.3;",
                       False),
    "protocol_ok": ("TLSv1.3", "proxy_ssl_protocols TLSv1.2; proxy_ssl_conf_command Protocol +TLSv1.3;", True),
    "cipherstring": ("TLSv1.2", "proxy_ssl_conf_command CipherString AES128-SHA;", False),
    "groups": ("TLSv1.2 TLSv1.3", "proxy_ssl_protocols TLSv1.2 TLSv1.3; proxy_ssl_conf_command Groups X25519;", True),
    "name_space": ("TLSv1.2 TLSv1.3", VERIFY.replace("proxy_ssl_name backend.test", 'proxy_ssl_name "backend.test "'),
                   False),
    "unverified_files": ("TLSv1.2 TLSv1.3", "proxy_ssl_trusted_certificate {missing}; proxy_ssl_crl {garbage};",
                         True),
    "trust_rejected": ("TLSv1.2 TLSv1.3", VERIFY.replace("{root}", "{rejected}"), False),
    "trust_client_only": ("TLSv1.2 TLSv1.3", VERIFY.replace("{root}", "{client_only}"), False),
    "trust_plain": ("TLSv1.2 TLSv1.3", VERIFY.replace("{root}", "{trustout}"), True),
    "var_name": ("TLSv1.2 TLSv1.3", None, False),  # https://localhost:{port}$request_uri, no resolver
    "var_ip": ("TLSv1.2 TLSv1.3", None, True),  # https://127.0.0.1:{port}$request_uri
    "var_implicit": ("TLSv1.2 TLSv1.3", None, True),  # as var_name, with a plain proxy_pass to the same host:port
}
# not judged by the collection: nginx's answer is asserted, the collection's entry says why it does not judge it
NOT_JUDGED = {"groups": "UNSUPPORTED_SETTING"}
# the security level a cipher string sets (@SECLEVEL) decides which keys and signatures nginx's OpenSSL accepts in
# the chain it verifies: case -> (the backend's leaf, the location's lines, nginx's answer: accepted?)
LEGACY = {
    "sha1_level0": ("sha1", VERIFY + " proxy_ssl_ciphers DEFAULT:@SECLEVEL=0;", True),
    "sha1_default": ("sha1", VERIFY, False),
    "rsa1024_level1": ("rsa1024", VERIFY + " proxy_ssl_ciphers DEFAULT:@SECLEVEL=1;", True),
    "rsa1024_default": ("rsa1024", VERIFY, False),
    "rsa2048_level3": ("rsa2048", VERIFY + " proxy_ssl_ciphers DEFAULT:@SECLEVEL=3;", False),
    # a later cipher string that names no level keeps the one set before (OpenSSL changes it only when told)
    "rsa1024_level_kept": ("rsa1024", VERIFY + ' proxy_ssl_ciphers "DEFAULT:@SECLEVEL=0";'
                           " proxy_ssl_conf_command CipherString DEFAULT;", True),
}


ALL = list(CASES) + list(LEGACY)
ACCEPTED = dict({case: v[2] for case, v in CASES.items()}, **{case: v[2] for case, v in LEGACY.items()})


def _location(case, port, files):
    _protocols, lines, _accepted = CASES[case]
    if case == "var_name":
        return "location /var_name/ { proxy_pass https://localhost:%d$request_uri; }\n" % port
    if case == "var_ip":
        return "location /var_ip/ { proxy_pass https://127.0.0.1:%d$request_uri; }\n" % port
    if case == "var_implicit":
        return ("location /var_implicit/ { proxy_pass https://localhost:%d$request_uri; }\n"
                "        location /var_implicit_plain/ { proxy_pass https://localhost:%d/; }\n" % (port, port))
    return "location /%s/ { proxy_pass https://127.0.0.1:%d/; %s }\n" % (
        case, port, lines.format(**{k: str(v) for k, v in files.items()}))


def _openssl_trusted(root_pem, workdir, *flags):
    """R as an OpenSSL "TRUSTED CERTIFICATE" with these trust settings (`openssl x509 -trustout ...`)."""
    source = pki.write(workdir / "root-for-trust.pem", root_pem)
    return subprocess.run(["openssl", "x509", "-in", str(source), "-trustout", *flags], check=True,
                          capture_output=True, text=True).stdout


def _legacy_backends(base, ports):
    """An nginx serving a SHA-1-signed leaf, a 1024-bit RSA one and a 2048-bit RSA one (each on its cases' ports),
    at security level 0 so that it loads them."""
    (base / "sha1").mkdir()
    leaves = {"sha1": pki.issue_sha1("backend.test", issuer=ROOT, workdir=base / "sha1"),
              "rsa1024": pki.issue("backend.test", issuer=ROOT, key=pki.new_key("rsa", 1024)),
              "rsa2048": pki.issue("backend.test", issuer=ROOT, key=pki.new_key("rsa", 2048))}
    servers = ""
    for case, port in ports.items():
        leaf = leaves[LEGACY[case][0]]
        cert = pki.write(base / ("legacy-%s.crt" % case), leaf.pem)
        key = pki.write(base / ("legacy-%s.key" % case), leaf.key_pem(), 0o600)
        servers += ("    server {\n        listen 127.0.0.1:%d ssl;\n        ssl_ciphers DEFAULT:@SECLEVEL=0;\n"
                    "        ssl_certificate %s;\n        ssl_certificate_key %s;\n        return 200;\n    }\n"
                    % (port, cert, key))
    return NginxLB(base / "legacy", list(ports.values()), servers)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "nginx-handshake")
    cert = pki.write(base / "leaf.crt", LEAF.pem)
    key = pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    files = {"root": pki.write(base / "R.pem", ROOT.pem), "missing": base / "no-such-ca.pem",
             "garbage": pki.write(base / "garbage.crl", "not a CRL\n"),
             "rejected": pki.write(base / "R-rejected.pem",
                                   _openssl_trusted(ROOT.pem, base, "-addreject", "serverAuth")),
             "client_only": pki.write(base / "R-client.pem",
                                      _openssl_trusted(ROOT.pem, base, "-addtrust", "clientAuth")),
             "trustout": pki.write(base / "R-trustout.pem", _openssl_trusted(ROOT.pem, base))}
    assert "TRUSTED CERTIFICATE" in open(files["rejected"]).read()
    picked = free_ports(len(CASES) + len(LEGACY) + 1)
    ports = dict(zip(list(CASES) + list(LEGACY), picked))
    lb_port = picked[-1]
    sites = [{"name": case, "port": ports[case], "cert": cert, "key": key, "protocols": CASES[case][0]}
             for case in CASES]
    body = "    server {\n        listen 127.0.0.1:%d;\n%s%s    }\n" % (lb_port, "".join(
        "        " + _location(case, ports[case], files) for case in CASES), "".join(
        "        location /%s/ { proxy_pass https://127.0.0.1:%d/; %s }\n" % (
            case, ports[case], LEGACY[case][1].format(root=files["root"])) for case in LEGACY))
    nginx = NginxLB(base / "lb", lb_port, body)
    nginx.write_config()
    _run(nginx.test_command)  # nginx accepts every case's file
    legacy = _legacy_backends(base, {case: ports[case] for case in LEGACY})
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (ProtocolBackends(base / "backends", sites), legacy, nginx):
            running.enter_context(server)
        yield {"nginx": nginx, "lb_port": lb_port, "ports": ports, "base": base}


@pytest.fixture(scope="module")
def said(world):
    """{case: proxied status}: nginx's own answer, each location asked once, in the file's order."""
    return {case: http_status("http://127.0.0.1:%d/%s/" % (world["lb_port"], case)) for case in ALL}


@pytest.fixture(scope="module")
def collection(world):
    """{case: (accepted, item, verdict)}: the backend reached, its item free of errors and its chain valid."""
    view = lbjudge.read({"nginx": world["nginx"]})
    verdicts = lbjudge.judged(view)
    out = {}
    for index, item in enumerate(view["lb_backends"]):
        case = item["location"].split()[-1].strip("/")
        if case == "var_implicit_plain":
            continue
        assert case not in out, ("one item per case", case)
        verdict = verdicts.get(index)
        out[case] = (lbjudge.accepted(item, verdict), item, verdict)
    return out


def test_nginx_answers_as_measured(said):
    assert {case: status == 200 for case, status in said.items()} == ACCEPTED, said
    assert set(said.values()) <= {200, 502}, said


def test_the_collection_agrees_with_nginx(said, collection):
    assert set(collection) == set(ALL)
    disagree = {case: (said[case], collection[case][0], collection[case][1]["error"],
                       collection[case][2] and lbjudge.error_codes(collection[case][2]),
                       (collection[case][1]["endpoint"] or {}).get("error"))
                for case in ALL if case not in NOT_JUDGED and (said[case] == 200) != collection[case][0]}
    assert not disagree, disagree


def test_each_refusal_is_named(collection):
    def codes(case):
        _accepted, item, verdict = collection[case]
        return ((item["error"] or {}).get("code"), ((item["endpoint"] or {}).get("error") or {}).get("code"),
                verdict and lbjudge.error_codes(verdict))

    for case in ("hole", "hole_high", "lower_case_refused", "min13_range", "max12", "protocol_minus"):
        assert codes(case)[:2] == (None, "NO_COMMON_PROTOCOL"), (case, codes(case))
    assert codes("cipherstring")[:2] == (None, "NO_COMMON_CIPHER")
    assert codes("min13")[0] == "INVALID_CONFIG"  # no TLS version left at all
    assert codes("name_space")[2] == ["HOSTNAME_MISMATCH"]
    for case in ("trust_rejected", "trust_client_only"):  # R is there, and OpenSSL takes it as no anchor
        item = collection[case][1]
        assert item["error"]["code"] == "NOT_A_CERTIFICATE" and "trust settings" in item["error"]["message"], item
    assert codes("var_name")[0] == "INVALID_CONFIG"
    assert codes("sha1_default")[2] == ["WEAK_SIGNATURE"] and codes("rsa1024_default")[2] == ["WEAK_KEY"]
    assert codes("rsa2048_level3")[2] == ["WEAK_KEY"]
    assert {case: collection[case][1]["verify_options"]["security_level"] for case in LEGACY} == {
        "sha1_level0": 0, "sha1_default": None, "rsa1024_level1": 1, "rsa1024_default": None, "rsa2048_level3": 3,
        "rsa1024_level_kept": 0}
    for case, code in NOT_JUDGED.items():
        assert codes(case)[0] == code
    # what nginx offers, as read
    item = collection["hole"][1]
    assert (item["min_version"], item["max_version"]) == ("TLSv1", "TLSv1")
    assert (collection["lower_case"][1]["min_version"], collection["lower_case"][1]["max_version"]) == (
        "TLSv1.2", "TLSv1.3")
    assert collection["cipherstring"][1]["ciphers"] == "AES128-SHA"
    # where nginx does not verify, its unreadable CA and CRL files are reported and fail nothing
    item = collection["unverified_files"][1]
    assert item["verify"] is False and item["error"] is None and item["ca_file"].endswith("no-such-ca.pem")


@pytest.mark.parametrize("line,refused", [
    ("proxy_ssl_protocols TLSv1.4;", True),
    ('proxy_ssl_conf_command Protocol "-TLSv1.3 -TLSv1.2";', True),  # OpenSSL's list is separated by commas
    ('proxy_ssl_conf_command Protocol "-TLSv1.3,";', True),  # an empty name
    ("proxy_ssl_ciphers DEFAULT:@SECLEVEL=6;", True),  # levels are 0 to 5
    ("proxy_ssl_ciphers DEFAULT:@seclevel=1;", True),
    ('proxy_ssl_conf_command Protocol "-TLSv1.1, -TLSv1";', False),
    ("proxy_ssl_conf_command MinProtocol DTLSv1.2;", False),  # a DTLS bound a TLS context ignores
])
def test_a_setting_nginx_refuses_is_invalid_config(tmp_path, line, refused):
    """What `nginx -t` refuses is INVALID_CONFIG, and what it accepts is no error of the entry's."""
    lb = NginxLB(tmp_path / "lb", free_ports(1)[0],
                 "    server {\n        listen 127.0.0.1:1;\n"
                 "        location / { proxy_pass https://127.0.0.1:9/; %s }\n    }\n" % line)
    lb.write_config()
    assert (subprocess.run(lb.test_command, check=False, capture_output=True).returncode != 0) is refused
    (item,) = lbjudge.read({"nginx": lb})["lb_backends"]
    assert ((item["error"] or {}).get("code") == "INVALID_CONFIG") is refused, item["error"]
