"""backend_cert_info without discover: the host runs backend_cert_material and the certificates are described on the
controller (the action plugin), with the module's result.

Every case is run twice in one playbook run, the second time with `async` (which runs the module as a whole, as
before), and the two registered results are compared whole, but for the probes' timings and async's own keys. -vvv
shows which module ran on the host.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12

from testlib import faultpeers, pki
from testlib.ansible_run import run_playbook

INFO = "certops.backend_tls.backend_cert_info"
HOST_RUN = "AnsiballZ_backend_cert_material.py"
MODULE_RUN = "AnsiballZ_backend_cert_info.py"
ASYNC_KEYS = {"ansible_job_id", "finished", "started", "results_file", "stdout", "stderr", "stdout_lines",
              "stderr_lines"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("oncontroller")
    ca = pki.CA("OnController")
    good = ca.leaf("good.ctl.test")
    rsa_leaf = ca.leaf("rsa.ctl.test", key=pki.new_key("rsa", 2048))
    expired = ca.leaf("old.ctl.test", days=10, start_days=-40)
    other = ca.leaf("other.ctl.test")
    traditional = serialization.PrivateFormat.TraditionalOpenSSL
    (d / "certs").mkdir()
    pki.write(d / "certs" / "good.pem", ca.chain_pem(good))
    pki.write(d / "certs" / "good.key", good.key_pem(), mode=0o600)
    pki.write(d / "certs" / "combined-rsa.pem", rsa_leaf.key.private_bytes(
        serialization.Encoding.PEM, traditional, serialization.NoEncryption()).decode() + ca.chain_pem(rsa_leaf),
        mode=0o600)
    pki.write(d / "certs" / "expired.pem", expired.pem + ca.root.pem + ca.intermediate.pem)
    pki.write(d / "certs" / "wrong-key.pem", other.pem + good.key_pem(), mode=0o600)
    pki.write(d / "certs" / "ed25519.pem", good.pem + ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
        mode=0o600)
    (d / "certs" / "leaf.der").write_bytes(good.der)
    (d / "certs" / "site.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"s", good.key, good.cert, [ca.intermediate.cert], serialization.NoEncryption()))
    pki.write(d / "certs" / "garbage.pem", "not a certificate\n")
    return {"dir": d, "ca": ca, "good": good, "key_texts": [good.key_pem()]}


def _cases(world, served_port, closed_port):
    d = world["dir"] / "certs"
    sites = [
        {"name": "split", "cert_path": str(d / "good.pem"), "key_path": str(d / "good.key"),
         "endpoint": "127.0.0.1:%d" % served_port, "server_names": ["good.ctl.test"]},
        {"name": "combined", "cert_path": str(d / "combined-rsa.pem")},
        {"name": "wrong", "cert_path": str(d / "wrong-key.pem"), "endpoint": "127.0.0.1:%d" % closed_port},
        {"name": "p12", "cert_path": str(d / "site.p12"), "server_type": "haproxy"},
    ]
    return {
        "directory": {"paths": [str(d), str(world["dir"] / "absent")]},
        "directory_chain_pem_no_pem": {"paths": [str(d)], "chain_pem": True, "include_pem": False},
        "sites_and_endpoints": {"sites": sites, "endpoints": [
            "127.0.0.1:%d" % served_port, {"host": "127.0.0.1", "port": served_port, "server_name": "x.ctl.test"}]},
        "query": {"paths": [str(d)], "query": "files[?private_key.matches_leaf == `false`].path"},
        "bad_query": {"paths": [str(d)], "query": "files[?"},
        "unknown_option": {"paths": [str(d)], "bogus": 1},
        "bad_endpoint": {"endpoints": ["https://x.ctl.test/"]},
        "limit": {"paths": [str(d)], "max_file_size": 0},
        "none_of_required": {"timeout": 3},
        "tilde_path": {"paths": ["~/certops-surely-absent.pem"]},
    }


def _run(world, tmp_path, cases, *, as_module):
    tasks = []
    for name, args in cases.items():
        task = {"name": name, INFO: args, "register": "r_" + name, "ignore_errors": True}
        if as_module:
            task.update({"async": 120, "poll": 1})
        tasks.append(task)
    tasks.append({"name": "save", "ansible.builtin.copy": {
        "dest": str(tmp_path / "results.json"), "mode": "0600",
        "content": "{{ %s | to_json }}" % ("{%s}" % ", ".join("'%s': r_%s" % (n, n) for n in cases))}})
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "collect", "hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}]))
    proc = run_playbook(playbook, args=["-vvv"])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc, json.loads((tmp_path / "results.json").read_text())


def _comparable(result):
    out = {k: v for k, v in result.items() if k not in ASYNC_KEYS}
    for entry in out.get("endpoints", []):
        entry["handshake_ms"] = entry["elapsed_ms"] = None
    if out.get("exception") == "(traceback unavailable)":
        del out["exception"]
    return out


def test_described_on_the_controller_as_the_module_describes(world, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with faultpeers.TLSServer(world["ca"].chain_pem(world["good"]), world["good"].key_pem()) as served, \
            faultpeers.ClosedPort() as closed:
        cases = _cases(world, served.port, closed.port)
        split, split_results = _run(world, tmp_path / "a", cases, as_module=False)
        whole, whole_results = _run(world, tmp_path / "b", cases, as_module=True)
    assert HOST_RUN in split.stdout and MODULE_RUN not in split.stdout
    assert MODULE_RUN in whole.stdout and HOST_RUN not in whole.stdout
    for name in cases:
        assert _comparable(split_results[name]) == _comparable(whole_results[name]), name
    # The cases say what they were built to say (so equal results are not equally empty).
    r = split_results
    files = {f["path"].rsplit("/", 1)[-1]: f for f in r["directory"]["files"]}
    assert files["good.key"]["private_key"]["type"] == "EC"
    assert files["combined-rsa.pem"]["private_key"]["matches_leaf"] is True
    assert files["wrong-key.pem"]["private_key"]["matches_leaf"] is False
    assert files["ed25519.pem"]["private_key"]["type"] == "Ed25519"  # read with cryptography on the host
    assert files["site.p12"]["format"] == "pkcs12" and files["site.p12"]["private_key"]["matches_leaf"] is True
    assert files["leaf.der"]["format"] == "der" and files["garbage.pem"]["error"]["code"] == "NOT_A_CERTIFICATE"
    assert files["absent"]["error"]["code"] == "NOT_FOUND"
    assert r["directory"]["summary"]["expired"] == 1
    chained = r["directory_chain_pem_no_pem"]
    assert "pem" not in chained["certificates"][0] and chained["files"][0]["chain_pem"]
    sites = {s["name"]: s for s in r["sites_and_endpoints"]["sites"]}
    assert sites["split"]["key_matches_cert"] and sites["split"]["served_matches_disk"]
    assert sites["combined"]["key_matches_cert"] and sites["wrong"]["key_matches_cert"] is False
    assert sites["wrong"]["error"]["code"] == "CONNECTION_REFUSED" and sites["p12"]["key_matches_cert"]
    assert [e["ok"] for e in r["sites_and_endpoints"]["endpoints"]] == [True, True, True, False]
    assert r["query"]["query_result"] == [str(world["dir"] / "certs" / n) for n in ("ed25519.pem", "wrong-key.pem")]
    assert set(r["query"]) >= {"query_result", "summary"} and "files" not in r["query"]
    for name in ("bad_query", "unknown_option", "bad_endpoint", "limit", "none_of_required"):
        assert r[name]["failed"] and r[name]["msg"], (name, r[name])
    for name in ("bad_query", "unknown_option", "bad_endpoint", "limit"):
        assert r[name]["error"]["code"] == "INVALID_ARGUMENT", (name, r[name])
    assert r["unknown_option"]["msg"].startswith("Unsupported parameters for (%s) module" % INFO)
    # ~ is the host's home, expanded there
    assert r["tilde_path"]["files"][0]["path"].startswith("/") and "~" not in r["tilde_path"]["files"][0]["path"]
    for text in world["key_texts"]:
        body = "".join(text.splitlines()[1:-1])
        assert body[:40] not in json.dumps(r).replace("\\n", "")


def test_check_mode_and_discover(world, tmp_path):
    """Check mode reads as a run does; discover runs the module itself on the host."""
    d = world["dir"] / "certs"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("frontend fe\n    bind 127.0.0.1:1 ssl crt %s\n" % (d / "good.pem"))
    tasks = [
        {"name": "checked", INFO: {"paths": [str(d / "good.pem")]}, "register": "checked", "check_mode": True},
        {"name": "discovered", INFO: {"discover": [{"type": "haproxy", "config": str(cfg)}]}, "register": "found"},
        {"name": "save", "ansible.builtin.copy": {"dest": str(tmp_path / "r.json"), "mode": "0600",
                                                  "content": "{{ {'checked': checked, 'found': found} | to_json }}"}},
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "p", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    proc = run_playbook(playbook, args=["-vvv"])
    assert proc.returncode == 0, proc.stdout[-6000:]
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["checked"]["files"][0]["leaf"] == world["good"].fingerprint and not r["checked"]["changed"]
    assert r["found"]["sites"][0]["server_names"] == ["good.ctl.test"]  # from the certificate, as before
    assert proc.stdout.count(HOST_RUN) >= 1 and proc.stdout.count(MODULE_RUN) >= 1


def test_key_text_where_a_path_belongs(world, tmp_path):
    """Key text given as a path: the module's answer (a NOT_FOUND file, its path withheld), not a failure. The host
    half would mask the text everywhere in what it sends, paths included, so the action runs the module (a review
    found the task failing on the key's mask, 2026-12-05)."""
    key = world["key_texts"][0]
    cases = {"key_as_path": {"sites": [{"name": "s", "cert_path": key}]}}
    proc, results = _run(world, tmp_path, cases, as_module=False)
    r = results["key_as_path"]
    assert not r.get("failed"), r
    assert r["files"][0]["error"]["code"] == "NOT_FOUND"
    assert r["files"][0]["path"] == "(withheld: private key text)"
    body = "".join(key.splitlines()[1:-1])
    assert body[:40] not in proc.stdout + json.dumps(results)
