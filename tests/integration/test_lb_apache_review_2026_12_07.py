"""Apache as a TLS-verifying reverse proxy: what the review of 2026-12-07 found the Apache reader got wrong, each case
held to the REAL Apache's answer (a proxied request's status, the backends it connects to, or `apache2 -t` refusing
the file) and to the collection's verdict on the same backend.

- `UnDefine` forgets a variable: a later `${DEPTH}` stays as written (AH00111) and SSLProxyVerifyDepth reads it as 0.
- `Include dir/` and `Include dir/*` read subdirectories too, each in its place.
- TLS over a unix-domain socket (`unix:/path|https://localhost/`) is listed, UNSUPPORTED_ADDRESS, not judged.
- A balancer defined in pieces (two `<Proxy balancer://p1>` sections, a two-argument BalancerMember) has every member.
- A ProxyPass after an exclusion (`ProxyPass /p/ !`) or after another of the same path takes no request: disabled.
- `ProxyPreserveHost On` in `<Location /a/>` (or `<Directory>`) does not apply to a ProxyPass elsewhere.
- A VirtualHost's `<Proxy balancer://pool>` loses to the main server's of the same name.
- Files Apache refuses to start with are INVALID_CONFIG: SSLProxy* inside `<Location>` / `<Files>`, ProxyPass inside
  `<Directory>` / `<Files>`, `Include` of a file that is not there or of a wildcard that matches nothing.
"""

from __future__ import annotations

import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, KindBackends, free_ports, http_status

R = pki.issue("Review 12-07 R Root", ca=True, days=3650)
O = pki.issue("Review 12-07 O Root", ca=True, days=3650)  # noqa: E741 - the other CA, as the review named it
LEAVES = {
    "good": pki.issue("localhost", issuer=R, names=["localhost"]),
    "other": pki.issue("localhost", issuer=O, names=["localhost"]),
    "wrong": pki.issue("wrong.test", issuer=R, names=["wrong.test"]),
}
# case -> the kind of chain its backend serves (R trusted everywhere, O only where a section says so)
CASES = {"undef": "good", "incdir": "other", "incglob": "other", "p1_first": "good", "p1_second": "other",
         "p2_first": "good", "p2_second": "other", "excl": "other", "shadow_first": "good", "shadow": "other",
         "pa": "good", "pb": "wrong", "main_member": "other", "vhost_member": "good"}
BALANCER_GETS = ("/p1/a", "/p1/b", "/p1/c", "/p1/d", "/p2/a", "/p2/b", "/p2/c", "/p2/d", "/pool/a", "/pool/b")


class SocketBackends(KindBackends):
    """KindBackends whose kinds also listen (TLS) on a unix-domain socket each (sockets[kind])."""

    def __init__(self, workdir, kind_ports, files, sockets):
        super().__init__(workdir, kind_ports, files)
        self.sockets = sockets

    def write_config(self):
        self.write_main("".join(
            "    server {\n%s%s        ssl_certificate %s;\n        ssl_certificate_key %s;\n"
            "        location / { return 200 \"%s\\n\"; }\n    }\n" % (
                "".join("        listen 127.0.0.1:%d ssl;\n" % p for p in ports),
                "        listen unix:%s ssl;\n" % self.sockets[kind] if kind in self.sockets else "",
                self.files[kind][0], self.files[kind][1], kind)
            for kind, ports in self.kind_ports.items()))


def _body(ports, files, lb_port):
    workdir = files["dir"]
    for sub in ("conf.d/sub", "conf.d2/sub/deeper"):
        (workdir / sub).mkdir(parents=True)
    (workdir / "conf.d" / "00-proxy.conf").write_text("ProxyPass /incdir/ https://localhost:%d/\n" % ports["incdir"])
    # only in a subdirectory: the section that trusts O for these backends
    (workdir / "conf.d" / "sub" / "trust.conf").write_text(
        "<Proxy https://localhost:%d/>\n    SSLProxyCACertificateFile %s\n</Proxy>\n" % (ports["incdir"], files["O"]))
    (workdir / "conf.d2" / "sub" / "deeper" / "trust.conf").write_text(
        "ProxyPass /incglob/ https://localhost:%d/\n<Proxy https://localhost:%d/>\n"
        "    SSLProxyCACertificateFile %s\n</Proxy>\n" % (ports["incglob"], ports["incglob"], files["O"]))
    return """SSLProxyEngine on
SSLProxyVerify require
SSLProxyCACertificateFile %(R)s
Define DEPTH 5
UnDefine DEPTH
<Proxy https://localhost:%(undef)d/>
    SSLProxyVerifyDepth ${DEPTH}
</Proxy>
ProxyPass /undef/ https://localhost:%(undef)d/
Include %(dir)s/conf.d/
Include %(dir)s/conf.d2/*
ProxyPass /sock/ unix:%(sock)s|https://localhost/
<Proxy balancer://p1>
    BalancerMember https://localhost:%(p1_first)d/
</Proxy>
<Proxy balancer://p1>
    BalancerMember https://localhost:%(p1_second)d/
</Proxy>
ProxyPass /p1/ balancer://p1/
BalancerMember balancer://p2 https://localhost:%(p2_first)d/
<Proxy balancer://p2>
    BalancerMember https://localhost:%(p2_second)d/
</Proxy>
ProxyPass /p2/ balancer://p2/
ProxyPass /excl/ !
ProxyPass /excl/ https://localhost:%(excl)d/
ProxyPass /shadow/ https://localhost:%(shadow_first)d/
ProxyPass /shadow/ https://localhost:%(shadow)d/
<Location /pa/>
    ProxyPreserveHost On
    ProxyPass https://localhost:%(pa)d/
</Location>
<Directory /srv/www>
    ProxyPreserveHost On
</Directory>
ProxyPass /pb/ https://localhost:%(pb)d/
<Proxy balancer://pool>
    BalancerMember https://localhost:%(main_member)d/
</Proxy>
<VirtualHost 127.0.0.1:%(lb)d>
    <Proxy balancer://pool>
        BalancerMember https://localhost:%(vhost_member)d/
    </Proxy>
    ProxyPass /pool/ balancer://pool/
</VirtualHost>
""" % dict(ports, lb=lb_port, **files)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    workdir = lbjudge.workdir(tmp_path_factory, "apache-review-1207")
    workdir.chmod(0o755)
    files = {"dir": workdir, "R": pki.write(workdir / "r.pem", R.pem), "O": pki.write(workdir / "o.pem", O.pem),
             "sock": str(workdir / "other.sock")}
    chains = {kind: (pki.write(workdir / (kind + ".crt"), leaf.pem),
                     pki.write(workdir / (kind + ".key"), leaf.key_pem(), 0o600)) for kind, leaf in LEAVES.items()}
    numbers = free_ports(len(CASES) + 1)
    ports, lb_port = dict(zip(CASES, numbers)), numbers[-1]
    kind_ports = {}
    for case, kind in CASES.items():
        kind_ports.setdefault(kind, []).append(ports[case])
    backends = SocketBackends(workdir / "backends", kind_ports, chains, {"other": files["sock"]})
    lb = ApacheLB(workdir / "apache", [lb_port], _body(ports, files, lb_port))
    with backends, lb:
        said = {path: http_status("http://127.0.0.1:%d%s" % (lb_port, path))
                for path in ["/%s/" % case for case in CASES] + ["/sock/"] + list(BALANCER_GETS)}
        result = lbjudge.read({"apache": lb})
    log = (lb.dir / "error.log").read_text()
    connected = {case for case, port in ports.items() if "[remote 127.0.0.1:%d]" % port in log}
    by_port = {port: case for case, port in ports.items()}
    verdicts = lbjudge.judged(result)
    seen = {}  # case -> what the collection says of its one entry
    for index, item in enumerate(result["lb_backends"]):
        case = "sock" if (item["server"] or "").startswith("unix:") else by_port.get(item["port"])
        if item["disabled"]:
            said_of = "disabled"
        elif item["error"]:
            said_of = item["error"]["code"]
        elif not item["endpoint"]["ok"]:
            said_of = item["endpoint"]["error"]["code"]
        else:
            said_of = "valid" if verdicts[index]["valid"] else lbjudge.error_codes(verdicts[index])
        assert case not in seen, (case, item)
        seen[case] = said_of
        if case == "sock":
            assert index not in verdicts, "an UNSUPPORTED_ADDRESS entry is not judged"
    yield {"said": said, "seen": seen, "connected": connected, "result": result, "workdir": workdir,
           "ports": ports}


def test_undefine_leaves_the_variable_as_written(world):
    # ${DEPTH} after UnDefine stays literal: atoi reads 0, and a leaf its CA file does not hold fails
    assert world["said"]["/undef/"] == 500
    assert world["seen"]["undef"] == ["CHAIN_TOO_LONG"]


def test_include_reads_subdirectories(world):
    assert world["said"]["/incdir/"] == 200 and world["seen"]["incdir"] == "valid"
    assert world["said"]["/incglob/"] == 200 and world["seen"]["incglob"] == "valid"


def test_tls_over_a_unix_socket_is_listed_unjudged(world):
    assert world["said"]["/sock/"] != 200  # Apache does not trust O there: the entry must not look judged valid
    assert world["seen"]["sock"] == "UNSUPPORTED_ADDRESS"


def test_a_balancer_in_pieces_has_every_member(world):
    for pool in ("p1", "p2"):
        statuses = {world["said"][path] for path in BALANCER_GETS if path.startswith("/%s/" % pool)}
        assert 500 in statuses and 200 in statuses, (pool, statuses)  # Apache uses both members
        assert {pool + "_first", pool + "_second"} <= world["connected"]
        assert world["seen"][pool + "_first"] == "valid"
        assert world["seen"][pool + "_second"] == ["UNTRUSTED_ROOT"]


def test_unused_proxypass_lines_are_disabled(world):
    assert world["said"]["/excl/"] == 404 and "excl" not in world["connected"]
    assert world["said"]["/shadow/"] == 200 and "shadow" not in world["connected"]
    assert world["seen"]["excl"] == "disabled" and world["seen"]["shadow"] == "disabled"
    assert world["seen"]["shadow_first"] == "valid"


def test_preservehost_in_a_location_stays_there(world):
    assert world["said"]["/pb/"] == 500 and world["seen"]["pb"] == ["HOSTNAME_MISMATCH"]
    (pa,) = [i for i in world["result"]["lb_backends"] if i["port"] == world["ports"]["pa"]]
    assert isinstance(pa["verify_name"], dict), pa  # the request's Host header, there only


def test_the_main_servers_balancer_wins(world):
    assert {world["said"]["/pool/a"], world["said"]["/pool/b"]} == {500}
    assert "main_member" in world["connected"] and "vhost_member" not in world["connected"]
    assert world["seen"]["main_member"] == ["UNTRUSTED_ROOT"] and "vhost_member" not in world["seen"]


REFUSED = {
    "verify_in_location": "<Location /a/>\n    SSLProxyVerify require\n    ProxyPass https://localhost:{port}/\n"
                          "</Location>\n",
    "engine_in_location": "<Location /a/>\n    SSLProxyEngine on\n    ProxyPass https://localhost:{port}/\n"
                          "</Location>\n",
    "peername_in_files": "<Files x>\n    SSLProxyCheckPeerName on\n</Files>\nProxyPass /a/ https://localhost:{port}/\n",
    "pass_in_directory": "<Directory /srv>\n    ProxyPass /a/ https://localhost:{port}/\n</Directory>\n",
    "pass_in_files": "<Files x>\n    ProxyPass /a/ https://localhost:{port}/\n</Files>\n",
    "include_missing": "Include {dir}/missing.conf\nProxyPass /a/ https://localhost:{port}/\n",
    "include_no_match": "Include {dir}/*.none\nProxyPass /a/ https://localhost:{port}/\n",
}
# ... and what Apache takes
TAKEN = ("IncludeOptional {dir}/*.none\nIncludeOptional {dir}/missing.conf\nInclude {dir}/empty/\n"
         "<Files x>\n    ProxyPreserveHost On\n</Files>\nProxyPass /a/ https://localhost:{port}/\n")


def _checked(world, name, body):
    workdir = world["workdir"] / name
    (workdir / "empty").mkdir(parents=True)
    lb = ApacheLB(workdir / "apache", [free_ports(1)[0]], "SSLProxyEngine on\n" + body.format(
        port=world["ports"]["undef"], dir=workdir))
    lb.write()
    return lb, subprocess.run(["apache2", "-t", "-f", str(lb.conf)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_files_apache_refuses_are_invalid_config(world, name):
    lb, checked = _checked(world, name, REFUSED[name])
    assert checked.returncode != 0, checked.stderr
    (item,) = lbjudge.read({"apache": lb})["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "Apache refuses" in item["error"]["message"], item


def test_files_apache_takes_are_read(world):
    lb, checked = _checked(world, "taken", TAKEN)
    assert checked.returncode == 0, checked.stderr
    (item,) = lbjudge.read({"apache": lb})["lb_backends"]
    assert item["error"] is None, item
