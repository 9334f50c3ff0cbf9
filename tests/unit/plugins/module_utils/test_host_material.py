"""The host half of backend_cert_info (_gather.gather, _material) against the whole module (_collect.collect).

describe(gather(...)) must be collect(...) for every kind of file the collection reads: a difference here is a wrong
verdict on a fleet (the role's collect runs this way). Keys must reach the controller as their public half only."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from unit.plugins.module_utils.test_certs import FILES, INT, LEAF, OTHER, RSA_LEAF

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _certs, _collect, _gather, _material
from testlib import faultpeers, pki

NOW = _certs.utcnow()


# The orders of the curves' groups (FIPS 186-4, D.1.2), independent of _material's own copy: the tests below check
# that copy against these and these against cryptography.
_CURVE_ORDERS = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                 "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
    "P-521": int("1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                 "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16),
}


def _key_pem(key, fmt, password=None):
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


PKCS8, TRADITIONAL = serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL
KEYS = {
    "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),
    "rsa3072_e3": rsa.generate_private_key(public_exponent=3, key_size=3072),
    "p256": ec.generate_private_key(ec.SECP256R1()),
    "p384": ec.generate_private_key(ec.SECP384R1()),
    "p521": ec.generate_private_key(ec.SECP521R1()),
}
# read here (the standard library), each format
READ_HERE = {"%s_%s" % (name, label): _key_pem(key, fmt)
             for name, key in KEYS.items() for label, fmt in (("pkcs8", PKCS8), ("traditional", TRADITIONAL))}
READ_HERE["encrypted_pkcs8"] = _key_pem(KEYS["p256"], PKCS8, b"secret")
# left to cryptography on the host
DEFERRED = {
    "secp256k1": _key_pem(ec.generate_private_key(ec.SECP256K1()), PKCS8),
    "ed25519": _key_pem(ed25519.Ed25519PrivateKey.generate(), PKCS8),
    "legacy_encrypted": _key_pem(KEYS["rsa2048"], TRADITIONAL, b"secret"),
    "garbage_rsa": b"-----BEGIN RSA PRIVATE KEY-----\nMAMCAQA=\n-----END RSA PRIVATE KEY-----\n",
}


@pytest.mark.parametrize("name", sorted(READ_HERE))
def test_a_key_read_here_is_what_cryptography_reads(name):
    thin = _material.key_summary(READ_HERE[name])
    assert thin == _certs.private_key_summary(READ_HERE[name])
    if "encrypted" in name:
        assert thin["encrypted"] and thin["_spki"] is None
    else:
        assert thin["type"] in ("RSA", "EC") and thin["_spki"]


@pytest.mark.parametrize("name", sorted(DEFERRED))
def test_a_key_the_standard_library_cannot_read_is_left_to_cryptography(name):
    with pytest.raises(_material.NeedsCryptography):
        _material.key_summary(DEFERRED[name])


def _pem(label, der):
    return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label, _base.base64.encodebytes(der), label)


def _int(value):
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def _odd_keys():
    """Keys cryptography refuses (unreadable private key) whose public half alone would look right: the standard
    library must not read them (a review found each read, 2026-12-05)."""
    tlv = _material.der_tlv
    numbers = KEYS["rsa2048"].private_numbers()
    ints = [0, numbers.public_numbers.n, numbers.public_numbers.e, numbers.d, numbers.p, numbers.q, numbers.dmp1,
            numbers.dmq1, numbers.iqmp]

    def pkcs1(encoded):
        return _pem(b"RSA PRIVATE KEY", tlv(0x30, b"".join(tlv(0x02, value) for value in encoded)))

    nonminimal = [_int(v) for v in ints]
    nonminimal[1] = b"\x00" + nonminimal[1]
    negative_d = [_int(v) for v in ints]
    negative_d[3] = _int(-numbers.d)
    inner = b"".join(tlv(0x02, _int(v)) for v in ints)
    sec1 = KEYS["p256"].private_bytes(serialization.Encoding.DER, TRADITIONAL, serialization.NoEncryption())
    x962, uncompressed = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    mine, other = (k.public_key().public_bytes(x962, uncompressed)
                   for k in (KEYS["p256"], ec.generate_private_key(ec.SECP256R1())))
    parts = _material._sequence(sec1)
    zero = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, b"\x00" * 32) + tlv(0xA0, parts[2][1]) + tlv(0xA1, parts[3][1]))
    rsa_pkcs8 = KEYS["rsa2048"].private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption())
    pkcs8 = _material._sequence(rsa_pkcs8)
    with_public = tlv(0x30, b"".join(tlv(t, c) for t, c in pkcs8) + tlv(0x81, b"\x00junk"))
    p8ec = KEYS["p256"].private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption())
    # P-521, scalar k + n: its point is k * G all the same, and it fits the key's 66 bytes
    small = ec.derive_private_key(12345, ec.SECP521R1())
    p521 = small.private_bytes(serialization.Encoding.DER, TRADITIONAL, serialization.NoEncryption())
    order = _CURVE_ORDERS["P-521"]
    beyond = p521.replace((12345).to_bytes(66, "big"), (12345 + order).to_bytes(66, "big"))
    assert beyond != p521
    return {
        "ec_p521_scalar_beyond_the_order": _pem(b"EC PRIVATE KEY", beyond),
        "rsa_nonminimal_n": pkcs1(nonminimal),
        "rsa_negative_d": pkcs1(negative_d),
        "rsa_long_length": _pem(b"RSA PRIVATE KEY", b"\x30\x84" + len(inner).to_bytes(4, "big") + inner),
        "ec_another_keys_point": _pem(b"EC PRIVATE KEY", sec1.replace(mine, other)),
        "ec_zero_scalar": _pem(b"EC PRIVATE KEY", zero),
        "pkcs8_v0_with_public_key": _pem(b"PRIVATE KEY", with_public),
        "pkcs8_ec_another_keys_point": _pem(b"PRIVATE KEY", p8ec.replace(mine, other)),
        "encrypted_empty_algorithm": _pem(b"ENCRYPTED PRIVATE KEY", tlv(0x30, tlv(0x30, b"") + tlv(0x04, b"x" * 16))),
    }


ODD_KEYS = _odd_keys()


@pytest.mark.parametrize("name", sorted(ODD_KEYS))
def test_a_key_cryptography_refuses_is_left_to_it(name):
    assert _certs.private_key_summary(ODD_KEYS[name]).get("error"), "cryptography reads it: not an odd key"
    with pytest.raises(_material.NeedsCryptography):
        _material.key_summary(ODD_KEYS[name])


def test_an_ec_key_whose_point_is_off_its_curve_is_left_to_cryptography():
    der = bytearray(KEYS["p256"].private_bytes(serialization.Encoding.DER, TRADITIONAL, serialization.NoEncryption()))
    der[-1] ^= 1  # the public point's last byte: no longer on the curve
    pem = b"-----BEGIN EC PRIVATE KEY-----\n" + _base.base64.encodebytes(bytes(der)) + b"-----END EC PRIVATE KEY-----\n"
    with pytest.raises(_material.NeedsCryptography):
        _material.key_summary(pem)


CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


@pytest.mark.parametrize("name", sorted(CURVES))
def test_the_curves_orders_are_the_groups(name):
    """_material's curve constants: G is cryptography's, the order is the standard's, and cryptography takes n - 1
    and refuses n (a P-521 order with three digits too many let scalars beyond it through, 2026-12-05)."""
    curve, order = CURVES[name], _CURVE_ORDERS[name]
    (size, p, _b, n, gx, gy), = [c for c in _material._CURVES.values() if c[0] == curve.key_size]
    assert n == order and n.bit_length() == size
    g = ec.derive_private_key(1, curve).public_key().public_numbers()
    assert (g.x, g.y) == (gx, gy)
    last = ec.derive_private_key(n - 1, curve).public_key().public_numbers()
    assert (last.x, last.y) == (gx, p - gy)  # (n - 1) * G = -G
    with pytest.raises(ValueError):
        ec.derive_private_key(n, curve)


@pytest.mark.parametrize("name", sorted(CURVES))
def test_ec_keys_read_one_after_another_are_what_cryptography_reads(name):
    """A host's first key of a curve is multiplied bit by bit, the next ones by the window table: both give each
    key's point, for scalars at every edge of the windows and of the group."""
    curve, order = CURVES[name], _CURVE_ORDERS[name]
    _material._WINDOWS.clear()
    scalars = [1, 2, 15, 16, 17, 255, 256, 2 ** 64 - 1, order - 1, order - 2, order // 2, order - 16]
    scalars += [int.from_bytes(os.urandom(curve.key_size // 8 + 1), "big") % (order - 1) + 1 for _i in range(12)]
    for scalar in scalars:
        key = ec.derive_private_key(scalar, curve)
        pem = _key_pem(key, TRADITIONAL)
        assert _material.key_summary(pem) == _certs.private_key_summary(pem), scalar
    assert _material._WINDOWS.get(next(o for o, c in _material._CURVES.items() if c[0] == curve.key_size))


# -- the whole result: gather on the host, describe on the controller, against collect

def _extra_files():
    other_key = KEYS["rsa2048"]
    return {
        "sec1_match": LEAF.pem.encode() + _key_pem(LEAF.key, TRADITIONAL),
        "sec1_mismatch": LEAF.pem.encode() + _key_pem(OTHER.key, TRADITIONAL),
        "pkcs1_first": _key_pem(RSA_LEAF.key, TRADITIONAL) + RSA_LEAF.pem.encode() + INT.pem.encode(),
        "pkcs1_mismatch": RSA_LEAF.pem.encode() + _key_pem(other_key, TRADITIONAL),
        "two_keys": LEAF.pem.encode() + _key_pem(LEAF.key, PKCS8) + _key_pem(OTHER.key, PKCS8),
        "ed25519_combined": LEAF.pem.encode() + DEFERRED["ed25519"],
        "legacy_encrypted": RSA_LEAF.pem.encode() + DEFERRED["legacy_encrypted"],
        "key_der": LEAF.key.private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption()),
        "ca_first": INT.pem.encode() + LEAF.pem.encode(),
        "trusted": b"-----BEGIN TRUSTED CERTIFICATE-----\n" + _base.base64.encodebytes(INT.der + b"\x30\x00")
                   + b"-----END TRUSTED CERTIFICATE-----\n",
        "der_trailing": LEAF.der + b"\x00",
    }


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("material")
    (root / "t").mkdir()
    for name, (content, _expect) in FILES.items():
        pki.write(root / "t" / name, content)
    for name, content in _extra_files().items():
        (root / "t" / name).write_bytes(content)
    os.symlink(str(root / "t" / "leaf_first"), str(root / "t" / "zz_link"))
    os.symlink(str(root / "gone"), str(root / "t" / "zz_dangling"))
    os.mkfifo(str(root / "t" / "zz_fifo"))
    return root


def _both(**kwargs):
    whole = _collect.collect(now=NOW, **kwargs)
    host_kwargs = dict((k, v) for k, v in kwargs.items() if k not in ("include_pem", "chain_pem"))
    wire = json.loads(json.dumps(_gather.gather(**host_kwargs)))  # what crosses from the host
    split = _collect.describe(wire, include_pem=kwargs.get("include_pem", True),
                              chain_pem=kwargs.get("chain_pem", False), now=NOW)
    return whole, split, wire


def _timing_free(result):
    for entry in result["endpoints"]:
        entry["handshake_ms"] = entry["elapsed_ms"] = None
    return result


@pytest.mark.parametrize("chain_pem", [False, True])
def test_every_file_kind_describes_as_collect_does(tree, chain_pem):
    whole, split, wire = _both(paths=[str(tree / "t"), str(tree / "missing")], chain_pem=chain_pem)
    assert len(whole["files"]) == len(FILES) + len(_extra_files()) + 4
    assert split == whole
    # every kind of answer was exercised: parsed on the host, raw DER described here, and errors
    kinds = {("raw" if "raw" in w else "error" if w.get("error") else "parsed") for w in wire["files"].values()}
    assert kinds == {"raw", "error", "parsed"}


def test_sites_pair_keys_across_files_as_collect_does(tree):
    t = tree / "t"
    sites = [
        dict(name="split", cert_path=str(t / "leaf_first"), key_path=str(t / "sec1_match"), server_names=["a"]),
        dict(name="split-wrong", cert_path=str(t / "leaf_first"), key_path=str(t / "pkcs1_mismatch")),
        dict(name="combined", cert_path=str(t / "pkcs1_first")),
        dict(name="p12", cert_path=str(t / "p12_key_and_chain"), chain_path=str(t / "p7b_der")),
        dict(name="missing", cert_path=str(tree / "nope.pem"), key_path=str(t / "key_only")),
        dict(name="split", cert_path=str(t / "der"), key_path=str(t / "key_der")),
    ]
    whole, split, _wire = _both(sites=sites)
    assert split == whole
    verdicts = {s["name"]: s["key_matches_cert"] for s in split["sites"]}
    assert verdicts == {"split": True, "split-wrong": False, "combined": True, "p12": True, "missing": None,
                        "split-2": True}


def test_endpoints_describe_as_collect_does(tree):
    chain = LEAF.pem + INT.pem
    with faultpeers.TLSServer(chain, LEAF.key_pem()) as server, faultpeers.ClosedPort() as closed:
        endpoints = ["127.0.0.1:%d" % server.port, {"host": "127.0.0.1", "port": closed.port},
                     {"host": "127.0.0.1", "port": server.port, "server_name": "www.example.test"}]
        sites = [dict(name="served", cert_path=str(tree / "t" / "combined_match"),
                      endpoint="127.0.0.1:%d" % server.port, server_names=["www.example.test"])]
        whole, split, wire = _both(endpoints=endpoints, sites=sites)
    assert _timing_free(split) == _timing_free(whole)
    assert [e["ok"] for e in split["endpoints"]] == [True, False, True]
    assert split["endpoints"][0]["chain"] == [LEAF.fingerprint, INT.fingerprint]
    assert split["sites"][0]["served_matches_disk"] is True
    assert len(wire["ders"]) == len(set(wire["ders"]))  # each certificate crosses once


def test_no_private_key_byte_leaves_the_host(tree):
    _whole, _split, wire = _both(paths=[str(tree / "t")])
    text = json.dumps(wire)
    assert "PRIVATE KEY" not in text
    bodies = [_material.encode(der) for der in (
        LEAF.key.private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption()),
        RSA_LEAF.key.private_bytes(serialization.Encoding.DER, TRADITIONAL, serialization.NoEncryption()))]
    for body in bodies:
        assert body[:40] not in text
    # and the raw DER sent is never a key: the key file in DER was read on the host
    assert "raw" not in wire["files"][str(tree / "t" / "key_der")]


def test_realpaths_are_what_realpath_says(tmp_path, monkeypatch):
    """The host names each file by its real path with one lstat where it can (_gather._realpaths): whatever the
    path, a symlink on the way or at its end, '..', a relative or missing one, it is os.path.realpath's answer."""
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "a.pem").write_text("x")
    (real / "sub" / "b.pem").write_text("x")
    os.symlink(str(real), str(tmp_path / "dirlink"))  # a directory symlink on the way
    os.symlink("a.pem", str(real / "rel.pem"))  # relative file symlink
    os.symlink(str(real / "sub" / "b.pem"), str(real / "abs.pem"))
    os.symlink(str(tmp_path / "gone"), str(real / "dangling.pem"))
    os.symlink("sub", str(real / "sublink"))
    monkeypatch.chdir(tmp_path)
    paths = [str(real / "a.pem"), str(tmp_path / "dirlink" / "a.pem"), str(tmp_path / "dirlink" / "rel.pem"),
             str(real / "abs.pem"), str(real / "dangling.pem"), str(real / "sublink" / "b.pem"),
             str(real / "sublink" / ".." / "a.pem"), str(tmp_path / "dirlink" / "sub" / ".." / "rel.pem"),
             str(real / "missing.pem"), str(tmp_path / "nodir" / "x.pem"), "real/a.pem", "dirlink/sub/b.pem",
             "a.pem", str(real / "sub") + os.sep, str(real / "."), str(real / "sub" / ".."), os.sep]
    realpath = _gather._realpaths()
    for _twice in range(2):  # the second time from its directories' cache
        assert [realpath(p) for p in paths] == [os.path.realpath(p) for p in paths]
    assert realpath(str(real / "sublink" / "b.pem")) == str(real / "sub" / "b.pem")


def test_a_site_path_holding_a_nul_byte_is_not_found_on_every_python(tree):
    """A declared site's file named with a NUL byte (JSON carries one): the file is NOT_FOUND, as read_file says,
    where os.path.realpath raised ValueError first on Python 3.10 and later (a traceback, not a coded error)."""
    bad = str(tree / "t") + "/leaf\x00first"
    whole, split, wire = _both(sites=[dict(name="nul", cert_path=bad)])
    assert split == whole
    assert wire["files"][bad]["error"]["code"] == "NOT_FOUND"
    assert [f["error"]["code"] for f in split["files"]] == ["NOT_FOUND"]
    assert split["files"][0]["realpath"] == bad


def test_der_is_sent_whole_only_when_it_ends_where_the_file_ends(tmp_path):
    """A PKCS#7 chain with a DER key appended (cat chain.p7b key.der) is read on the host: the key stays there."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    key_der = LEAF.key.private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption())
    path = tmp_path / "bundle.p7b"
    path.write_bytes(pkcs7.serialize_certificates([LEAF.cert, INT.cert], serialization.Encoding.DER) + key_der)
    alone = tmp_path / "alone.p7b"
    alone.write_bytes(pkcs7.serialize_certificates([LEAF.cert], serialization.Encoding.DER))
    wire = _gather.gather(paths=[str(path), str(alone)])
    assert "raw" not in wire["files"][str(path)] and "raw" in wire["files"][str(alone)]
    assert _material.encode(key_der)[8:48] not in json.dumps(wire)
    assert not any(key_der in _material.decode(der) for der in wire["ders"])


def test_gather_needs_no_cryptography_for_pem_and_probes(tree, monkeypatch):
    """The host half imports cryptography only for a file that needs it."""
    import sys

    blocked = {}

    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "cryptography" or name.startswith("cryptography."):
                blocked[name] = True
                raise ImportError("no cryptography on this host")

    for name in [n for n in sys.modules if n.startswith("cryptography") or n.endswith("module_utils._certs")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [Finder] + sys.meta_path)
    t = tree / "t"
    wire = _gather.gather(paths=[str(t / "combined_match"), str(t / "pkcs1_first"), str(t / "der")],
                          sites=[dict(name="s", cert_path=str(t / "sec1_match"))])
    assert not blocked and not any(n.startswith("cryptography") for n in sys.modules)
    assert wire["files"][str(t / "combined_match")]["key"]["type"] == "EC"


def test_certificate_key_type_reads_the_public_key_algorithm():
    """The key type of a served leaf, with the standard library (a key-type probe checks it: an Ed25519 certificate
    signs the ECDSA suites too)."""
    from cryptography.hazmat.primitives.asymmetric import ed448

    ca = pki.CA("Key Type")
    for key, kind in ((pki.new_key("rsa"), "RSA"), (pki.new_key(), "EC"), (pki.new_key("ec", 384), "EC"),
                      (ed25519.Ed25519PrivateKey.generate(), "Ed25519"), (ed448.Ed448PrivateKey.generate(), "Ed448")):
        assert _material.certificate_key_type(ca.leaf("a.test", key=key).der) == kind
        assert _material.certificate_key_type(ca.leaf("a.test", key=key).der[:40]) is None
    for junk in (b"", b"\x30\x03\x02\x01\x00", b"\x30\x80" + b"\x00" * 10):
        assert _material.certificate_key_type(junk) is None
