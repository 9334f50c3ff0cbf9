"""Run x509-limbo cases through the collection's verification and through the raw verifier."""

from __future__ import annotations

import datetime
import ipaddress
import json
import subprocess
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.x509 import verification

from ansible_collections.certops.backend_tls.plugins.module_utils import _verify
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

DATA = Path(__file__).with_name("server-subset.json")


def cases():
    return json.loads(DATA.read_text())["testcases"]


def _time(case):
    if case["validation_time"]:
        return datetime.datetime.fromisoformat(case["validation_time"].replace("Z", "+00:00"))
    return None


def _verdict(case, make_verifier):
    """SUCCESS/FAILURE (+ the error codes) of the Verifier make_verifier() builds, on one case."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verifier = None
        try:
            verifier = make_verifier()
            chain = _verify.load_pem_list(case["peer_certificate"], what="peer")
            extra = _verify.load_pem_list(case["untrusted_intermediates"], what="intermediates") \
                if case["untrusted_intermediates"] else []
            result = verifier.verify(chain, server_names=[case["expected_peer_name"]["value"]], intermediates=extra)
        except CertError as exc:
            return "FAILURE", [exc.code]
        finally:
            if verifier is not None:
                _verify.close_verifier(verifier)
    return ("SUCCESS" if result["valid"] else "FAILURE"), sorted({f["code"] for f in result["findings"]
                                                                  if f["severity"] == "error"})


def ours(case, strict=_verify.STRICT_RULES):
    """SUCCESS/FAILURE from the collection's Verifier, profile webpki (+ the codes it found)."""
    return _verdict(case, lambda: _verify.Verifier(
        _verify.load_anchors(ca_content="".join(case["trusted_certs"])), at=_time(case), strict=strict,
        max_chain_depth=case.get("max_chain_depth")))


def raw(case):
    """SUCCESS/FAILURE from cryptography's verifier alone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            store = verification.Store([x509.load_pem_x509_certificate(p.encode()) for p in case["trusted_certs"]])
            builder = verification.PolicyBuilder().store(store)
            if _time(case):
                builder = builder.time(_time(case))
            if case.get("max_chain_depth") is not None:
                builder = builder.max_chain_depth(case["max_chain_depth"])
            peer = case["expected_peer_name"]
            subject = (verification.DNSName(peer["value"]) if peer["kind"] == "DNS"
                       else verification.IPAddress(ipaddress.ip_address(peer["value"])))
            builder.build_server_verifier(subject).verify(
                x509.load_pem_x509_certificate(case["peer_certificate"].encode()),
                [x509.load_pem_x509_certificate(p.encode()) for p in case["untrusted_intermediates"]])
            return "SUCCESS"
        except Exception:
            return "FAILURE"


def disagreements(verdict):
    out = {}
    for case in cases():
        got = verdict(case)
        got = got[0] if isinstance(got, tuple) else got
        if got != case["expected_result"]:
            out[case["id"]] = got
    return out


def ours_openssl(case):
    """SUCCESS/FAILURE from the collection's Verifier under profile openssl (+ the error codes)."""
    return _verdict(case, lambda: _verify.build_verifier(ca_content="".join(case["trusted_certs"]),
                                                         at=case["validation_time"], profile="openssl"))


def openssl_cli(case, workdir):
    """SUCCESS/FAILURE from the real `openssl verify`, with the settings of an OpenSSL-based load balancer."""
    def write(name, pems):
        path = Path(workdir) / name
        path.write_text("".join(pems))
        return str(path)

    command = ["openssl", "verify", "-purpose", "sslserver", "-auth_level", "2", "-no-CApath", "-no-CAstore",
               "-CAfile", write("ca.pem", case["trusted_certs"])]
    if case["untrusted_intermediates"]:
        command += ["-untrusted", write("untrusted.pem", case["untrusted_intermediates"])]
    peer = case["expected_peer_name"]
    command += ["-verify_ip" if peer["kind"] == "IP" else "-verify_hostname", peer["value"]]
    if _time(case):
        command += ["-attime", str(int(_time(case).timestamp()))]
    proc = subprocess.run(command + [write("leaf.pem", [case["peer_certificate"]])], capture_output=True, text=True,
                          check=False)
    return "SUCCESS" if proc.returncode == 0 else "FAILURE"
