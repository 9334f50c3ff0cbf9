"""backend_cert_info's main(): argument handling, errors, query and check mode, run in-process."""

from __future__ import annotations

import json

import pytest

from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info
from testlib import pki
from testlib.module_runner import run_main


def run(args, expect="exit"):
    return run_main(backend_cert_info.main, args, expect)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    ca = pki.CA("Module")
    leaf = ca.leaf("mod.test")
    path = tmp_path_factory.mktemp("m") / "site.pem"
    pki.write(path, ca.chain_pem(leaf) + leaf.key_pem(), mode=0o600)
    return {"path": str(path), "leaf": leaf, "ca": ca}


def test_collects_a_combined_file_without_key_bytes(bundle):
    result = run({"paths": [bundle["path"]]})
    assert result["changed"] is False
    (entry,) = result["files"]
    assert entry["chain"] == [bundle["leaf"].fingerprint, bundle["ca"].intermediate.fingerprint]
    assert entry["private_key"] == {"present": True, "type": "EC", "encrypted": False, "matches_leaf": True}
    text = json.dumps(result)
    assert "PRIVATE KEY" not in text
    key_body = bundle["leaf"].key_pem().splitlines()[1]
    assert key_body not in text
    assert result["summary"]["certificates"] == 2 and result["summary"]["errors"] == 0


def test_each_file_names_the_file_its_path_leads_to(bundle, tmp_path):
    # files[].realpath: the role finds two sites sharing one file through different paths (certbot's live/ links)
    live = tmp_path / "live"
    live.mkdir()
    (live / "site.pem").symlink_to(bundle["path"])
    missing = str(tmp_path / "gone.pem")
    result = run({"paths": [str(live / "site.pem"), bundle["path"], missing]})
    by_path = {entry["path"]: entry for entry in result["files"]}
    assert by_path[str(live / "site.pem")]["realpath"] == by_path[bundle["path"]]["realpath"] == bundle["path"]
    assert by_path[missing]["realpath"] == missing


@pytest.mark.parametrize("args,chains_as_pem,certificates_carry_pem", [
    ({}, False, True),  # the default: each certificate's PEM once, chains by fingerprint
    ({"chain_pem": True}, True, True),
    ({"chain_pem": True, "include_pem": False}, True, False),
    ({"include_pem": False}, False, False),
])
def test_each_certificate_pem_is_in_a_result_once_unless_asked(bundle, args, chains_as_pem, certificates_carry_pem):
    # The same two certificates in a file and in a second file: a default result holds each PEM once.
    copy = bundle["path"] + ".copy.pem"
    pki.write(copy, bundle["ca"].chain_pem(bundle["leaf"]))
    result = run(dict({"paths": [bundle["path"], copy]}, **args))
    text = json.dumps(result)
    pems = [bundle["leaf"].pem.strip(), bundle["ca"].intermediate.pem.strip()]
    body = [pem.splitlines()[1] for pem in pems]  # a line of each certificate's base64
    expected = (1 if certificates_carry_pem else 0) + (2 if chains_as_pem else 0)
    assert [text.count(line) for line in body] == [expected, expected]
    assert all(("chain_pem" in f) == chains_as_pem for f in result["files"])
    assert all(("pem" in c) == certificates_carry_pem for c in result["certificates"])
    if chains_as_pem:
        assert result["files"][1]["chain_pem"] == [pem + "\n" for pem in pems]


def test_check_mode_returns_the_same(bundle):
    normal = run({"paths": [bundle["path"]], "include_pem": False})
    checked = run({"paths": [bundle["path"]], "include_pem": False, "_ansible_check_mode": True})
    assert checked["files"] == normal["files"] and checked["changed"] is False


def test_query_returns_only_query_result_and_summary(bundle):
    result = run({"paths": [bundle["path"]], "query": "certificates[?is_ca].subject_cn"})
    assert result["query_result"] == ["Module Intermediate CA"]
    assert set(result) - {"invocation"} == {"changed", "query_result", "summary"}


@pytest.mark.parametrize("args,needle", [
    ({}, "one of the following is required"),
    ({"endpoints": [{"port": 443}]}, "needs a host"),
    ({"endpoints": ["a:99999"]}, "between 1 and 65535"),
    ({"discover": [{"type": "nginx", "confg": "/x"}]}, "unknown key confg"),
    ({"discover": [7]}, "expected one of nginx, apache, haproxy"),
    ({"sites": [{"name": "x"}]}, "cert_path"),
    ({"paths": ["/x"], "concurrency": 0}, "must be positive"),
    ({"paths": ["/x"], "query": "certificates[?"}, "invalid query"),
])
def test_bad_arguments(args, needle):
    result = run(args, expect="fail")
    assert needle in result["msg"]


@pytest.mark.parametrize("args,needle", [
    ({"endpoints": ["https://host:443/"]}, "give host:port, not a URL (here: 'host:443')"),
    ({"endpoints": ["::1:8443"]}, "write IPv6 with a port as [::1]:8443"),
    ({"endpoints": [{"host": "a.test", "servername": "b.test"}]},
     "unknown key servername (allowed: host, port, server_name, sni, client_cert, client_key, proxy_protocol, "
     "key_type)"),
    ({"endpoints": [{"host": "a.test", "port": "x"}]}, "port 'x' is not a number"),
    ({"endpoints": [None]}, "neither 'host:port' nor a dict"),
    ({"sites": [{"name": "s", "cert_path": "/x", "endpoint": "https://s.test/"}]}, "give host:port, not a URL"),
    ({"discover": [{"type": "nginx", "confg": "/x"}]},
     "unknown key confg (allowed: type, config, binary); did you mean config (not confg)?"),
    ({"discover": [{"type": "nginx", "config": 5}]}, "config must be a path"),
    ({"paths": ["/etc/ssl/\x00x.pem"]}, "contains a NUL byte"),
    ({"paths": ["/x"], "timeout": 0}, "must be positive"),
    ({"paths": ["/x"], "timeout": "nan"}, "must be positive"),  # NaN passed `<= 0` and crashed the probe
    ({"paths": ["/x"], "timeout": "inf"}, "must be positive"),
    # The role's own keys are not the module's (since 0.2.0): the role passes only what the module uses.
    ({"sites": [{"name": "s", "cert_path": "/x", "source": {"cert": "c.pem"}}]}, "source"),
])
def test_argument_errors_carry_an_error_code(args, needle):
    """Every argument error the module itself finds: a failed task with msg and error.code, no traceback."""
    result = run(args, expect="fail")
    assert needle in result["msg"]
    assert result["error"]["code"] == "INVALID_ARGUMENT" and "exception" not in result
    assert "Traceback" not in result["msg"]


def test_bad_items_do_not_fail_the_task(tmp_path):
    (tmp_path / "junk.pem").write_bytes(b"\x00\x01junk")
    result = run({"paths": [str(tmp_path / "junk.pem"), str(tmp_path / "missing.pem")],
                  "endpoints": ["127.0.0.1:1"], "timeout": 1})
    assert [f["error"]["code"] for f in result["files"]] == ["NOT_A_CERTIFICATE", "NOT_FOUND"]
    assert result["endpoints"][0]["error"]["code"] == "CONNECTION_REFUSED"
    assert result["summary"]["errors"] == 3


def test_discovery_failure_is_reported_not_raised(tmp_path):
    result = run({"discover": [{"type": "apache", "config": str(tmp_path / "none.conf")}]})
    assert result["discovery"][0]["error"]["code"] == "NOT_FOUND" and result["sites"] == []
