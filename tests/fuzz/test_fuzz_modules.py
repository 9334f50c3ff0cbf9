"""Property-based fuzzing of both modules' argument handling, main() run in-process as Ansible runs it.

Properties: a module always ends with exit_json or fail_json (JSON with a `msg` when failed), never a
traceback; and when only items are bad (a missing or junk file, a closed port, a broken config, an
unreadable chain) the task does not fail and each bad item carries an `error`.
"""

from __future__ import annotations

import functools
import os
import tempfile

import pytest
from fuzz import fuzzlib
from fuzz.fuzzlib import closed_port, examples, material, run_module, time_limit
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info, cert_chain_verify
from testlib import pki

HANG_SECONDS = 60  # a module run bounded by its timeouts; generous on a shared machine


@pytest.fixture(scope="module")
def world():
    """Real files to point the modules at: a good bundle, junk, a directory, configs, a closed port."""
    with tempfile.TemporaryDirectory(prefix="certops-fuzz-mod-") as tmp, closed_port() as port:
        items = fuzzlib.seeds()
        files = {}
        for name in ("combined", "chain_pem", "leaf_der", "key_pkcs8"):
            files[name] = os.path.join(tmp, name + ".pem")
            with open(files[name], "wb") as handle:
                handle.write(items[name])
        files["junk"] = os.path.join(tmp, "junk.pem")
        with open(files["junk"], "wb") as handle:
            handle.write(b"\x00\x01 not a certificate")
        os.mkdir(os.path.join(tmp, "dir"))
        nginx = os.path.join(tmp, "nginx.conf")
        with open(nginx, "w") as handle:
            handle.write("events {}\nhttp { server { listen 127.0.0.1:%d ssl; server_name n.test;\n"
                         "ssl_certificate %s; ssl_certificate_key /etc/ssl/$ssl_server_name.key; } }\n"
                         % (port, files["junk"]))
        broken = os.path.join(tmp, "broken.conf")
        with open(broken, "w") as handle:
            handle.write("http { server { listen 443 ssl; ssl_certificate " + "{" * 300)
        yield {"tmp": tmp, "files": files, "port": port, "nginx": nginx, "broken": broken}


def _paths(world):
    f = world["files"]
    return st.sampled_from([f["combined"], f["chain_pem"], f["leaf_der"], f["key_pkcs8"], f["junk"],
                            os.path.join(world["tmp"], "missing.pem"), os.path.join(world["tmp"], "dir"),
                            os.path.join(world["tmp"], "*.pem"), world["tmp"], "/nonexistent/**/x",
                            "/proc/self/status", "", "\x00", "a\x00b"])


def _bad_paths(world):
    """Files that exist or not, but are never an argument error: each is a file item with an error."""
    return st.sampled_from([world["files"]["junk"], os.path.join(world["tmp"], "missing.pem"),
                            os.path.join(world["tmp"], "nope", "x.pem")])


def _endpoints(world):
    port = world["port"]
    return st.one_of(
        st.sampled_from(["127.0.0.1:%d" % port, "[::1]:%d" % port, "localhost:%d" % port,
                         {"host": "127.0.0.1", "port": port, "server_name": "x.test"}, "127.0.0.1:0", "host:99999",
                         "", ":", "[", {"port": 443}, {"host": None}, {"host": "127.0.0.1", "port": "x"},
                         {"host": "127.0.0.1", "port": float("inf")}, {"host": "127.0.0.1", "port": [1]}, 7, None,
                         ["a"], {"host": ["x"], "port": 1}]),
        st.text(max_size=20))


def _discover_items(world):
    return st.one_of(
        st.sampled_from(["nginx", "apache", "haproxy", "iis", "", 7, None, {"type": "nginx"},
                         {"type": "nginx", "config": world["nginx"], "binary": "/nonexistent/nginx"},
                         {"type": "nginx", "config": world["broken"]}, {"type": "apache", "config": world["broken"]},
                         {"type": "haproxy", "config": world["nginx"]}, {"type": "haproxy", "config": "\x00"},
                         {"type": "nginx", "confg": "/x"}, {"config": "/x"}, ["nginx"]]),
        st.fixed_dictionaries({"type": st.sampled_from(["nginx", "apache", "haproxy"])},
                              optional={"config": st.text(max_size=20)}))


# No infinity: ansible-core <= 2.19's check_type_int lets OverflowError escape for any `type: int` option
# (fixed upstream, ansible/ansible#87253); that is not this collection's code.
_ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_infinity=False),
                 st.text(max_size=10),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _sites(world):
    return st.fixed_dictionaries(
        {}, optional={"name": st.one_of(st.text(max_size=8), _ANY), "cert_path": _paths(world),
                      "key_path": _paths(world), "chain_path": _paths(world), "endpoint": _endpoints(world),
                      "server_names": st.one_of(st.lists(st.text(max_size=8), max_size=2), _ANY),
                      "server_type": st.sampled_from(["nginx", "apache", "haproxy", "iis"]), "owner": _ANY})


def info_args(world):
    return st.fixed_dictionaries({}, optional={
        "paths": st.one_of(st.lists(_paths(world), max_size=4), _ANY),
        "endpoints": st.one_of(st.lists(_endpoints(world), max_size=3), _ANY),
        "discover": st.one_of(st.lists(_discover_items(world), max_size=2), _ANY),
        "sites": st.one_of(st.lists(_sites(world), max_size=2), _ANY),
        "timeout": st.one_of(st.sampled_from([0.5, 1, 0, -1, "1", "x", None, float("nan")]), _ANY),
        "concurrency": st.one_of(st.sampled_from([1, 4, 0, -1, "2", 10**9]), _ANY),
        "include_pem": st.one_of(st.booleans(), _ANY),
        "max_file_size": st.one_of(st.sampled_from([1, 100, 1048576, 0, -1, "big"]), _ANY),
        "query": st.one_of(st.sampled_from(["summary", "files[].error.code", "certificates[?", "`x`", "", "@",
                                            "sites[?error.code=='DYNAMIC_PATH'].name"]), st.text(max_size=15)),
        "bogus_option": _ANY,
        "_ansible_check_mode": st.booleans(),
    })


def _fast(args):
    """Keep each run short: a bad endpoint is probed against the closed port, bounded by 1 s."""
    args = dict(args)
    if not isinstance(args.get("timeout"), (int, float)) or not 0 < args["timeout"] <= 1:
        args["timeout"] = 1
    return args


@settings(max_examples=examples(30, 2000))
@given(data=st.data())
def test_backend_cert_info_arguments(world, data):
    args = _fast(data.draw(info_args(world)))
    with time_limit(HANG_SECONDS):
        run_module(backend_cert_info.main, args)


@settings(max_examples=examples(20, 1500))
@given(data=st.data())
def test_backend_cert_info_bad_items_do_not_fail(world, data):
    """Only items are bad: every bad file, endpoint and discovery is an item with an error, the task succeeds."""
    port = world["port"]
    paths = data.draw(st.lists(_bad_paths(world), min_size=1, max_size=3))
    endpoints = data.draw(st.lists(st.sampled_from(["127.0.0.1:%d" % port, {"host": "127.0.0.1", "port": port},
                                                    {"host": "127.0.0.1", "port": port, "server_name": "a.test"}]),
                                   max_size=2))
    discover = data.draw(st.lists(st.sampled_from([
        {"type": "nginx", "config": world["nginx"]}, {"type": "nginx", "config": world["broken"]},
        {"type": "apache", "config": world["broken"]}, {"type": "haproxy", "config": "/nonexistent/haproxy.cfg"},
        {"type": "apache", "config": os.path.join(world["tmp"], "dir")}]), max_size=2))
    sites = data.draw(st.lists(st.fixed_dictionaries({
        "name": st.sampled_from(["s1", "s2"]), "cert_path": _bad_paths(world),
        "endpoint": st.just({"host": "127.0.0.1", "port": port})}), max_size=2))
    args = {"paths": paths, "endpoints": endpoints, "discover": discover, "sites": sites, "timeout": 1,
            "include_pem": data.draw(st.booleans())}
    with time_limit(HANG_SECONDS):
        result, failed = run_module(backend_cert_info.main, args)
    assert not failed, result
    assert all(f["error"] for f in result["files"]), result["files"]
    assert all(e["error"] and not e["ok"] for e in result["endpoints"]), result["endpoints"]
    assert all(s["error"] for s in result["sites"]), result["sites"]
    assert len(result["discovery"]) == len(discover)


def _pem_texts():
    return material().map(lambda b: b.decode("ascii", "replace"))


def _chain_texts():
    """Mangled chains without private key blocks: a key in `chain` is an argument error by design."""
    return _pem_texts().map(lambda text: text.replace("PRIVATE KEY", "PRIVATE KEX"))


@functools.lru_cache(maxsize=None)
def _crl_blocks():
    """Real CRLs, made once (a strategy must draw from the same data every time it replays): an intermediate's,
    current, stale and not yet valid, and its root's."""
    ca = pki.CA("FuzzCRL")
    blocks = [pki.crl_pem(pki.crl(issuer, last=last, following=following)).encode()
              for issuer, last, following in ((ca.intermediate, -5, 7), (ca.intermediate, -9, -1),
                                              (ca.intermediate, 2, 9), (ca.root, -1, 30))]
    return tuple(blocks)


@st.composite
def _crl_texts(draw):
    """Real CRLs joined and mutated as `material` mutates certificates: cut, flipped, repeated."""
    data = b"".join(draw(st.lists(st.sampled_from(_crl_blocks()), min_size=1, max_size=3)))
    for op in draw(st.lists(st.sampled_from(fuzzlib.MUTATIONS), max_size=3)):
        data = fuzzlib._apply(data, op, draw)
    return data.decode("ascii", "replace")


def verify_args(world):
    ca, _leaf = fuzzlib.ca_bundle()
    crl_check = st.one_of(st.sampled_from(["none", "leaf", "chain", "Chain", ""]), _ANY)
    chain = st.one_of(_pem_texts(), st.lists(_pem_texts(), max_size=2), _ANY)
    item = st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.text(max_size=5), _ANY), "chain": chain, "path": _paths(world),
        "server_names": st.one_of(st.lists(st.text(max_size=8), max_size=2), _ANY),
        "key_path": _paths(world), "key_content": st.one_of(_pem_texts(), _ANY),
        "intermediates": st.one_of(st.lists(_pem_texts(), max_size=1), _ANY), "unknown": _ANY,
        "crl_check": crl_check, "crl_missing_ok": st.one_of(st.booleans(), _ANY)})
    return st.fixed_dictionaries({}, optional={
        "chain": chain, "path": _paths(world), "items": st.one_of(st.lists(item, max_size=3), _ANY),
        "ca_path": _paths(world), "ca_content": st.one_of(st.just(ca.root_pem), _pem_texts(), _ANY),
        "intermediates": st.one_of(st.lists(_pem_texts(), max_size=2), _ANY),
        "server_names": st.one_of(st.lists(st.sampled_from(["verify.fuzz.test", "1.2.3.4", "", "*", "\u00e9"]),
                                           max_size=2), _ANY),
        "key_path": _paths(world), "key_content": st.one_of(_pem_texts(), _ANY),
        "at": st.one_of(st.sampled_from(["+30d", "-1w", "2026-01-01", "now", "+1y", "99999-01-01", "+9999999999999d"]),
                        st.text(max_size=12), _ANY),
        "min_days_remaining": st.one_of(st.integers(-2, 400), _ANY),
        "min_rsa_bits": st.one_of(st.sampled_from([0, 511, 512, 2048, 10**9]), _ANY),
        "fail_on_invalid": st.one_of(st.booleans(), _ANY),
        "crl_content": st.one_of(_crl_texts(), _pem_texts(), _ANY), "crl_path": _paths(world),
        "crl_check": crl_check, "crl_missing_ok": st.one_of(st.booleans(), _ANY),
    })


@settings(max_examples=examples(30, 2000))
@given(data=st.data())
def test_cert_chain_verify_arguments(world, data):
    args = data.draw(verify_args(world))
    with time_limit(HANG_SECONDS):
        run_module(cert_chain_verify.main, args)


@settings(max_examples=examples(20, 1500))
@given(data=st.data())
def test_cert_chain_verify_bad_items_do_not_fail(world, data):
    """Batch form with only bad items (missing file, junk, mangled chains): results with errors, no failure."""
    ca, _leaf = fuzzlib.ca_bundle()
    bad_item = st.one_of(
        st.builds(lambda p: {"path": p}, _bad_paths(world)),
        st.builds(lambda c: {"chain": c}, _chain_texts()),
        st.builds(lambda c, k: {"chain": c, "key_content": k}, _chain_texts(), _pem_texts()),
        st.builds(lambda p: {"chain": ca.root_pem, "key_path": p}, _bad_paths(world)))
    items = data.draw(st.lists(bad_item, min_size=1, max_size=4))
    with time_limit(HANG_SECONDS):
        result, failed = run_module(cert_chain_verify.main, {"items": items, "ca_content": ca.root_pem})
    assert not failed, result
    assert len(result["results"]) == len(items)
    for item in result["results"]:
        assert isinstance(item["valid"], bool) and isinstance(item["findings"], list)
