"""One trust store for a load balancer's CA and CRL settings, against REAL load balancers: HAProxy (`ca-file`,
`crl-file`), nginx (`proxy_ssl_trusted_certificate`, `proxy_ssl_crl`) and Apache (`SSLProxyCACertificateFile` or
`SSLProxyCACertificatePath`, and `SSLProxyCARevocationFile` or `SSLProxyCARevocationPath` under
`SSLProxyCARevocationCheck chain`), each verifying TLS backends on loopback.

OpenSSL does not keep what a load balancer is told to trust apart from the CRLs it is given: a CRL file is loaded
with X509_load_cert_crl_file into the store the CA file went to (HAProxy copies every object of its crl-file store
into the server's), so a certificate in it is trusted; a hashed directory's lookup serves both certificates
(<subject hash>.0) and CRLs (<issuer hash>.r0) whichever directive named it, and the newest CRL of an issuer wins.
A root R, an intermediate I (issued by R) and a leaf issued by I, served as leaf + I by one nginx process on one port
per case (no connection or TLS session reused between cases); O, an unrelated root. Every case checks CRLs:
- root_in_crl_file: the CA file holds O alone, the CRL file R's certificate and current CRLs of I and R (nothing
  revoked); root_not_in_crl_file, its control: the same CRL file without R;
- crl_in_ca_dir (Apache): the CA directory holds R and a newer CRL of I revoking the leaf, the CRL file an older CRL
  of I revoking nothing and R's; no_crl_in_ca_dir, its control: the CA directory without the CRL;
- root_in_crl_dir (Apache): the CA file holds O alone, the CRL directory R and current CRLs of I and R;
  root_not_in_crl_dir, its control: the CRL directory without R;
- certs_only_crl_file: the CRL file holds R's certificate and no CRL, the CA file R and current CRLs of I and R:
  the CA file's CRLs are the store's; certs_only_crl_file_no_crl, its control: the CA file R alone, and no CRL
  anywhere (each load balancer finds none: "unable to get certificate CRL");
- empty_crl_dir_forgiven (Apache): the CRL directory is empty, under `SSLProxyCARevocationCheck chain
  no_crl_for_cert_ok` (no certificate has a CRL: forgiven); empty_crl_dir, its control: without no_crl_for_cert_ok.

What each load balancer says: HAProxy its health check (`option httpchk`) from the stats socket, UP or DOWN; nginx a
proxied request per `location` (200 or 502); Apache a proxied request per case, each in a VirtualHost of its own on a
port of its own (the CA setting is the server's: SSLProxyEngine, SSLProxyVerify require, depth 2, no name check), its
CRL setting in the `<Proxy>` section of the backend (200 or 500). The load balancers' answers are asserted (ACCEPTS,
measured), each case against its control, so the agreement below cannot be vacuous.

For every backend the collection's verdict -- lb_backend_info reads the configuration and probes the backend,
lb_verify_items and cert_chain_verify judge the served chain with the load balancer's anchors and CRLs -- must equal
the load balancer's own, under both profiles: a revoked leaf refused as REVOKED, an untrusted chain as untrusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest
from cryptography.hazmat.primitives import serialization

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, HAProxyLB, KindBackends, NginxLB, _run, free_ports, http_status

NAME = "crl-stores.test"
ROOT = pki.issue("CRL Stores Root CA", ca=True, days=3650)
INTERMEDIATE = pki.issue("CRL Stores Intermediate CA", issuer=ROOT, ca=True, days=1825)
LEAF = pki.issue(NAME, issuer=INTERMEDIATE)
OTHER = pki.issue("CRL Stores Other Root CA", ca=True, days=3650)
FILE_CASES = ("root_in_crl_file", "root_not_in_crl_file", "certs_only_crl_file", "certs_only_crl_file_no_crl")
DIR_CASES = ("crl_in_ca_dir", "no_crl_in_ca_dir", "root_in_crl_dir", "root_not_in_crl_dir",  # Apache only
             "empty_crl_dir_forgiven", "empty_crl_dir")
CASES = [(lb, case) for lb in ("haproxy", "nginx", "apache") for case in FILE_CASES] + [
    ("apache", case) for case in DIR_CASES]
# Measured on HAProxy 2.6, nginx 1.22 and Apache 2.4 with the system OpenSSL (3.0), every load balancer alike:
# case -> accepted
ACCEPTS = {"root_in_crl_file": True, "root_not_in_crl_file": False, "crl_in_ca_dir": False,
           "no_crl_in_ca_dir": True, "root_in_crl_dir": True, "root_not_in_crl_dir": False,
           "certs_only_crl_file": True, "certs_only_crl_file_no_crl": False, "empty_crl_dir_forgiven": True,
           "empty_crl_dir": False}
CONTROLS = {"root_in_crl_file": "root_not_in_crl_file", "crl_in_ca_dir": "no_crl_in_ca_dir",
            "root_in_crl_dir": "root_not_in_crl_dir", "certs_only_crl_file": "certs_only_crl_file_no_crl",
            "empty_crl_dir_forgiven": "empty_crl_dir"}
# the CA file of the HAProxy and nginx cases (a key of `paths`), when not O's
CA_OF = {"certs_only_crl_file": "root_and_crls", "certs_only_crl_file_no_crl": "root"}
# the collection's error for the backend: its load balancer's store has no CRL at all, and every chain is refused
NO_CRL = ("certs_only_crl_file_no_crl", "empty_crl_dir")
# Apache: case -> (the VirtualHost's CA directive, the <Proxy> section's CRL directive), each naming a key of `paths`
APACHE = {"root_in_crl_file": ("SSLProxyCACertificateFile", "other", "SSLProxyCARevocationFile", "root_in_crl_file"),
          "root_not_in_crl_file": ("SSLProxyCACertificateFile", "other", "SSLProxyCARevocationFile",
                                   "root_not_in_crl_file"),
          "crl_in_ca_dir": ("SSLProxyCACertificatePath", "crl_in_ca_dir", "SSLProxyCARevocationFile", "older"),
          "no_crl_in_ca_dir": ("SSLProxyCACertificatePath", "no_crl_in_ca_dir", "SSLProxyCARevocationFile", "older"),
          "root_in_crl_dir": ("SSLProxyCACertificateFile", "other", "SSLProxyCARevocationPath", "root_in_crl_dir"),
          "root_not_in_crl_dir": ("SSLProxyCACertificateFile", "other", "SSLProxyCARevocationPath",
                                  "root_not_in_crl_dir"),
          "certs_only_crl_file": ("SSLProxyCACertificateFile", "root_and_crls", "SSLProxyCARevocationFile",
                                  "certs_only_crl_file"),
          "certs_only_crl_file_no_crl": ("SSLProxyCACertificateFile", "root", "SSLProxyCARevocationFile",
                                         "certs_only_crl_file_no_crl"),
          "empty_crl_dir_forgiven": ("SSLProxyCACertificateFile", "root", "SSLProxyCARevocationPath", "empty_crl_dir"),
          "empty_crl_dir": ("SSLProxyCACertificateFile", "root", "SSLProxyCARevocationPath", "empty_crl_dir")}
CHECKS = {"empty_crl_dir_forgiven": "chain no_crl_for_cert_ok"}  # SSLProxyCARevocationCheck, else chain
FIELDS = {"SSLProxyCACertificateFile": "ca_file", "SSLProxyCACertificatePath": "ca_path",
          "SSLProxyCARevocationFile": "crl_file", "SSLProxyCARevocationPath": "crl_path"}


def _hashed(directory, certificates=(), crls=()):
    """A hashed directory as `openssl rehash` makes one: <subject hash>.0 per certificate, <issuer hash>.r0 per CRL
    (the hashes from the openssl command line, not from the collection), readable by Apache's children (www-data)."""
    directory.mkdir()
    directory.chmod(0o755)
    for text, kind, suffix in [(c.pem, "x509", "0") for c in certificates] + [(pki.crl_pem(c), "crl", "r0")
                                                                              for c in crls]:
        digest = subprocess.run(["openssl", kind, "-hash", "-noout"], input=text, capture_output=True, text=True,
                                check=True).stdout.strip()
        pki.write(directory / ("%s.%s" % (digest, suffix)), text)
    return str(directory)


def _case_of(item):
    """(lb, case) of a backend from its server name (HAProxy) or its location (nginx, Apache)."""
    if item["lb_type"] == "haproxy":
        return ("haproxy", item["server"])
    return (item["lb_type"], item["location"].split()[-1].strip("/"))


def _haproxy_config(ports, paths):
    return lbjudge.haproxy_head() + "\nbackend be_crl_stores\n    option httpchk GET /\n" + "".join(
        "    server %s 127.0.0.1:%d ssl verify required ca-file %s crl-file %s verifyhost %s check\n" % (
            case, ports[("haproxy", case)], paths[CA_OF.get(case, "other")], paths[case], NAME)
        for case in FILE_CASES)


def _nginx_config(lb_port, ports, paths):
    locations = "".join(
        "        location /%s/ {\n            proxy_pass https://127.0.0.1:%d/;\n            proxy_ssl_verify on;\n"
        "            proxy_ssl_trusted_certificate %s;\n            proxy_ssl_crl %s;\n"
        "            proxy_ssl_name %s;\n            proxy_ssl_session_reuse off;\n        }\n" % (
            case, ports[("nginx", case)], paths[CA_OF.get(case, "other")], paths[case], NAME)
        for case in FILE_CASES)
    return "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (lb_port, locations)


def _apache_config(lb_ports, ports, paths):
    """A VirtualHost per case: its CA setting the server's, its CRL setting in the backend's <Proxy> section."""
    hosts = []
    for case, (ca_directive, ca_key, crl_directive, crl_key) in APACHE.items():
        url = "https://127.0.0.1:%d/" % ports[("apache", case)]
        hosts.append(
            "<VirtualHost 127.0.0.1:%d>\n    ServerName %s.lb.test\n    SSLProxyEngine on\n"
            "    SSLProxyVerify require\n    SSLProxyVerifyDepth 2\n    SSLProxyCheckPeerName off\n"
            "    SSLProxyCheckPeerCN off\n    %s %s\n    ProxyPass /%s/ %s\n    <Proxy %s>\n"
            "        SSLProxyCARevocationCheck %s\n        %s %s\n    </Proxy>\n</VirtualHost>\n" % (
                lb_ports[case], case.replace("_", "-"), ca_directive, paths[ca_key], case, url, url,
                CHECKS.get(case, "chain"), crl_directive, paths[crl_key]))
    return "".join(hosts)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "crl-stores")
    cert = pki.write(base / "leaf.crt", LEAF.pem + INTERMEDIATE.pem)
    key = pki.write(base / "leaf.key", LEAF.key_pem(), 0o600)
    int_crl, root_crl = pki.crl(INTERMEDIATE), pki.crl(ROOT)  # current, nothing revoked
    newer, older = pki.crl(INTERMEDIATE, [LEAF], last=-1), pki.crl(INTERMEDIATE, last=-3)
    crls = {"root_in_crl_file": [int_crl, root_crl], "root_not_in_crl_file": [int_crl, root_crl],
            "crl_in_ca_dir": [older, root_crl], "no_crl_in_ca_dir": [older, root_crl],
            "root_in_crl_dir": [int_crl, root_crl], "root_not_in_crl_dir": [int_crl, root_crl],
            "certs_only_crl_file": [int_crl, root_crl], "certs_only_crl_file_no_crl": [],
            "empty_crl_dir_forgiven": [], "empty_crl_dir": []}
    paths = {"other": pki.write(base / "O.pem", OTHER.pem),
             "root_in_crl_file": pki.write(base / "root-and-crls.pem", ROOT.pem + pki.crl_pem(int_crl)
                                           + pki.crl_pem(root_crl)),
             "root_not_in_crl_file": pki.write(base / "crls.pem", pki.crl_pem(int_crl) + pki.crl_pem(root_crl)),
             "older": pki.write(base / "older-crls.pem", pki.crl_pem(older) + pki.crl_pem(root_crl)),
             "root": pki.write(base / "R.pem", ROOT.pem),
             "root_and_crls": pki.write(base / "R-and-crls.pem", ROOT.pem + pki.crl_pem(int_crl)
                                        + pki.crl_pem(root_crl))}
    paths["certs_only_crl_file"] = paths["certs_only_crl_file_no_crl"] = pki.write(base / "R-as-crls.pem", ROOT.pem)
    # Apache's children (www-data when run as root) open a hashed directory at each handshake, long after the parent
    # read the files: the directories live where they can reach them, not under pytest's 0700 base.
    shared = pathlib.Path(tempfile.mkdtemp(prefix="lb-crl-stores-"))
    shared.chmod(0o755)
    paths.update(crl_in_ca_dir=_hashed(shared / "crl_in_ca_dir", [ROOT], [newer]),
                 no_crl_in_ca_dir=_hashed(shared / "no_crl_in_ca_dir", [ROOT]),
                 root_in_crl_dir=_hashed(shared / "root_in_crl_dir", [ROOT], [int_crl, root_crl]),
                 root_not_in_crl_dir=_hashed(shared / "root_not_in_crl_dir", [], [int_crl, root_crl]),
                 empty_crl_dir=_hashed(shared / "empty_crl_dir"))
    picked = free_ports(len(CASES) + 1 + len(APACHE))
    ports = dict(zip(CASES, picked))
    nginx_port, apache_ports = picked[len(CASES)], dict(zip(APACHE, picked[len(CASES) + 1:]))
    haproxy = HAProxyLB(base / "haproxy", _haproxy_config(ports, paths))
    nginx = NginxLB(base / "nginx", nginx_port, _nginx_config(nginx_port, ports, paths))
    nginx.write_config()
    _run(nginx.test_command)
    apache = ApacheLB(base / "apache", list(apache_ports.values()), _apache_config(apache_ports, ports, paths))
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        running.callback(shutil.rmtree, shared, True)
        for server in (KindBackends(base / "backends", {"leaf": list(ports.values())}, {"leaf": (cert, key)}),
                       haproxy, nginx, apache):
            running.enter_context(server)
        yield {"haproxy": haproxy, "nginx": nginx, "apache": apache, "ports": ports, "nginx_port": nginx_port,
               "apache_ports": apache_ports, "paths": paths, "crls": crls}


@pytest.fixture(scope="module")
def said(world):
    """{(lb, case): accepted}, and {(lb, case): raw answer} to show on failure."""
    stat = lbjudge.haproxy_settled(world["haproxy"])
    accepted, raw = {}, {}
    for lb, case in CASES:
        if lb == "haproxy":
            raw[(lb, case)] = stat.get(case)
            accepted[(lb, case)] = bool(raw[(lb, case)]) and raw[(lb, case)][0] == "UP"
            continue
        port = world["nginx_port"] if lb == "nginx" else world["apache_ports"][case]
        raw[(lb, case)] = http_status("http://127.0.0.1:%d/%s/" % (port, case))
        assert raw[(lb, case)] in (200, 500, 502), ((lb, case), raw[(lb, case)])
        accepted[(lb, case)] = raw[(lb, case)] == 200
    return {"accepted": accepted, "raw": raw}


@pytest.fixture(scope="module")
def view(world):
    return lbjudge.read({lb_type: world[lb_type] for lb_type in ("haproxy", "nginx", "apache")})


def _logged_reasons(world):
    """{(lb, case): {(OpenSSL error number, its text, subject)}} that nginx and Apache logged for refusals (nginx's
    without a subject: None; Apache's about the certificate its verification stopped at)."""
    by_port = {port: case for case, port in world["ports"].items()}
    by_path, by_backend_port = lbjudge.logged_verify_errors(world["nginx"], world["apache"])
    out = {("nginx", path): reasons for path, reasons in by_path.items()}
    out.update((by_port[port], reasons) for port, reasons in by_backend_port.items())
    return out


def test_the_load_balancers_mix_ca_and_crl_settings_as_measured(said, world):
    accepted = said["accepted"]
    assert set(accepted) == set(CASES)
    wrong = {case: said["raw"][case] for case in CASES if accepted[case] != ACCEPTS[case[1]]}
    assert not wrong, wrong
    # each case against its control, which lacks one object only: every load balancer tells them apart
    for lb, case in CASES:
        if case in CONTROLS:
            assert accepted[(lb, case)] != accepted[(lb, CONTROLS[case])], (lb, case, said["raw"])
    # the refusals' reasons: HAProxy's check failed in the handshake; Apache stops at the first error (the
    # intermediate's issuer not trusted, the leaf revoked); nginx lets OpenSSL go on and logs its last error (R
    # untrusted, no CRL about I can be used: error 3)
    assert {case: said["raw"][("haproxy", case)][1] for case in FILE_CASES} == {
        "root_in_crl_file": "L7OK", "root_not_in_crl_file": "L6RSP", "certs_only_crl_file": "L7OK",
        "certs_only_crl_file_no_crl": "L6RSP"}, said["raw"]
    time.sleep(0.3)
    untrusted = (20, "unable to get local issuer certificate", "CN=CRL Stores Intermediate CA")
    assert _logged_reasons(world) == {
        ("nginx", "root_not_in_crl_file"): {(3, "unable to get certificate CRL", None)},
        ("apache", "root_not_in_crl_file"): {untrusted}, ("apache", "root_not_in_crl_dir"): {untrusted},
        ("apache", "crl_in_ca_dir"): {(23, "certificate revoked", "CN=" + NAME)},
        # no CRL anywhere: the leaf's issuer has none (Apache's no_crl_for_cert_ok forgives that, and logs nothing)
        ("nginx", "certs_only_crl_file_no_crl"): {(3, "unable to get certificate CRL", None)},
        ("apache", "certs_only_crl_file_no_crl"): {(3, "unable to get certificate CRL", "CN=" + NAME)},
        ("apache", "empty_crl_dir"): {(3, "unable to get certificate CRL", "CN=" + NAME)}}


def _expected_settings(world, lb, case):
    """{lb_backends field: path} of a case's CA and CRL settings."""
    paths = world["paths"]
    if lb != "apache":
        return {"ca_file": paths[CA_OF.get(case, "other")], "ca_path": None, "crl_file": paths[case], "crl_path": None}
    ca_directive, ca_key, crl_directive, crl_key = APACHE[case]
    out = dict.fromkeys(("ca_file", "ca_path", "crl_file", "crl_path"))
    out.update({FIELDS[ca_directive]: paths[ca_key], FIELDS[crl_directive]: paths[crl_key]})
    return out


def _sha256(crl):
    return hashlib.sha256(crl.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_every_backend_is_found_with_its_ca_and_crl_settings(view, world):
    items = {_case_of(item): item for item in view["lb_backends"]}
    assert set(items) == set(CASES), sorted(items)
    described = {c["sha256"] for c in view["crls"]}
    for (lb, case), item in items.items():
        expected = _expected_settings(world, lb, case)
        assert {key: item[key] for key in expected} == expected, ((lb, case), item)
        error = "NOT_A_CRL" if case in NO_CRL else None
        assert (item["crl_check"], (item["error"] or {}).get("code")) == ("chain", error), ((lb, case), item)
        # what the CA setting holds is trusted (the CRL setting's certificates may join it)
        anchor = ROOT if case.endswith("_ca_dir") or case in CA_OF or case.startswith("empty_") else OTHER
        assert anchor.fingerprint in item["ca_fingerprints"], ((lb, case), item)
        # the CRLs of the case's CRL setting are read and described (the CA setting's may join them)
        assert {_sha256(c) for c in world["crls"][case]} <= set(item["crl_fingerprints"]) <= described, (
            (lb, case), item)


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_the_collection_judges_each_backend_as_its_load_balancer_does(said, view, profile):
    """The collection's answer is the load balancer's; a refusal's error codes are the case's reason: REVOKED for
    the leaf revoked by the CA directory's CRL, UNTRUSTED_ROOT for the controls (R trusted nowhere)."""
    verdicts = lbjudge.judged(view, profile)
    wrong = {}
    for index, item in enumerate(view["lb_backends"]):
        case = _case_of(item)
        verdict = verdicts.get(index)  # None: left out of lb_verify_items
        codes = lbjudge.error_codes(verdict) if verdict else None
        accepted = lbjudge.accepted(item, verdict)
        reason = None if accepted else ["REVOKED"] if case[1] == "crl_in_ca_dir" else "NOT_A_CRL" if (
            case[1] in NO_CRL) else ["UNTRUSTED_ROOT"]
        if item["error"]:
            codes = item["error"]["code"]  # left out of lb_verify_items: the backend's own error says why
        if accepted != said["accepted"][case] or (not accepted and codes != reason):
            wrong["%s/%s" % case] = "load balancer %s, collection %s %s%s" % (
                ("refuses", "accepts")[said["accepted"][case]], ("refuses", "accepts")[accepted], codes,
                " (%s)" % item["error"]["code"] if item["error"] else "")
    assert not wrong, "%s:\n%s" % (profile, "\n".join("%s: %s" % pair for pair in sorted(wrong.items())))
