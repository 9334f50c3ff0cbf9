"""Both modules on every target Python, at the oldest cryptography each module claims.

hack/setup-targets.sh builds one venv per target Python and per requirements-target-<label>.txt at
.venv-targets/<X.Y>-<label>/:
  info-floor   cryptography 3.3.2  (backend_cert_info's floor; cert_chain_verify must refuse it)
  verify-floor cryptography 42.0.0 (cert_chain_verify's floor; both modules work)
Each venv runs one real ansible-playbook (local connection, ansible_python_interpreter = the venv's
python) that collects generated files, a real nginx's served chain and its discovered site, the chains of two
`openssl s_server`s that require a client certificate and get none (TLS 1.2 and 1.3: CLIENT_CERT_REQUIRED, which
the probe reads from the handshake messages its TLS message callback sees), then verifies a batch of valid and
broken chains. The served chain comes from a different code path per
Python: `openssl s_client` on 3.8/3.9, `_ssl._SSLSocket.get_unverified_chain` on 3.10-3.12,
`SSLSocket.get_unverified_chain` on 3.13. A target Python that is not installed skips its venvs
with the interpreter named; one that is installed without its venv fails (run hack/setup.sh).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from testlib import pki
from testlib.ansible_run import COLLECTIONS, ROOT, run_playbook
from testlib.mtls import Material, OpenSSLServer
from testlib.servers import Nginx, ProtocolBackends, free_port

TARGET_PYTHONS = ("3.8", "3.9", "3.10", "3.12", "3.13")  # keep in step with hack/setup-targets.sh
LABELS = ("info-floor", "verify-floor")
VENVS = ROOT / ".venv-targets"
# How _probe.chain_method() reads the served chain on each target Python.
CHAIN_METHOD = {"3.8": "openssl", "3.9": "openssl", "3.10": "private", "3.12": "private", "3.13": "public"}
VERIFY_MIN = (42,)

PLAYBOOK = """
- name: Both modules on one target interpreter
  hosts: all
  gather_facts: false
  tasks:
    - name: Collect generated files, the chain nginx serves and the nginx site
      certops.backend_tls.backend_cert_info:
        paths: ["{{ chain_file }}", "{{ combined_file }}", "{{ der_file }}", "{{ p7b_file }}", "{{ p12_file }}"]
        endpoints:
          - {host: 127.0.0.1, port: "{{ port }}", server_name: target.test}
          - {host: 127.0.0.1, port: "{{ required_tls12_port }}", server_name: backend.test}
          - {host: 127.0.0.1, port: "{{ required_tls13_port }}", server_name: backend.test}
        discover: [{type: nginx, config: "{{ nginx_conf }}"}]
        chain_pem: true
      register: info

    - name: The served chain again, with no openssl binary on PATH
      certops.backend_tls.backend_cert_info:
        endpoints: [{host: 127.0.0.1, port: "{{ port }}", server_name: target.test}]
      environment:
        PATH: /nonexistent
      register: info_no_openssl

    - name: The served chain behind the PROXY protocol (a v2 header first)
      certops.backend_tls.backend_cert_info:
        endpoints: [{host: 127.0.0.1, port: "{{ proxied_port }}", server_name: target.test, proxy_protocol: v2}]
      register: info_proxied

    - name: Verify valid and broken chains in one call
      certops.backend_tls.cert_chain_verify:
        ca_content: "{{ root_pem }}"
        items:
          - {name: served, chain: "{{ info.endpoints[0].chain_pem }}", server_names: [target.test],
             key_path: "{{ key_file }}"}
          - {name: incomplete, chain: "{{ leaf_pem }}", server_names: [target.test]}
          - {name: wrong_name, chain: "{{ chain_pem }}", server_names: [other.test]}
          - {name: expired, chain: "{{ expired_chain_pem }}", server_names: [expired.test]}
          - {name: untrusted, chain: "{{ untrusted_chain_pem }}", server_names: [target.test]}
      register: verdicts
      ignore_errors: true

    - name: Hand the results to the test
      ansible.builtin.copy:
        content: "{{ {'info': info, 'info_no_openssl': info_no_openssl, 'info_proxied': info_proxied,
                      'verdicts': verdicts} | to_json }}"
        dest: "{{ results_file }}"
        mode: "0600"
"""


def _pin(label):
    text = (ROOT / ("requirements-target-%s.txt" % label)).read_text()
    return re.search(r"^cryptography==(\S+)$", text, re.MULTILINE).group(1)


def _version(text):
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _real_interpreter(pyver):
    """The interpreter hack/setup-targets.sh would use (never a pyenv shim), or None."""
    cands = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s.[0-9]*/bin/python%s" % (pyver, pyver))),
                   key=_version, reverse=True)
    for cand in cands + ["/usr/local/bin/python" + pyver, "/usr/bin/python" + pyver]:
        probe = [cand, "-c", "import ssl, venv, ensurepip"]
        if os.access(cand, os.X_OK) and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return cand
    return None


def _target_python(pyver, label):
    venv = VENVS / ("%s-%s" % (pyver, label))
    if not (venv / ".installed").is_file():
        interpreter = _real_interpreter(pyver)
        if interpreter is None:
            pytest.skip("python%s is not installed here (no pyenv %s.x, /usr/bin or /usr/local/bin python%s): "
                        "no target venv %s" % (pyver, pyver, pyver, venv.name))
        pytest.fail("%s is installed but %s is not built: run hack/setup.sh (or hack/setup-targets.sh)"
                    % (interpreter, venv))
    return str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """A CA, files on disk, one real nginx serving leaf + intermediate, and broken chains."""
    tmp = tmp_path_factory.mktemp("targets")
    ca, other = pki.CA("Target"), pki.CA("Elsewhere")
    leaf = ca.leaf("target.test", key=pki.new_key("rsa", 2048))
    combined_leaf = ca.leaf("combined.test")
    expired = ca.leaf("expired.test", days=10, start_days=-40)
    cert = pki.write(tmp / "target.crt", ca.chain_pem(leaf))
    key = pki.write(tmp / "target.key", leaf.key_pem(), mode=0o600)
    combined = pki.write(tmp / "combined.pem", ca.chain_pem(combined_leaf) + combined_leaf.key_pem(), mode=0o600)
    # The binary formats (their loaders came late in cryptography's history: PKCS#7 in 3.1).
    der = pki.write(tmp / "target.der", leaf.der)
    p7b_data = pkcs7.serialize_certificates([leaf.cert, ca.intermediate.cert], serialization.Encoding.DER)
    p7b = pki.write(tmp / "chain.p7b", p7b_data)
    p12_data = pkcs12.serialize_key_and_certificates(b"combined", combined_leaf.key, combined_leaf.cert,
                                                     [ca.intermediate.cert], serialization.NoEncryption())
    p12 = pki.write(tmp / "bundle.p12", p12_data, mode=0o600)
    port = free_port()
    # Two servers that require a client certificate and get none, on TLS 1.2 and 1.3: the probe names that from
    # the handshake messages it watches (its TLS message callback, which each target Python sets and calls in its
    # own way) and keeps the chain they served before refusing.
    refusing = Material(tmp / "mtls")
    with contextlib.ExitStack() as stack:
        nginx = stack.enter_context(Nginx(tmp / "nginx", [{"name": "target", "port": port,
                                                           "server_names": ["target.test"], "cert": cert, "key": key}]))
        required = {version: stack.enter_context(OpenSSLServer(tmp / "mtls", refusing, version=version)).port
                    for version in ("1.2", "1.3")}
        proxied = stack.enter_context(ProtocolBackends(tmp / "proxied", [{
            "name": "proxied", "port": free_port(), "cert": cert, "key": key, "protocols": "TLSv1.2 TLSv1.3",
            "fqdn": "target.test", "proxy_protocol": True}]))
        yield {
            "ca": ca, "leaf": leaf, "combined_leaf": combined_leaf, "refusing": refusing,
            "vars": {"chain_file": cert, "key_file": key, "combined_file": combined, "port": port,
                     "required_tls12_port": required["1.2"], "required_tls13_port": required["1.3"],
                     "proxied_port": proxied.ports[0],
                     "der_file": der, "p7b_file": p7b, "p12_file": p12,
                     "nginx_conf": str(nginx.conf), "root_pem": ca.root_pem, "leaf_pem": leaf.pem,
                     "chain_pem": ca.chain_pem(leaf), "expired_chain_pem": ca.chain_pem(expired),
                     "untrusted_chain_pem": other.chain_pem(other.leaf("target.test")) + other.root_pem},
        }


def _interpreter_facts(python):
    code = ("import sys, json, cryptography\n"
            "from ansible_collections.certops.backend_tls.plugins.module_utils import _probe\n"
            "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'cryptography': cryptography.__version__,"
            " 'chain_method': _probe.chain_method()}))")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _served_chain(pyver, result, warning, leaf_only, full_chain):
    """The one endpoint of a backend_cert_info result: its whole chain where this Python's ssl module reads it, the
    leaf only on 3.8/3.9 (through openssl s_client, which is missing or cannot be used), with a warning saying so."""
    (endpoint,) = result["endpoints"]
    if CHAIN_METHOD[pyver] == "openssl":
        assert endpoint["chain"] == leaf_only, endpoint
        assert any(warning in w for w in result.get("warnings", [])), result
    else:
        assert endpoint["chain"] == full_chain, endpoint
        assert not result.get("warnings"), result
    return endpoint


@pytest.mark.parametrize("pyver,label", [(p, lb) for p in TARGET_PYTHONS for lb in LABELS],
                         ids=["py%s-%s" % (p, lb) for p in TARGET_PYTHONS for lb in LABELS])
def test_both_modules_on_target_python(pyver, label, material, tmp_path):
    python = _target_python(pyver, label)
    facts = _interpreter_facts(python)
    # The venv is what it claims to be (not a stale build), and reads the chain the expected way.
    assert facts == {"python": pyver, "cryptography": _pin(label), "chain_method": CHAIN_METHOD[pyver]}, facts

    inventory = tmp_path / "inventory.ini"
    inventory.write_text("target ansible_connection=local ansible_python_interpreter=%s\n" % python)
    results_file = tmp_path / "results.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    proc = run_playbook(playbook, inventory=inventory,
                        extra_vars=dict(material["vars"], results_file=str(results_file)))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    out = json.loads(results_file.read_text())
    ca, leaf = material["ca"], material["leaf"]
    full_chain = [leaf.fingerprint, ca.intermediate.fingerprint]

    # backend_cert_info: files.
    info = out["info"]
    assert not info.get("failed") and info["summary"]["errors"] == 2, info  # the two refusing servers
    by_fp = {c["fingerprint_sha256"]: c for c in info["certificates"]}
    assert by_fp[leaf.fingerprint]["subject"] == "CN=target.test"
    assert by_fp[leaf.fingerprint]["public_key"] == {"type": "RSA", "size": 2048, "curve": None}
    assert by_fp[leaf.fingerprint]["sans"] == {"dns": ["target.test"], "ip": []}
    assert by_fp[ca.intermediate.fingerprint]["is_ca"] is True
    assert by_fp[leaf.fingerprint]["not_after"] == leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_fp[leaf.fingerprint]["days_remaining"] in (88, 89)  # issued for 90 days, from yesterday
    files = {f["path"]: f for f in info["files"]}
    assert files[material["vars"]["chain_file"]]["chain"] == full_chain
    combined = files[material["vars"]["combined_file"]]
    assert combined["chain"] == [material["combined_leaf"].fingerprint, ca.intermediate.fingerprint]
    assert combined["private_key"]["type"] == "EC" and combined["private_key"]["matches_leaf"] is True
    binary = {fmt: files[material["vars"][fmt + "_file"]] for fmt in ("der", "p7b", "p12")}
    # A PKCS#7 certificate SET is stored sorted (DER), not in chain order: compare it as a set.
    assert {k: (f["format"], sorted(f["chain"]), f["leaf"], f["error"]) for k, f in binary.items()} == {
        "der": ("der", [leaf.fingerprint], leaf.fingerprint, None),
        "p7b": ("pkcs7", sorted(full_chain), leaf.fingerprint, None),
        "p12": ("pkcs12", sorted([material["combined_leaf"].fingerprint, ca.intermediate.fingerprint]),
                material["combined_leaf"].fingerprint, None)}, binary
    assert binary["p12"]["private_key"]["matches_leaf"] is True

    # backend_cert_info: the served chain, in full, by this Python's method.
    (endpoint, *_rest) = [e for e in info["endpoints"] if e["server_name"] == "target.test"]
    assert endpoint["ok"] is True and endpoint["chain"] == full_chain, endpoint
    refused = {e["port"]: e for e in info["endpoints"] if e["server_name"] == "backend.test"}
    assert {(p, e["ok"], e["error"]["code"], e["tls_version"], tuple(e["chain"])) for p, e in refused.items()} == {
        (material["vars"]["required_tls%s_port" % v], False, "CLIENT_CERT_REQUIRED", "TLSv1.%s" % v[-1],
         tuple(material["refusing"].server_chain)) for v in ("12", "13")}, refused
    (site,) = info["sites"]
    assert site["served_matches_disk"] is True and site["key_matches_cert"] is True, site
    # Without openssl on PATH only the ssl-module methods still see the whole chain; 3.8/3.9 fall back
    # to the leaf and say so.
    _served_chain(pyver, out["info_no_openssl"], "served chain", [leaf.fingerprint], full_chain)
    # Behind the PROXY protocol: the header is sent on every Python; the ssl-module methods see the whole chain,
    # 3.8/3.9 the leaf only (openssl s_client sends no header), and say so.
    proxied = _served_chain(pyver, out["info_proxied"], "PROXY protocol", [leaf.fingerprint], full_chain)
    assert proxied["ok"] is True and proxied["proxy_protocol"] == "v2", proxied

    # cert_chain_verify: verdicts on cryptography >= 42, a clear refusal below.
    verdicts = out["verdicts"]
    if _version(_pin(label)) < VERIFY_MIN:
        assert verdicts.get("failed") is True, verdicts
        assert "needs cryptography >= 42.0" in verdicts["msg"] and "found cryptography %s" % _pin(label) in \
            verdicts["msg"], verdicts["msg"]
        return
    assert not verdicts.get("failed"), verdicts
    results = {r["name"]: r for r in verdicts["results"]}
    assert results["served"]["valid"] is True and results["served"]["findings"] == [], results["served"]
    assert [c["fingerprint_sha256"] for c in results["served"]["verified_chain"]] == full_chain + [ca.root.fingerprint]
    codes = {name: sorted({f["code"] for f in r["findings"] if f["severity"] == "error"})
             for name, r in results.items()}
    assert codes == {"served": [], "incomplete": ["INCOMPLETE_CHAIN"], "wrong_name": ["HOSTNAME_MISMATCH"],
                     "expired": ["EXPIRED"], "untrusted": ["UNTRUSTED_ROOT"]}, codes
    assert verdicts["valid"] is False


def test_documented_floors_are_the_tested_pins():
    """_deps, the doc fragment and the target venvs state the same floors."""
    from ansible_collections.certops.backend_tls.plugins.doc_fragments.cryptography_dep import ModuleDocFragment
    from ansible_collections.certops.backend_tls.plugins.module_utils import _deps

    for minimum, label, fragment in ((_deps.MIN_CRYPTOGRAPHY_INFO, "info-floor", ModuleDocFragment.INFO),
                                     (_deps.MIN_CRYPTOGRAPHY_VERIFY, "verify-floor", ModuleDocFragment.VERIFY)):
        assert _version(_pin(label))[:2] == _version(minimum)[:2], (label, _pin(label), minimum)
        assert "cryptography >= %s on the host" % minimum in fragment
        assert "tested with %s on" % _pin(label) in " ".join(fragment.split())
