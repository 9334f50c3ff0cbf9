"""Shared pieces of the fuzz tests: budgets, a hang guard, real seed material, mutations, a module runner."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import signal
import socket

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import strategies as st

from testlib import pki

LONG = os.environ.get("CERTOPS_FUZZ") == "long"


def examples(default, long):
    """max_examples for a test: `default` in `make test`, `long` under CERTOPS_FUZZ=long."""
    return long if LONG else default


class Hang(Exception):
    """A parser ran longer than its bound: for the fuzz tests, a hang is a failure like a crash."""


@contextlib.contextmanager
def time_limit(seconds):
    def alarm(_signum, _frame):
        raise Hang("still running after %s s" % seconds)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- seed material (real, generated)

@functools.lru_cache(maxsize=None)
def seeds():
    """Real certificates and keys in every form the collection reads: name -> bytes."""
    ca = pki.CA("Fuzz")
    leaf = ca.leaf("fuzz.test")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_leaf = pki.issue("rsa.fuzz.test", issuer=ca.intermediate, key=rsa_key)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    trad = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())
    return {
        "leaf_pem": leaf.pem.encode(),
        "leaf_der": leaf.der,
        "chain_pem": ca.chain_pem(leaf).encode(),
        "root_pem": ca.root_pem.encode(),
        "combined": (ca.chain_pem(leaf) + leaf.key_pem()).encode(),
        "rsa_combined": (rsa_leaf.pem + trad.decode()).encode(),
        "key_pkcs8": leaf.key_pem().encode(),
        "key_encrypted": leaf.key_pem(password=b"secret").encode(),
        "key_rsa_trad": trad,
        "key_der": leaf.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()),
        "key_ed25519": ed_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()),
    }


@functools.lru_cache(maxsize=None)
def ca_bundle():
    """(CA, leaf) whose root is the trust anchor in the verify targets."""
    ca = pki.CA("FuzzVerify")
    return ca, ca.leaf("verify.fuzz.test")


_LABELS = [b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE", b"PRIVATE KEY", b"RSA PRIVATE KEY",
           b"EC PRIVATE KEY", b"DSA PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"OPENSSH PRIVATE KEY", b"PUBLIC KEY",
           b"", b" ", b"A" * 200]


def _apply(data, op, draw):
    n = len(data)
    pos = draw(st.integers(0, n)) if n else 0
    if op == "flip" and n:
        i = min(pos, n - 1)
        return data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1:]
    if op == "truncate":
        return data[:pos]
    if op == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=16)) + data[pos:]
    if op == "delete":
        return data[:pos] + data[pos + draw(st.integers(1, 64)):]
    if op == "duplicate":
        return data[:pos] + data[pos:pos + draw(st.integers(1, 400))] + data[pos:]
    if op == "relabel":  # BEGIN/END labels swapped, mismatched or odd
        old = draw(st.sampled_from([b"BEGIN ", b"END "]))
        return data.replace(old + draw(st.sampled_from(_LABELS[:8])), old + draw(st.sampled_from(_LABELS)), 1)
    if op == "huge_label":
        return data[:pos] + b"-----BEGIN " + b"X" * draw(st.integers(1, 100000)) + b"-----\n" + data[pos:]
    if op == "crlf":
        return data.replace(b"\n", b"\r\n")
    if op == "nul":
        return data[:pos] + b"\x00" + data[pos:]
    if op == "bad_base64":
        return data[:pos] + draw(st.sampled_from([b"!", b"=", b"==", b"\xff", b"-", b" ", b"*"])) + data[pos:]
    if op == "unterminated":
        return data + b"-----BEGIN CERTIFICATE-----\n" + data[:pos]
    if op == "begin_storm":
        return b"-----BEGIN CERTIFICATE-----\n" * draw(st.integers(1, 200)) + data  # more: test_fuzz_regressions
    if op == "der_length":  # a DER length byte that lies
        i = min(draw(st.integers(1, 4)), max(n - 1, 0))
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:] if n else data
    return data


MUTATIONS = ["flip", "truncate", "insert", "delete", "duplicate", "relabel", "huge_label", "crlf", "nul",
             "bad_base64", "unterminated", "begin_storm", "der_length"]


@st.composite
def material(draw):
    """Structured but hostile certificate material: real seeds, concatenated and mutated."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=4096))
    items = seeds()
    names = draw(st.lists(st.sampled_from(sorted(items)), min_size=1, max_size=4))
    data = draw(st.sampled_from([b"", b"\n", b"\r\n", b"junk\n"])).join(items[name] for name in names)
    for op in draw(st.lists(st.sampled_from(MUTATIONS), max_size=4)):
        data = _apply(data, op, draw)
    return data


# ---------------------------------------------------------------- modules in-process

def run_module(main, args):
    """(result, failed) of a module's main() run as Ansible runs it; any exception but SystemExit escapes."""
    from ansible.module_utils.testing import patch_module_args

    out = io.StringIO()
    code = None
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        else:
            raise AssertionError("main() returned without exit_json/fail_json")
    text = out.getvalue()
    result = json.loads(text)  # a traceback would not be JSON
    failed = bool(result.get("failed")) or code not in (0, None)
    if failed:
        assert isinstance(result.get("msg"), str) and result["msg"], result
        assert "Traceback" not in result["msg"], result["msg"]
    return result, failed


@contextlib.contextmanager
def closed_port():
    """A loopback port that refuses connections: bound (so nobody else takes it) but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
