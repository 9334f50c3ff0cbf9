"""The module on an old target interpreter: Python 3.9 + cryptography 36 (RHEL 8 / Debian 11-like hosts).

Python 3.9 has no way to read the served chain from the ssl module, so this also exercises the
`openssl s_client -showcerts` fallback against a real nginx.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from testlib import pki
from testlib.ansible_run import ROOT, run_module
from testlib.servers import Nginx, free_port

OLD_PYTHON = ROOT / ".venv-oldtarget" / "bin" / "python"


@pytest.fixture(scope="module")
def old_python():
    if not OLD_PYTHON.exists():
        pytest.fail("no old-target venv: run hack/setup.sh (it builds .venv-oldtarget)")
    info = subprocess.run([str(OLD_PYTHON), "-c", "import sys, cryptography; print(sys.version_info[:2], "
                           "cryptography.__version__)"], capture_output=True, text=True, check=True).stdout
    assert info.startswith("(3, 9)") and " 36." in info, info
    return str(OLD_PYTHON)


def test_old_target_reads_files_and_served_chain(old_python, tmp_path):
    ca = pki.CA("Old")
    leaf = ca.leaf("old.test", key=pki.new_key("rsa", 2048))
    cert = pki.write(tmp_path / "old.crt", ca.chain_pem(leaf))
    key = pki.write(tmp_path / "old.key", leaf.key_pem(), mode=0o600)
    combined = pki.write(tmp_path / "combined.pem", ca.chain_pem(leaf) + leaf.key_pem(), mode=0o600)
    port = free_port()
    with Nginx(tmp_path / "nginx", [{"name": "old", "port": port, "server_names": ["old.test"],
                                     "cert": cert, "key": key}]) as nginx:
        result = run_module("backend_cert_info", {
            "paths": [cert, combined],
            "discover": [{"type": "nginx", "config": str(nginx.conf)}]}, interpreter=old_python)
    assert result.get("failed") is not True, result
    by_fp = {c["fingerprint_sha256"]: c for c in result["certificates"]}
    assert by_fp[leaf.fingerprint]["subject"] == "CN=old.test"
    assert by_fp[leaf.fingerprint]["public_key"] == {"type": "RSA", "size": 2048, "curve": None}
    files = {f["path"]: f for f in result["files"]}
    assert files[combined]["private_key"]["matches_leaf"] is True
    (endpoint,) = result["endpoints"]
    # The full served chain (via openssl s_client), not just the leaf.
    assert endpoint["chain"] == [leaf.fingerprint, ca.intermediate.fingerprint]
    (site,) = result["sites"]
    assert site["served_matches_disk"] is True and site["key_matches_cert"] is True
    assert Path(site["cert_file"]) == Path(cert)
