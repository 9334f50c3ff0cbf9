"""Certificate revocation lists against REAL load balancers: HAProxy (`crl-file`), nginx (`proxy_ssl_crl`) and Apache
(`SSLProxyCARevocationFile` under each `SSLProxyCARevocationCheck` mode), each verifying TLS backends on loopback.

A root R and an intermediate I (issued by R); one leaf issued by I, served as leaf + I by one nginx process on one
port per (load balancer, mode, case), so no load balancer reuses a connection or a TLS session between cases. Every
load balancer trusts R alone and is given, per case, a CRL file built here (cryptography's CRL builder, signed by
the issuing CA's key): I's CRL (about leaves) and R's CRL (about I).
- fresh: I's CRL + R's CRL, both current, nothing revoked;
- revoked: the leaf's serial in I's CRL;
- stale: I's CRL past its nextUpdate (R's current);
- leafonly: I's CRL alone, no CRL from R about I: a load balancer checking the whole chain lacks one (OpenSSL's
  error 3, unable to get certificate CRL), one checking only the leaf does not;
- revoked_int: I's serial in R's CRL;
- nocrl: no CRL configured at all (the control).

What each load balancer says:
- HAProxy 2.6: a server per case (`ssl verify required ca-file R.pem crl-file <file> verifyhost <name> check`,
  `option httpchk`): its health check status from the stats socket, UP or DOWN.
- nginx 1.22: a `location` per case (`proxy_ssl_verify on`, `proxy_ssl_trusted_certificate R.pem`,
  `proxy_ssl_crl <file>`, `proxy_ssl_name <name>`): 200, or 502.
- Apache 2.4: one virtual host (`SSLProxyVerify require`, `SSLProxyVerifyDepth 2`, no name check: the name is not
  under test) with a `ProxyPass` per (mode, case) and a `<Proxy>` section for it holding `SSLProxyCARevocationCheck`
  (chain, leaf, `chain no_crl_for_cert_ok`, none) and `SSLProxyCARevocationFile`: 200, or 500. Apache's nocrl has
  no mode: a check mode without a CRL file stops Apache from starting (AH01899, though `apache2 -t` passes it).
The load balancers' own answers are asserted (the table in _accepts, measured), with the reason each refusal was
logged for, so the agreement below cannot be vacuous: the cases tell the modes apart.

For every case the collection's verdict -- lb_backend_info reads the configuration (the CRL files, the mode) and
probes the backend, lb_verify_items and cert_chain_verify judge the served chain with the load balancer's anchors and
CRLs -- must equal the load balancer's own, under both profiles, each refusal with its code: REVOKED, CRL_EXPIRED,
CRL_MISSING.
"""

from __future__ import annotations

import contextlib
import hashlib
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, HAProxyLB, KindBackends, NginxLB, _run, free_ports, http_status

NAME = "crl.test"
ROOT = pki.issue("CRL Root CA", ca=True, days=3650)
INTERMEDIATE = pki.issue("CRL Intermediate CA", issuer=ROOT, ca=True, days=1825)
LEAF = pki.issue(NAME, issuer=INTERMEDIATE)
CRL_CASES = ("fresh", "revoked", "stale", "leafonly", "revoked_int")
# Apache's modes: label -> SSLProxyCARevocationCheck's arguments
APACHE_MODES = {"chain": "chain", "leaf": "leaf", "chainok": "chain no_crl_for_cert_ok", "none": "none"}
# (load balancer, Apache mode or None, case); HAProxy and nginx have no mode: a CRL file given is checked as it is.
CASES = ([("haproxy", None, c) for c in CRL_CASES + ("nocrl",)] + [("nginx", None, c) for c in CRL_CASES + ("nocrl",)]
         + [("apache", m, c) for m in APACHE_MODES for c in CRL_CASES] + [("apache", None, "nocrl")])
# case -> (OpenSSL's error, its text, the certificate it is about) for a refusal
REASONS = {"revoked": (23, "certificate revoked", "leaf"), "revoked_int": (23, "certificate revoked", "intermediate"),
           "stale": (12, "CRL has expired", "leaf"), "leafonly": (3, "unable to get certificate CRL", "intermediate")}
SUBJECTS = {"leaf": "CN=" + NAME, "intermediate": "CN=CRL Intermediate CA"}
CODES = {"revoked": "REVOKED", "revoked_int": "REVOKED", "stale": "CRL_EXPIRED", "leafonly": "CRL_MISSING"}
REVOCATION_CODES = {"REVOKED", "CRL_MISSING", "CRL_EXPIRED", "CRL_INVALID"}


def _accepts(lb, mode, case):
    """What each load balancer does (measured on HAProxy 2.6, nginx 1.22 and Apache 2.4 with OpenSSL 3.0): HAProxy
    and nginx given a CRL file check the whole chain (OpenSSL's CRL_CHECK | CRL_CHECK_ALL), so a chain without a
    CRL for each of its certificates is refused as well as a revoked or stale one. Apache does what its mode says:
    chain as they do; leaf checks only the leaf's CRL (a revoked intermediate passes); `chain no_crl_for_cert_ok`
    checks the chain but lets a certificate without a CRL pass; none checks nothing. A stale CRL is refused by all
    that read it."""
    if case in ("fresh", "nocrl") or mode == "none":
        return True
    if case in ("revoked", "stale"):
        return False
    if case == "leafonly":
        return mode in ("leaf", "chainok")
    return mode == "leaf"  # revoked_int


def _label(lb, mode, case):
    """The name a case goes by: HAProxy's server, nginx's location, Apache's location (`/chain-fresh/`)."""
    return case if lb != "apache" else "%s-%s" % (mode or "unset", case)


def _case_of(item):
    """(lb, mode, case) of a backend from its server name (HAProxy) or location (nginx, Apache)."""
    if item["lb_type"] == "haproxy":
        return ("haproxy", None, item["server"])
    path = item["location"].split()[-1].strip("/")
    if item["lb_type"] == "nginx":
        return ("nginx", None, path)
    mode, case = path.split("-", 1)
    return ("apache", None if mode == "unset" else mode, case)


def _crl(issuer, revoked=(), *, last=-1, following=7):
    """A CRL signed by issuer: revoked serials, lastUpdate and nextUpdate in days from now."""
    return pki.crl(issuer, revoked, last=last, following=following)


def _case_crls():
    """case -> [CRL] in the order its file holds them."""
    int_crl, root_crl = _crl(INTERMEDIATE), _crl(ROOT)
    return {
        "fresh": [int_crl, root_crl],
        "revoked": [_crl(INTERMEDIATE, [LEAF.cert.serial_number]), root_crl],
        "stale": [_crl(INTERMEDIATE, last=-10, following=-1), root_crl],
        "leafonly": [int_crl],
        "revoked_int": [int_crl, _crl(ROOT, [INTERMEDIATE.cert.serial_number])],
    }


def _haproxy_config(ports, ca_file, crl_files):
    servers = "".join("    server %s 127.0.0.1:%d ssl verify required ca-file %s%s verifyhost %s check\n" % (
        case, ports[("haproxy", None, case)], ca_file,
        " crl-file %s" % crl_files[case] if case in crl_files else "", NAME)
        for lb, _mode, case in CASES if lb == "haproxy")
    return ("global\n    stats socket @SOCKET@ mode 600 level admin\n\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            "    default-server inter 400ms fall 1 rise 1\n\n"
            "backend be_crl\n    option httpchk GET /\n%s" % servers)


def _nginx_config(lb_port, ports, ca_file, crl_files):
    locations = "".join(
        "        location /%s/ {\n%s            proxy_pass https://127.0.0.1:%d/;\n        }\n" % (
            case, "            proxy_ssl_crl %s;\n" % crl_files[case] if case in crl_files else "",
            ports[("nginx", None, case)])
        for lb, _mode, case in CASES if lb == "nginx")
    return ("    proxy_ssl_verify on;\n    proxy_ssl_trusted_certificate %s;\n    proxy_ssl_name %s;\n"
            "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (ca_file, NAME, lb_port, locations))


def _apache_config(lb_port, ports, ca_file, crl_files):
    passes = []
    for case in CASES:
        lb, mode, name = case
        if lb != "apache":
            continue
        url = "https://127.0.0.1:%d/" % ports[case]
        passes.append("    ProxyPass /%s/ %s\n" % (_label(*case), url))
        if mode is not None:
            passes.append("    <Proxy %s>\n        SSLProxyCARevocationCheck %s\n"
                          "        SSLProxyCARevocationFile %s\n    </Proxy>\n" % (url, APACHE_MODES[mode],
                                                                                   crl_files[name]))
    return ("SSLProxyCACertificateFile %s\n<VirtualHost 127.0.0.1:%d>\n    ServerName crl.lb.test\n"
            "    SSLProxyEngine on\n    SSLProxyVerify require\n    SSLProxyVerifyDepth 2\n"
            "    SSLProxyCheckPeerName off\n    SSLProxyCheckPeerCN off\n%s</VirtualHost>\n" % (
                ca_file, lb_port, "".join(passes)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "crl")
    cert = pki.write(base / "leaf.crt", LEAF.pem + INTERMEDIATE.pem)
    key = pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    ca_file = pki.write(base / "R.pem", ROOT.pem)
    crls = _case_crls()
    crl_files = {case: pki.write(base / ("%s.crl.pem" % case), "".join(
        c.public_bytes(serialization.Encoding.PEM).decode() for c in file_crls)) for case, file_crls in crls.items()}
    picked = free_ports(len(CASES) + 2)
    ports = dict(zip(CASES, picked))
    lb_ports = {"nginx": picked[-2], "apache": picked[-1]}
    haproxy = HAProxyLB(base / "haproxy", _haproxy_config(ports, ca_file, crl_files))
    nginx = NginxLB(base / "nginx", lb_ports["nginx"], _nginx_config(lb_ports["nginx"], ports, ca_file, crl_files))
    nginx.write_config()
    _run(nginx.test_command)
    apache_config = _apache_config(lb_ports["apache"], ports, ca_file, crl_files)
    apache = ApacheLB(base / "apache", [lb_ports["apache"]], apache_config)
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (KindBackends(base / "backends", {"leaf": list(ports.values())}, {"leaf": (cert, key)}),
                       haproxy, nginx, apache):
            running.enter_context(server)
        yield {"haproxy": haproxy, "nginx": nginx, "apache": apache, "lb_ports": lb_ports, "ports": ports,
               "crls": crls, "crl_files": crl_files}


@pytest.fixture(scope="module")
def said(world):
    """{(lb, mode, case): accepted}: each load balancer's own answer, and {case: raw answer} to show on failure."""
    stat = lbjudge.haproxy_settled(world["haproxy"])
    out, raw = {}, {}
    for case in CASES:
        lb = case[0]
        if lb == "haproxy":
            raw[case] = stat.get(case[2])
            out[case] = bool(raw[case]) and raw[case][0] == "UP"
            continue
        raw[case] = http_status("http://127.0.0.1:%d/%s/" % (world["lb_ports"][lb], _label(*case)))
        assert raw[case] in (200, 500, 502), (case, raw[case])
        out[case] = raw[case] == 200
    return {"accepted": out, "raw": raw}


@pytest.fixture(scope="module")
def view(world):
    return lbjudge.read({lb_type: world[lb_type] for lb_type in ("haproxy", "nginx", "apache")})


def _sha256(crl):
    return hashlib.sha256(crl.public_bytes(serialization.Encoding.DER)).hexdigest()


def _logged_reasons(world):
    """{(lb, mode, case): {(OpenSSL error number, its text, subject)}} that nginx and Apache logged for refusals
    (lbjudge.logged_verify_errors: nginx's without a subject, None; Apache's about the certificate it names)."""
    by_port = {port: case for case, port in world["ports"].items()}
    by_path, by_backend_port = lbjudge.logged_verify_errors(world["nginx"], world["apache"])
    out = {("nginx", None, path): reasons for path, reasons in by_path.items()}
    out.update((by_port[port], reasons) for port, reasons in by_backend_port.items())
    return out


def test_the_load_balancers_treat_crls_as_measured(said, world):
    """The table this file stands on (_accepts), and why each refusal was made, as nginx and Apache logged it."""
    accepted = said["accepted"]
    assert set(accepted) == set(CASES)
    wrong = {case: said["raw"][case] for case in CASES if accepted[case] != _accepts(*case)}
    assert not wrong, wrong
    # the cases tell the modes apart: the comparison with the collection cannot be vacuous
    assert not accepted[("haproxy", None, "leafonly")] and not accepted[("nginx", None, "leafonly")]
    assert not accepted[("apache", "chain", "leafonly")] and accepted[("apache", "chainok", "leafonly")]
    assert accepted[("apache", "leaf", "revoked_int")] and not accepted[("apache", "chainok", "revoked_int")]
    assert accepted[("apache", "none", "revoked")] and not accepted[("apache", "leaf", "revoked")]
    # the reasons: each refusal by nginx and Apache was for the OpenSSL error built into its case
    time.sleep(0.3)
    reasons = _logged_reasons(world)
    refused = {case for case in CASES if case[0] != "haproxy" and not accepted[case]}
    expected = {case: {REASONS[case[2]][:2] + (SUBJECTS[REASONS[case[2]][2]] if case[0] == "apache" else None,)}
                for case in refused}
    assert {case: reasons.get(case) for case in refused} == expected


def test_every_backend_is_found_with_its_crl(view, world):
    items = {_case_of(item): item for item in view["lb_backends"]}
    assert set(items) == set(CASES)
    for case, item in items.items():
        lb, mode, name = case
        crls = world["crls"].get(name, [])
        check = ("chain" if crls else "none") if lb != "apache" else {None: "none", "chainok": "chain"}.get(mode, mode)
        missing_ok = mode == "chainok"
        assert (item["crl_file"], item["crl_path"]) == (world["crl_files"].get(name), None), (case, item)
        assert (item["crl_check"], item["crl_missing_ok"]) == (check, missing_ok), (case, item)
        # by content, as ca_fingerprints: None when no CRL is configured
        assert item["crl_fingerprints"] == ([_sha256(c) for c in crls] if crls else None), (case, item)
        options = item["verify_options"]
        assert (options["crl_check"], options["crl_missing_ok"]) == (check, missing_ok), (case, options)
    # every CRL read is described once, by its content: public data only
    built = {_sha256(c): c for crls in world["crls"].values() for c in crls}
    described = {c["sha256"]: c for c in view["crls"]}
    assert len(described) == len(view["crls"]) and set(described) == set(built), view["crls"]
    for sha256, crl in built.items():
        facts = described[sha256]
        assert (facts["issuer"], facts["revoked"]) == (crl.issuer.rfc4514_string(), len(crl)), facts
        assert facts["next_update"].startswith(crl.next_update_utc.strftime("%Y-%m-%dT%H:%M:%S")), facts
        assert facts["last_update"].startswith(crl.last_update_utc.strftime("%Y-%m-%dT%H:%M:%S")), facts
        assert x509.load_pem_x509_crl(facts["pem"].encode()).public_bytes(serialization.Encoding.DER) == \
            crl.public_bytes(serialization.Encoding.DER), facts


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_the_collection_judges_revocation_as_each_load_balancer_does(said, view, profile):
    accepted = said["accepted"]
    verdicts = lbjudge.verdicts(view, profile, _case_of)
    assert set(verdicts) == set(CASES)
    disagree = {case: (accepted[case], verdicts[case]) for case in CASES if verdicts[case][0] != accepted[case]}
    assert not disagree, disagree
    for case in CASES:
        valid, codes = verdicts[case]
        if not valid:
            expected = CODES[case[2]]
            assert expected in codes and not (set(codes) & REVOCATION_CODES) - {expected}, (case, verdicts[case])
